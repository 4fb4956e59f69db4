package resolver_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/resolver"
)

// gatedLister is a batching ChangeLister whose values carry versions
// (issue 22: before, each store kept a note of the version it last
// returned and vouched against that note).
// While gate is set, a GetBatch reads the store, then waits on it before
// returning: a fetch in flight that already has the new value.
type gatedLister struct {
	mu      sync.Mutex
	values  map[string]string
	version map[string]int
	gate    chan struct{}
}

func (l *gatedLister) Get(ctx context.Context, id string) (resolver.Secret, error) {
	out, err := l.GetBatch(ctx, []string{id})
	if err != nil {
		return resolver.Secret{}, err
	}
	return out[id], nil
}

func (l *gatedLister) MaxBatch() int { return 20 }

func (l *gatedLister) GetBatch(_ context.Context, ids []string) (map[string]resolver.Secret, error) {
	l.mu.Lock()
	out := make(map[string]resolver.Secret)
	for _, id := range ids {
		out[id] = resolver.NewSecret(l.values[id]).WithVersion(strconv.Itoa(l.version[id]))
	}
	gate := l.gate
	l.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return out, nil
}

func (l *gatedLister) set(id, v string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.values[id] = v
	l.version[id]++
}

func (l *gatedLister) Unchanged(ctx context.Context, held []resolver.Held, p resolver.Pacer) ([]string, error) {
	if err := p.Call(ctx, "list", func(context.Context) error { return nil }); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, h := range held {
		if h.Version == strconv.Itoa(l.version[h.ID]) {
			out = append(out, h.ID)
		}
	}
	return out, nil
}

func (l *gatedLister) FullReadCalls(n int) int { return (n + 19) / 20 }

// TestRefreshNeverServesAValueOlderThanTheOneVouchedFor reproduces the
// interleaving of issue 22: a Resolve whose cache entry expired fetches
// v2 while a Refresh asks the store about the id. The store vouches that
// the value is current; the Refresh must then not serve the cached v1.
func TestRefreshNeverServesAValueOlderThanTheOneVouchedFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const id = "/om/db/password"
		l := &gatedLister{values: map[string]string{id: "v1"}, version: map[string]int{id: 1}}
		r := resolver.New(resolver.Options{
			Stores:      map[string]resolver.Getter{"aws": l},
			CacheTTL:    5 * time.Minute,
			ChangeCheck: resolver.ChangeCheck{Keep: 10 * time.Minute, MaxAge: time.Hour},
		})
		refs := []resolver.StoreRef{sref(t, "aws", "secret:"+id)}
		_, err := r.Resolve(t.Context(), refs)
		require.NoError(t, err)

		l.set(id, "v2")
		time.Sleep(6 * time.Minute) // past the TTL, within Keep: the entry is held
		gate := make(chan struct{})
		l.mu.Lock()
		l.gate = gate
		l.mu.Unlock()

		var resolved, refreshed map[resolver.StoreRef]resolver.Secret
		var resolveErr, refreshErr error
		var wg sync.WaitGroup
		wg.Go(func() { resolved, resolveErr = r.Resolve(t.Context(), refs) })
		synctest.Wait() // the Resolve has read v2 and waits on the gate
		wg.Go(func() { refreshed, refreshErr = r.Refresh(t.Context(), refs) })
		synctest.Wait() // the Refresh has listed and served, or waits on the fetch
		close(gate)
		wg.Wait()

		require.NoError(t, resolveErr)
		require.NoError(t, refreshErr)
		assert.Equal(t, "v2", resolved[refs[0]].Value(), "the Resolve fetched v2")
		assert.Equal(t, "v2", refreshed[refs[0]].Value(), "the Refresh after the store's word must not serve v1")
	})
}
