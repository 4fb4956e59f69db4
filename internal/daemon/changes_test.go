package daemon_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/omtest"
	"omsecrets/resolver"
)

// notifying is a store that reports changes (resolver.ChangeNotifier),
// as the Kubernetes store's watches do.
type notifying struct {
	resolver.Getter
	mu sync.Mutex
	fn func([]string)
}

func (n *notifying) Notify(fn func([]string)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.fn = fn
}

func (n *notifying) change(ids ...string) {
	n.mu.Lock()
	fn := n.fn
	n.mu.Unlock()
	fn(ids)
}

// A store's change report re-resolves the definitions that read the
// changed secret, and only them, long before the (one-hour) refresh,
// fetching only the changed secret.
func TestStoreChangeReResolvesTheDefinitionsThatUseIt(t *testing.T) {
	t.Parallel()
	var st *notifying
	var h *harness
	h = newHarness(t, func(o *options) {
		st = &notifying{Getter: o.Store}
		o.Resolver = resolver.New(resolver.Options{
			Stores:   map[string]resolver.Getter{"env": st},
			CacheTTL: time.Hour,
			Observer: o.Metrics,
			Logger:   o.Logger,
			OnChange: func(store string, ids []string) { h.d.Changed(store, ids) },
		})
	})
	const otherID = "/openmetadata/database/pg_prod/authtype/password"
	h.setSecret(otherID, plant+"-pg-password-1")
	h.om.PutService("databaseService", omtest.ServiceEntity("pg_prod", "Postgres", map[string]any{
		"username": "openmetadata_user",
		"authType": map[string]any{"password": "secret:" + otherID},
		"hostPort": "postgres:5432",
	}))
	h.writeDef("mysql_metadata.json", h.pipeline("mysql_metadata"))
	h.writeDef("pg_metadata.json", h.pipeline("pg_metadata", func(p map[string]any) {
		p["fullyQualifiedName"] = "pg_prod.pg_metadata"
		p["service"] = map[string]any{"id": "4e5e4c1a-3c55-4b3e-9d7a-0c1f8a4c2b11", "type": "databaseService", "name": "pg_prod", "fullyQualifiedName": "pg_prod"}
	}))
	h.start()
	h.eventually(func() bool {
		return password(h.output("mysql_metadata.json")) == plant+"-mysql-password-1" &&
			password(h.output("pg_metadata.json")) == plant+"-pg-password-1"
	}, "both outputs written")
	calls := h.storeCalls()
	pgBefore, err := os.ReadFile(filepath.Join(h.out, "pg_metadata.json"))
	require.NoError(t, err)

	h.setSecret(passwordID, plant+"-mysql-password-2")
	st.change(passwordID)
	h.eventually(func() bool { return password(h.output("mysql_metadata.json")) == plant+"-mysql-password-2" },
		"the changed secret reached its output without waiting for the refresh")
	assert.Equal(t, calls+1, h.storeCalls(), "only the changed secret was fetched")
	pgAfter, err := os.ReadFile(filepath.Join(h.out, "pg_metadata.json"))
	require.NoError(t, err)
	assert.Equal(t, pgBefore, pgAfter, "a definition that does not use the secret is untouched")

	st.change("/openmetadata/unused")
	time.Sleep(100 * time.Millisecond)
	assert.Equal(t, calls+1, h.storeCalls(), "a change of a secret no definition uses costs nothing")
}

// gated is a store whose Get of one id, while armed, reads the value,
// says so on reading, and returns it only once release is closed: a
// resolution that has read a value the store then reports changed.
type gated struct {
	*notifying
	id      string
	armed   atomic.Bool
	reading chan struct{}
	release chan struct{}
}

func (g *gated) Get(ctx context.Context, id string) (resolver.Secret, error) {
	v, err := g.notifying.Get(ctx, id)
	if id == g.id && g.armed.CompareAndSwap(true, false) {
		close(g.reading)
		<-g.release
	}
	return v, err
}

// A change reported while a definition's first resolution reads the
// secret (before the daemon knows the definition uses it) re-queues the
// definition: the value read before the change does not stay in the
// output until the refresh (an hour here).
func TestChangeDuringTheFirstResolutionIsNotLost(t *testing.T) {
	t.Parallel()
	var st *gated
	var h *harness
	h = newHarness(t, func(o *options) {
		st = &gated{notifying: &notifying{Getter: o.Store}, id: passwordID,
			reading: make(chan struct{}), release: make(chan struct{})}
		st.armed.Store(true)
		o.Resolver = resolver.New(resolver.Options{
			Stores:   map[string]resolver.Getter{"env": st},
			CacheTTL: time.Hour,
			Observer: o.Metrics,
			Logger:   o.Logger,
			OnChange: func(store string, ids []string) { h.d.Changed(store, ids) },
		})
	})
	h.writeDef("mysql_metadata.json", h.pipeline("mysql_metadata"))
	h.start()
	<-st.reading // the first resolution has read password 1
	h.setSecret(passwordID, plant+"-mysql-password-2")
	st.change(passwordID)
	close(st.release)
	h.eventually(func() bool { return password(h.output("mysql_metadata.json")) == plant+"-mysql-password-2" },
		"the change reported during the resolution reached the output without waiting for the refresh")
}
