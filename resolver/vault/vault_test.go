package vault_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/vaulttest"
	"omsecrets/resolver"
	"omsecrets/resolver/resolvertest"
	"omsecrets/resolver/vault"
)

const omID = "/openmetadata/database/mysql_prod/authtype/password"

// TestConformance runs the conformance suite on the wire against KV
// version 2: Get returns each path's fields as one JSON object.
func TestConformance(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	s := f.srv
	s.Put(strings.TrimPrefix(omID, "/"), map[string]any{"value": "vault-conf-plain"})
	s.Put("openmetadata/db/two", map[string]any{"value": "vault-conf-pass", "username": "vault-conf-user"})
	s.Put("openmetadata/typed", map[string]any{"port": 5432, "tls": true, "opts": map[string]any{"a": []int{1, 2}}, "none": nil})
	s.Put("openmetadata/null", map[string]any{"value": "null"})
	s.Put("openmetadata/unicode", map[string]any{"value": "vault-conf-юникод ✓"})
	s.Put("openmetadata/spaces", map[string]any{"value": "  vault-conf-spaced \n"})
	s.Put("openmetadata/html", map[string]any{"value": "vault-conf-<a&b>"})
	s.Put("openmetadata/empty", map[string]any{})
	s.Put("openmetadata/denied", map[string]any{"value": "vault-conf-denied"})
	s.DenyPath("secret/data/openmetadata/denied")
	s.Put("openmetadata/deleted", map[string]any{"value": "vault-conf-deleted"})
	s.Delete("openmetadata/deleted")
	s.Put("openmetadata/destroyed", map[string]any{"value": "vault-conf-destroyed"})
	s.Destroy("openmetadata/destroyed")
	s.Put("no/leading/slash", map[string]any{"value": "vault-conf-noslash"})

	resolvertest.Run(t, f.store, []resolvertest.Case{
		{Name: "OpenMetadata id", ID: omID, Want: `{"value":"vault-conf-plain"}`},
		{Name: "two fields", ID: "/openmetadata/db/two", Want: `{"username":"vault-conf-user","value":"vault-conf-pass"}`},
		{Name: "typed fields", ID: "/openmetadata/typed", Want: `{"none":null,"opts":"{\"a\":[1,2]}","port":"5432","tls":"true"}`},
		{Name: "null literal", ID: "/openmetadata/null", Want: `{"value":null}`},
		{Name: "unicode", ID: "/openmetadata/unicode", Want: `{"value":"vault-conf-юникод ✓"}`},
		{Name: "spaces kept", ID: "/openmetadata/spaces", Want: `{"value":"  vault-conf-spaced \n"}`},
		{Name: "no HTML escaping", ID: "/openmetadata/html", Want: `{"value":"vault-conf-<a&b>"}`},
		{Name: "no fields", ID: "/openmetadata/empty", Want: `{}`},
		{Name: "without leading slash", ID: "no/leading/slash", Want: `{"value":"vault-conf-noslash"}`},
		{Name: "missing", ID: "/openmetadata/missing", WantErr: resolver.ErrNotFound},
		{Name: "denied", ID: "/openmetadata/denied", WantErr: resolver.ErrPermission},
		{Name: "deleted", ID: "/openmetadata/deleted", WantErr: resolver.ErrNotFound},
		{Name: "destroyed", ID: "/openmetadata/destroyed", WantErr: resolver.ErrNotFound},
		{Name: "dot dot", ID: "/openmetadata/../secret", WantErr: resolver.ErrBadRef},
		{Name: "empty segment", ID: "/openmetadata//x", WantErr: resolver.ErrBadRef},
		{Name: "too long", ID: "/" + strings.Repeat("x", vault.MaxIDLen), WantErr: resolver.ErrBadRef},
	})
}

// TestConformanceKV1 runs the suite against a KV version 1 mount, its
// version detected.
func TestConformanceKV1(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *vault.Options) { o.Mount = "kv" })
	f.srv.Mount("kv", 1)
	f.srv.PutAt("", "kv", "openmetadata/db", map[string]any{"value": "vault-kv1-pass", "username": "vault-kv1-user"})
	f.srv.PutAt("", "kv", "openmetadata/null", map[string]any{"value": "null"})
	f.srv.PutAt("", "kv", "openmetadata/denied", map[string]any{"value": "vault-kv1-denied"})
	f.srv.DenyPath("kv/openmetadata/denied")

	resolvertest.Run(t, f.store, []resolvertest.Case{
		{Name: "fields", ID: "/openmetadata/db", Want: `{"username":"vault-kv1-user","value":"vault-kv1-pass"}`},
		{Name: "null", ID: "/openmetadata/null", Want: `{"value":null}`},
		{Name: "missing", ID: "/openmetadata/missing", WantErr: resolver.ErrNotFound},
		{Name: "denied", ID: "/openmetadata/denied", WantErr: resolver.ErrPermission},
		{Name: "bad", ID: "/a/./b", WantErr: resolver.ErrBadRef},
	})
	assert.Equal(t, 1, f.srv.Calls("sys/internal/ui/mounts/kv"), "the version is detected once")
	assert.Zero(t, f.srv.CallsWithPrefix("kv/data/"), "a KV v1 mount is read without /data/")
}

// TestPaths checks the API path each id is read from, and that one read
// returns every field of a path.
func TestPaths(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.srv.Put("openmetadata/database/mysql_prod/authtype/password", map[string]any{"value": "p", "username": "u"})
	v := get(t, f.store, omID)
	var fields map[string]string
	require.NoError(t, json.Unmarshal([]byte(v), &fields))
	assert.Equal(t, map[string]string{"value": "p", "username": "u"}, fields)
	assert.Equal(t, 1, f.srv.Calls("secret/data/openmetadata/database/mysql_prod/authtype/password"))
	assert.Equal(t, "value", f.store.DefaultKey())
	var _ resolver.KeyedValues = f.store
}

// TestDeletedAndDestroyed checks the messages of versions Vault answers
// 404 with data for, and that an older version does not come back.
func TestDeletedAndDestroyed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.srv.Put("gone/soft", map[string]any{"value": "v1"})
	f.srv.Put("gone/soft", map[string]any{"value": "v2"})
	f.srv.Delete("gone/soft")
	f.srv.Put("gone/hard", map[string]any{"value": "v1"})
	f.srv.Destroy("gone/hard")
	f.srv.Put("gone/removed", map[string]any{"value": "v1"})
	f.srv.Remove("gone/removed")

	_, err := f.store.Get(t.Context(), "/gone/soft")
	require.ErrorIs(t, err, resolver.ErrNotFound)
	assert.Contains(t, err.Error(), "the latest version (2) was deleted at")
	assert.Contains(t, err.Error(), "undelete it or write a new version")
	assert.Contains(t, err.Error(), `secret "/gone/soft"`)

	_, err = f.store.Get(t.Context(), "/gone/hard")
	require.ErrorIs(t, err, resolver.ErrNotFound)
	assert.Contains(t, err.Error(), "version 1 is destroyed")

	_, err = f.store.Get(t.Context(), "/gone/removed")
	require.ErrorIs(t, err, resolver.ErrNotFound)
	assert.Contains(t, err.Error(), "no secret at secret/data/gone/removed")

	// Writing a new version makes it readable again.
	f.srv.Put("gone/soft", map[string]any{"value": "v3"})
	assert.JSONEq(t, `{"value":"v3"}`, get(t, f.store, "/gone/soft"))
}

// TestWrongMount checks that a path Vault routes nowhere says to check the
// mount, as not found.
func TestWrongMount(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *vault.Options) { o.Mount = "nosuch"; o.KVVersion = 2 })
	_, err := f.store.Get(t.Context(), "/a")
	require.ErrorIs(t, err, resolver.ErrNotFound)
	assert.Contains(t, err.Error(), `Vault has no handler for nosuch/data/a (check the mount "nosuch" and its KV version 2)`)
	assert.Contains(t, err.Error(), "route entry not found")
}

// TestKVVersionDetection checks each way the version is learnt.
func TestKVVersionDetection(t *testing.T) {
	t.Parallel()
	t.Run("ui mounts", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, nil)
		f.srv.Put("a", map[string]any{"value": "x"})
		get(t, f.store, "/a")
		get(t, f.store, "/a")
		assert.Equal(t, 1, f.srv.Calls("sys/internal/ui/mounts/secret"))
		assert.Zero(t, f.srv.CallsWithPrefix("sys/mounts/"))
	})
	t.Run("sys mounts when ui is refused", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, func(o *vault.Options) { o.Mount = "old" })
		f.srv.Mount("old", 1)
		f.srv.PutAt("", "old", "a", map[string]any{"value": "x"})
		f.srv.DenyPath("sys/internal/ui/*")
		assert.JSONEq(t, `{"value":"x"}`, get(t, f.store, "/a"))
		assert.Equal(t, 1, f.srv.Calls("sys/mounts/old"))
		assert.Equal(t, 1, f.srv.Calls("old/a"))
	})
	t.Run("refused: assume 2 and say it once", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, nil)
		f.srv.Put("a", map[string]any{"value": "x"})
		f.srv.DenyPath("sys/*")
		for range 3 {
			assert.JSONEq(t, `{"value":"x"}`, get(t, f.store, "/a"))
		}
		assert.Equal(t, 1, f.srv.Calls("sys/internal/ui/mounts/secret"))
		assert.Equal(t, 1, f.srv.Calls("sys/mounts/secret"))
		out := f.log.String()
		assert.Equal(t, 1, strings.Count(out, "cannot detect the KV version"), out)
		assert.Contains(t, out, "level=WARN")
		assert.Contains(t, out, "mount=secret")
	})
	t.Run("configured: no detection", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, func(o *vault.Options) { o.KVVersion = 2 })
		f.srv.Put("a", map[string]any{"value": "x"})
		get(t, f.store, "/a")
		assert.Zero(t, f.srv.CallsWithPrefix("sys/"))
	})
	t.Run("transient: fails and tries again", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, nil)
		f.srv.Put("a", map[string]any{"value": "x"})
		f.srv.FailNextOn("sys/internal/ui/mounts/*", 1, http.StatusInternalServerError)
		_, err := f.store.Get(t.Context(), "/a")
		require.ErrorIs(t, err, resolver.ErrUnavailable)
		assert.Contains(t, err.Error(), `detect the KV version of mount "secret"`)
		assert.Zero(t, f.srv.CallsWithPrefix("secret/"), "no read with a guessed version")
		assert.JSONEq(t, `{"value":"x"}`, get(t, f.store, "/a"))
		assert.Equal(t, 2, f.srv.Calls("sys/internal/ui/mounts/secret"))
	})
}

// TestNamespace checks that X-Vault-Namespace goes with every request and
// that paths are the namespace's.
func TestNamespace(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *vault.Options) { o.Namespace = "team-a/" })
	f.srv.MountIn("team-a", "secret", 2)
	f.srv.PutAt("team-a", "secret", "db", map[string]any{"value": "ns-value"})
	f.srv.Put("db", map[string]any{"value": "root-value"})

	assert.JSONEq(t, `{"value":"ns-value"}`, get(t, f.store, "/db"))
	log := f.srv.CallLog()
	require.NotEmpty(t, log)
	for _, c := range log {
		assert.Equal(t, "team-a", c.Namespace, c.Path)
	}

	root := f.open(t, t.Context(), nil)
	assert.JSONEq(t, `{"value":"root-value"}`, get(t, root, "/db"))
}

// TestServiceFaults checks the classes of Vault's failures.
func TestServiceFaults(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *vault.Options) { o.KVVersion = 2 })
	f.srv.Put("a", map[string]any{"value": "x"})
	get(t, f.store, "/a")

	check := func(t *testing.T, class, contains string) {
		t.Helper()
		_, err := f.store.Get(t.Context(), "/a")
		require.Error(t, err)
		assert.Equal(t, class, resolver.Class(err), err.Error())
		assert.Contains(t, err.Error(), contains)
		assert.Contains(t, err.Error(), `secret "/a"`)
	}
	t.Run("sealed", func(t *testing.T) {
		f.srv.Seal(true)
		defer f.srv.Seal(false)
		check(t, "unavailable", "HTTP 503: Vault is sealed")
	})
	t.Run("standby", func(t *testing.T) {
		f.srv.Standby(true)
		defer f.srv.Standby(false)
		check(t, "unavailable", "HTTP 503: Vault is in standby mode")
	})
	t.Run("throttled", func(t *testing.T) {
		f.srv.Throttle(1, 3*time.Second)
		_, err := f.store.Get(t.Context(), "/a")
		require.ErrorIs(t, err, resolver.ErrThrottled)
		require.ErrorIs(t, err, resolver.ErrUnavailable)
		assert.Equal(t, "throttled", resolver.Class(err))
		ra, ok := resolver.RetryAfter(err)
		assert.True(t, ok)
		assert.Equal(t, 3*time.Second, ra)
		assert.Contains(t, err.Error(), "rate limit quota exceeded")
	})
	t.Run("500", func(t *testing.T) {
		f.srv.FailNext(1, http.StatusInternalServerError)
		check(t, "unavailable", "HTTP 500: internal error")
	})
	t.Run("502", func(t *testing.T) {
		f.srv.FailNext(1, http.StatusBadGateway)
		check(t, "unavailable", "HTTP 502")
	})
	t.Run("dropped", func(t *testing.T) {
		// Two: net/http sends a GET again once on a reused connection.
		f.srv.DropNext(2)
		check(t, "unavailable", "secret/data/a")
	})
	t.Run("slow", func(t *testing.T) {
		// A secret of its own: the request the client gives up on
		// may reach the Server's handler only later, under load, and
		// take a fault meant for the next call there.
		f.srv.SetLatency(2 * time.Second)
		defer f.srv.SetLatency(0)
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		_, err := f.store.Get(ctx, "/slow")
		require.ErrorIs(t, err, resolver.ErrUnavailable)
		assert.Contains(t, err.Error(), "context deadline exceeded")
	})
	// One attempt per call: no SDK retries.
	f.srv.Reset()
	f.srv.FailNextOn("secret/data/a", 1, http.StatusServiceUnavailable)
	_, err := f.store.Get(t.Context(), "/a")
	require.ErrorIs(t, err, resolver.ErrUnavailable)
	assert.Equal(t, 1, f.srv.Calls("secret/data/a"))
	assert.JSONEq(t, `{"value":"x"}`, get(t, f.store, "/a"))
}

// TestNoRedirects checks that a redirect (a standby pointing at the
// active node) is not followed, so the token goes nowhere else.
func TestNoRedirects(t *testing.T) {
	t.Parallel()
	other := vaulttest.New(t, vaulttest.WithHTTP())
	redirector := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL()+r.URL.Path, http.StatusTemporaryRedirect)
	})
	srv := httptest.NewServer(redirector)
	t.Cleanup(srv.Close)
	s, err := vault.New(t.Context(), vault.Options{Address: srv.URL, Auth: vault.Auth{Token: other.Token}, KVVersion: 2})
	require.NoError(t, err)
	_, err = s.Get(t.Context(), "/a")
	require.ErrorIs(t, err, resolver.ErrUnavailable)
	assert.Contains(t, err.Error(), "Vault redirected (HTTP 307) to "+strings.TrimPrefix(other.URL(), "http://"))
	assert.Zero(t, other.TotalCalls(), "the token must not follow the redirect")
}

// TestConcurrentFirstCalls checks that concurrent first calls share one
// token lookup and one version detection.
func TestConcurrentFirstCalls(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	for i := range 16 {
		f.srv.Put(fmt.Sprintf("c/%d", i), map[string]any{"value": fmt.Sprint(i)})
	}
	f.srv.SetLatency(20 * time.Millisecond)
	done := make(chan error, 16)
	for i := range 16 {
		go func() {
			_, err := f.store.Get(t.Context(), fmt.Sprintf("/c/%d", i))
			done <- err
		}()
	}
	for range 16 {
		require.NoError(t, <-done)
	}
	assert.Equal(t, 1, f.srv.Calls("auth/token/lookup-self"))
	assert.Equal(t, 1, f.srv.Calls("sys/internal/ui/mounts/secret"))
	assert.Equal(t, 16, f.srv.CallsWithPrefix("secret/data/c/"))
}

// TestTimeout checks Options.Timeout bounds one request.
func TestTimeout(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(o *vault.Options) { o.KVVersion = 2; o.Timeout = 200 * time.Millisecond })
	f.srv.SetLatency(2 * time.Second)
	start := time.Now()
	_, err := f.store.Get(t.Context(), "/a")
	require.ErrorIs(t, err, resolver.ErrUnavailable)
	assert.Less(t, time.Since(start), 1500*time.Millisecond)
}

// TestVersionToken: a KV version 2 value carries its metadata version; a
// new version of the path gives a new token.
func TestVersionToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.srv.Put("openmetadata/versioned", map[string]any{"value": "vault-version-1"})
	v1, err := f.store.Get(t.Context(), "/openmetadata/versioned")
	require.NoError(t, err)
	f.srv.Put("openmetadata/versioned", map[string]any{"value": "vault-version-2"})
	v2, err := f.store.Get(t.Context(), "/openmetadata/versioned")
	require.NoError(t, err)
	assert.NotEmpty(t, v1.Version())
	assert.NotEqual(t, v1.Version(), v2.Version())
}
