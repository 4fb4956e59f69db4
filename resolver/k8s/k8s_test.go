package k8s_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"

	"omsecrets/internal/testbed/kubetest"
	"omsecrets/resolver"
	"omsecrets/resolver/k8s"
	"omsecrets/resolver/resolvertest"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

// fixture is a namespace of the shared API server and a service account
// allowed what the test grants it.
type fixture struct {
	c    *kubetest.Cluster
	ns   string
	user kubetest.User
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	c := kubetest.Shared(t)
	ns := c.Namespace(t)
	return &fixture{c: c, ns: ns, user: c.ServiceAccount(t, ns, "omsecrets")}
}

// grant lets the fixture's user use verbs on the Secrets names.
func (f *fixture) grant(t *testing.T, verbs []string, names ...string) {
	t.Helper()
	f.c.Grant(t, f.ns, f.user, verbs, names...)
}

// store opens a Store of the fixture's namespace as its user, whose
// watches end with the test.
func (f *fixture) store(t *testing.T, cfg *rest.Config, opts k8s.Options) *k8s.Store {
	t.Helper()
	if cfg == nil {
		cfg = f.c.Config(f.user)
	}
	if opts.Namespace == "" {
		opts.Namespace = f.ns
	}
	s, err := k8s.New(t.Context(), cfg, opts)
	require.NoError(t, err)
	return s
}

// gets is how many GETs of name the fixture's user made.
func (f *fixture) gets(t *testing.T, name string) int {
	t.Helper()
	return f.c.Count(t, f.ns, "get", name, f.user.Name)
}

// notes records what a Store notifies.
type notes struct {
	ch chan note
}

type note struct {
	ids []string
	at  time.Time
}

func listen(s *k8s.Store) *notes {
	n := &notes{ch: make(chan note, 1024)}
	s.Notify(func(ids []string) {
		select {
		case n.ch <- note{ids: ids, at: time.Now()}:
		default: // must not block
		}
	})
	return n
}

// next waits for a notification.
func (n *notes) next(t *testing.T, within time.Duration) note {
	t.Helper()
	select {
	case got := <-n.ch:
		return got
	case <-time.After(within):
		t.Fatalf("no notification within %v", within)
		return note{}
	}
}

// none checks nothing is notified for d.
func (n *notes) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case got := <-n.ch:
		t.Fatalf("unexpected notification of %v", got.ids)
	case <-time.After(d):
	}
}

// drain drops what was notified so far.
func (n *notes) drain() {
	for {
		select {
		case <-n.ch:
		default:
			return
		}
	}
}

func logger(buf *resolvertest.LogBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func TestConformance(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.c.PutValue(t, f.ns, "db-password", "conf-value-7f3a")
	f.c.PutSecret(t, f.ns, "two-keys", map[string][]byte{"a": []byte("conf-a-91c2"), "b": []byte("conf-b-5e0d")})
	f.c.PutValue(t, f.ns, "stored-null", "null")
	f.c.PutValue(t, f.ns, "openmetadata-database-mysql-prod-authtype-password", "conf-legacy-c4b8")
	f.c.PutSecret(t, f.ns, "empty", nil)
	f.c.PutValue(t, f.ns, "not-granted", "conf-hidden-22aa")
	f.grant(t, []string{"get", "watch"}, "db-password", "two-keys", "stored-null", "empty",
		"openmetadata-database-mysql-prod-authtype-password", "granted-missing", "openmetadata-database-gone-password")
	s := f.store(t, nil, k8s.Options{})

	resolvertest.Run(t, s, []resolvertest.Case{
		{Name: "value", ID: "db-password", Want: `{"value":"conf-value-7f3a"}`},
		{Name: "keys", ID: "two-keys", Want: `{"a":"conf-a-91c2","b":"conf-b-5e0d"}`},
		{Name: "stored null", ID: "stored-null", Want: `{"value":null}`},
		{Name: "no data", ID: "empty", Want: `{}`},
		{Name: "legacy id", ID: "/openmetadata/database/mysql_prod/authtype/password", Want: `{"value":"conf-legacy-c4b8"}`},
		{Name: "missing", ID: "granted-missing", WantErr: resolver.ErrNotFound},
		{Name: "legacy missing", ID: "/openmetadata/database/gone/password", WantErr: resolver.ErrNotFound},
		{Name: "forbidden", ID: "not-granted", WantErr: resolver.ErrPermission},
		{Name: "forbidden missing", ID: "never-created", WantErr: resolver.ErrPermission},
		{Name: "bad id", ID: "Not_A_Name", WantErr: resolver.ErrBadRef},
	})
}

// TestKeysShareOneGet reads several keys of one Secret, and its default
// key, through a Resolver: one GET.
func TestKeysShareOneGet(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.c.PutSecret(t, f.ns, "conn", map[string][]byte{"a": []byte("alpha"), "b": []byte("beta"), "value": []byte("dflt"), "n": []byte("null")})
	f.grant(t, []string{"get", "watch"}, "conn")
	s := f.store(t, nil, k8s.Options{})
	r := resolver.New(resolver.Options{Stores: map[string]resolver.Getter{k8s.Name: s}})
	ref := func(id, key string) resolver.StoreRef {
		return resolver.StoreRef{Store: k8s.Name, Ref: resolver.Ref{ID: id, Key: key}}
	}
	refs := []resolver.StoreRef{ref("conn", "a"), ref("conn", "b"), ref("conn", ""), ref("conn", "n"), ref("conn", "missing")}
	vals, err := r.Resolve(t.Context(), refs)
	assert.Equal(t, "alpha", vals[refs[0]].Value())
	assert.Equal(t, "beta", vals[refs[1]].Value())
	assert.Equal(t, "dflt", vals[refs[2]].Value(), "a reference without #key reads data key value")
	assert.True(t, vals[refs[3]].IsNull(), "a stored \"null\" is null")
	require.Error(t, err)
	errs := resolver.RefErrors(err)
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[refs[4]], resolver.ErrNotFound)
	assert.Contains(t, errs[refs[4]].Error(), `key "missing"`)
	assert.Equal(t, 1, f.gets(t, "conn"), "five references to one Secret, one GET")
}

func TestErrorMessages(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.c.PutValue(t, f.ns, "hidden", "v")
	f.grant(t, []string{"get"}, "granted-missing", "openmetadata-x-y")
	s := f.store(t, nil, k8s.Options{})

	_, err := s.Get(t.Context(), "granted-missing")
	require.ErrorIs(t, err, resolver.ErrNotFound)
	assert.Equal(t, `secret "granted-missing" in namespace "`+f.ns+`": not found: no such Secret`, err.Error())

	_, err = s.Get(t.Context(), "/openmetadata/x/y")
	require.ErrorIs(t, err, resolver.ErrNotFound)
	assert.Equal(t, `secret "/openmetadata/x/y" (Secret "openmetadata-x-y" in namespace "`+f.ns+`"): not found: no such Secret`, err.Error())

	_, err = s.Get(t.Context(), "hidden")
	require.ErrorIs(t, err, resolver.ErrPermission)
	msg := err.Error()
	assert.Contains(t, msg, `secret "hidden" in namespace "`+f.ns+`"`)
	assert.Contains(t, msg, "RBAC refused to get it")
	assert.Contains(t, msg, f.user.Name, "the message names the user RBAC refused")

	_, err = s.Get(t.Context(), "UPPER")
	require.ErrorIs(t, err, resolver.ErrBadRef)
	assert.Equal(t, `secret "UPPER": bad reference: not a Kubernetes Secret name: upper-case letters are not allowed (Secret names are lowercase)`, err.Error())
	assert.Equal(t, 3, f.c.Count(t, f.ns, "get", "", f.user.Name), "a bad id makes no call")
}

// TestEconomy: GET by name only, never LIST, one GET per distinct Secret
// however many ids map to it.
func TestEconomy(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.c.PutValue(t, f.ns, "om-a-b", "1")
	f.c.PutValue(t, f.ns, "plain", "2")
	f.grant(t, []string{"get", "watch"}, "om-a-b", "plain")
	s := f.store(t, nil, k8s.Options{})
	listen(s)
	r := resolver.New(resolver.Options{Stores: map[string]resolver.Getter{k8s.Name: s}, CacheTTL: time.Minute})
	var refs []resolver.StoreRef
	for range 3 {
		refs = append(refs, resolver.StoreRef{Store: k8s.Name, Ref: resolver.Ref{ID: "plain"}})
	}
	refs = append(refs, resolver.StoreRef{Store: k8s.Name, Ref: resolver.Ref{ID: "/om/a/b"}})
	for range 3 {
		_, err := r.Resolve(t.Context(), refs)
		require.NoError(t, err)
	}
	assert.Equal(t, 1, f.gets(t, "plain"))
	assert.Equal(t, 1, f.gets(t, "om-a-b"))
	assert.Zero(t, f.c.Count(t, f.ns, "list", "", f.user.Name), "never LIST")
	require.Eventually(t, func() bool { return f.c.Count(t, f.ns, "watch", "", f.user.Name) == 2 }, 10*time.Second, 50*time.Millisecond,
		"one watch per Secret")
	assert.Equal(t, 2, s.Watches())
}

func TestBinaryData(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.c.PutSecret(t, f.ns, "tls", map[string][]byte{"keystore.jks": {0xfe, 0xed, 0xfe, 0xed, 0x00, 0xff}, "password": []byte("pw")})
	f.grant(t, []string{"get"}, "tls")
	s := f.store(t, nil, k8s.Options{})
	v, err := s.Get(t.Context(), "tls")
	require.NoError(t, err)
	assert.Equal(t, `{"keystore.jks":false,"password":"pw"}`, v.Value(), "the key that is not text is marked, not carried")

	r := resolver.New(resolver.Options{Stores: map[string]resolver.Getter{k8s.Name: s}})
	ref := resolver.StoreRef{Store: k8s.Name, Ref: resolver.Ref{ID: "tls", Key: "keystore.jks"}}
	_, err = r.Resolve(t.Context(), []resolver.StoreRef{ref})
	require.ErrorIs(t, err, resolver.ErrBadRef)
	assert.Contains(t, err.Error(), `key "keystore.jks" holds bytes that are not UTF-8 text`)
	pw := resolver.StoreRef{Store: k8s.Name, Ref: resolver.Ref{ID: "tls", Key: "password"}}
	vals, err := r.Resolve(t.Context(), []resolver.StoreRef{pw})
	require.NoError(t, err)
	assert.Equal(t, "pw", vals[pw].Value(), "the other keys of the Secret resolve")
}

// TestFaults puts the fault-injecting proxy between the store and the
// API server: each fault costs exactly one request (client-go's own
// retries are off) and is classed for the resolver's policy.
func TestFaults(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.c.PutValue(t, f.ns, "s", "v")
	f.grant(t, []string{"get"}, "s")
	p := f.c.Proxy(t)
	s := f.store(t, p.Config(f.user), k8s.Options{RequestTimeout: 2 * time.Second})
	path := "/api/v1/namespaces/" + f.ns + "/secrets/s"
	calls := 0
	get := func() error {
		t.Helper()
		_, err := s.Get(t.Context(), "s")
		calls++
		assert.Equal(t, calls, p.Count(http.MethodGet, path), "one request per Get")
		return err
	}
	require.NoError(t, get())

	p.Inject(kubetest.Fault{Status: http.StatusTooManyRequests, RetryAfter: "7"}, 1)
	err := get()
	assert.ErrorIs(t, err, resolver.ErrThrottled)
	assert.Equal(t, "throttled", resolver.Class(err))
	ra, ok := resolver.RetryAfter(err)
	assert.True(t, ok)
	assert.Equal(t, 7*time.Second, ra)

	for _, code := range []int{http.StatusInternalServerError, http.StatusServiceUnavailable, http.StatusGatewayTimeout} {
		p.Inject(kubetest.Fault{Status: code, RetryAfter: "1"}, 1)
		err = get()
		assert.Equal(t, "unavailable", resolver.Class(err), "%d: %v", code, err)
		assert.Contains(t, err.Error(), http.StatusText(code))
	}

	p.Inject(kubetest.Fault{Drop: true}, 1)
	err = get()
	assert.Equal(t, "unavailable", resolver.Class(err), "%v", err)

	p.Inject(kubetest.Fault{Delay: 3 * time.Second}, 1)
	start := time.Now()
	err = get()
	assert.Equal(t, "unavailable", resolver.Class(err), "%v", err)
	assert.Less(t, time.Since(start), 2900*time.Millisecond, "RequestTimeout bounds a GET")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = s.Get(ctx, "s")
	assert.Equal(t, "unavailable", resolver.Class(err))
	assert.ErrorIs(t, err, context.Canceled)

	require.NoError(t, get())
}

// TestUnauthorized: a token the server refuses is read again once, then
// the read fails as permission.
func TestUnauthorized(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.c.PutValue(t, f.ns, "s", "v")
	f.grant(t, []string{"get"}, "s")
	p := f.c.Proxy(t)
	bad := kubetest.User{Name: "nobody", Token: "bad-token-0d9e1f"}
	reloads := 0
	var mu sync.Mutex
	s := f.store(t, p.Config(bad), k8s.Options{Reload: func() (*rest.Config, error) {
		mu.Lock()
		reloads++
		mu.Unlock()
		return p.Config(bad), nil
	}})
	_, err := s.Get(t.Context(), "s")
	require.ErrorIs(t, err, resolver.ErrPermission)
	assert.Contains(t, err.Error(), "401 Unauthorized")
	assert.NotContains(t, err.Error(), bad.Token)
	assert.Equal(t, 2, p.Count(http.MethodGet, "/api/v1/namespaces/"+f.ns+"/secrets/s"), "one retry after reading the credentials again")
	assert.Equal(t, 1, reloads)

	s2 := f.store(t, p.Config(bad), k8s.Options{Reload: func() (*rest.Config, error) { return nil, errors.New("token file gone") }})
	_, err = s2.Get(t.Context(), "s")
	require.ErrorIs(t, err, resolver.ErrPermission)
	assert.Contains(t, err.Error(), "token file gone")
}

// TestGetHostileIDs: ids that can never name a Secret fail before any
// call.
func TestGetHostileIDs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.grant(t, []string{"get"})
	s := f.store(t, nil, k8s.Options{})
	for _, id := range []string{"", "UPPER", "a_b", "-a", "a-", "a..b", "a.-b", "..", ".", "a b", "a\x00b", "a\nb", "é", strings.Repeat("a", 254),
		strings.Repeat("/", 10), "/", "///..//", "a%2fb", strings.Repeat("x", k8s.MaxIDLen+1), "\xff\xfe"} {
		_, err := s.Get(t.Context(), id)
		require.Error(t, err, "%q", id)
		assert.Equal(t, "bad_ref", resolver.Class(err), "%q: %v", id, err)
		assert.Equal(t, 1, strings.Count(err.Error(), "\n")+1, "one line")
	}
	assert.Zero(t, f.c.Count(t, f.ns, "get", "", f.user.Name), "no call for a bad id")
}
