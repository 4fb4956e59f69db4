package gcpsm_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"omsecrets/internal/testbed/gcptest"
	"omsecrets/resolver"
	"omsecrets/resolver/gcpsm"
	"omsecrets/resolver/resolvertest"
)

// envMap turns KEY=value pairs into the map StoreConfig.Env is.
func envMap(kv []string) map[string]string {
	m := make(map[string]string, len(kv))
	for _, s := range kv {
		k, v, _ := strings.Cut(s, "=")
		m[k] = v
	}
	return m
}

// settingsFor is what cmd fills the settings with from srv's Env.
func settingsFor(srv *gcptest.Server) map[string]string {
	return map[string]string{gcpsm.ProjectID.Name: srv.Project, gcpsm.Endpoint.Name: srv.Endpoint()}
}

// open opens the store through Spec.Open with env, logging at debug level
// into the returned buffer; the Provider is closed when the test ends.
func open(t *testing.T, settings, env map[string]string) (*gcpsm.Provider, *resolvertest.LogBuffer) {
	t.Helper()
	var log resolvertest.LogBuffer
	g, err := gcpsm.Spec.Open(t.Context(), resolver.StoreConfig{
		Settings: settings,
		Env:      env,
		Logger:   slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})).With("store", "gcp"),
	})
	require.NoError(t, err)
	p, ok := g.(*gcpsm.Provider)
	require.True(t, ok, "Spec.Open returns a *gcpsm.Provider")
	t.Cleanup(func() { _ = p.Close() })
	return p, &log
}

// newProvider returns a Provider opened on a fresh Server with the
// Server's key file, and the Server and the Provider's log.
func newProvider(t *testing.T, opts ...gcptest.Option) (*gcpsm.Provider, *gcptest.Server, *resolvertest.LogBuffer) {
	t.Helper()
	srv := gcptest.New(t, opts...)
	p, log := open(t, settingsFor(srv), envMap(srv.Env()))
	return p, srv, log
}

func TestConformance(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	s.PutSecret("openmetadata_database_mysql_prod_authtype_password", "gcp-value-plain")
	s.PutSecret("json", `{"user":"gcp-json-user","password":"gcp-json-pass"}`)
	s.PutSecret("null_secret", "null")
	s.PutSecret("unicode", "gcp-value-юникод ✓")
	s.PutSecret("spaces", "  gcp-value-spaced \n")
	s.PutSecret("rotated", "gcp-value-old")
	s.PutSecret("rotated", "gcp-value-new")
	s.PutSecret("pinned", "gcp-value-pinned-1")
	s.PutSecret("pinned", "gcp-value-pinned-2")
	s.SetAlias("pinned", "stable", 1)
	s.PutSecretIn("other-project", "shared", "gcp-value-other-project")
	s.PutSecret("denied", "gcp-value-denied")
	s.DenyID("denied")
	s.PutSecret("disabled", "gcp-value-disabled")
	s.DisableVersion("disabled", 1)
	s.PutSecret("destroyed", "gcp-value-destroyed")
	s.DestroyVersion("destroyed", 1)

	resolvertest.Run(t, p, []resolvertest.Case{
		{Name: "plain id", ID: "openmetadata_database_mysql_prod_authtype_password", Want: "gcp-value-plain"},
		{Name: "json", ID: "json", Want: `{"user":"gcp-json-user","password":"gcp-json-pass"}`},
		{Name: "null literal", ID: "null_secret", WantNull: true},
		{Name: "unicode", ID: "unicode", Want: "gcp-value-юникод ✓"},
		{Name: "spaces kept", ID: "spaces", Want: "  gcp-value-spaced \n"},
		{Name: "latest version", ID: "rotated", Want: "gcp-value-new"},
		{Name: "resource name", ID: "projects/" + s.Project + "/secrets/rotated", Want: "gcp-value-new"},
		{Name: "project number", ID: "projects/" + s.ProjectNumber + "/secrets/rotated/versions/latest", Want: "gcp-value-new"},
		{Name: "pinned version", ID: "projects/" + s.Project + "/secrets/pinned/versions/1", Want: "gcp-value-pinned-1"},
		{Name: "alias", ID: "projects/" + s.Project + "/secrets/pinned/versions/stable", Want: "gcp-value-pinned-1"},
		{Name: "other project", ID: "projects/other-project/secrets/shared", Want: "gcp-value-other-project"},
		{Name: "missing", ID: "openmetadata_missing", WantErr: resolver.ErrNotFound},
		{Name: "missing version", ID: "projects/" + s.Project + "/secrets/pinned/versions/9", WantErr: resolver.ErrNotFound},
		{Name: "denied", ID: "denied", WantErr: resolver.ErrPermission},
		{Name: "disabled", ID: "disabled", WantErr: resolver.ErrPermission},
		{Name: "destroyed", ID: "destroyed", WantErr: resolver.ErrNotFound},
		{Name: "aws form", ID: "/openmetadata/database/mysql_prod/password", WantErr: resolver.ErrBadRef},
		{Name: "too long", ID: strings.Repeat("x", 256), WantErr: resolver.ErrBadRef},
	})
}

// TestErrorClasses checks the class and message of each answer, and that
// each Get makes exactly one call.
func TestErrorClasses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		setup     func(*gcptest.Server)
		id        string
		ctx       func(context.Context) (context.Context, context.CancelFunc)
		wantClass string
		wantMsg   []string
		wantAfter time.Duration
		wantCalls int
	}{
		{name: "not found", id: "nope", wantClass: "not_found", wantCalls: 1,
			wantMsg: []string{"no secret nope in project omsecrets-test", "NotFound: Secret [projects/480125193210/secrets/nope] not found or has no versions."}},
		{name: "permission denied", setup: func(s *gcptest.Server) { s.DenyID("ec") }, wantClass: "permission", wantCalls: 1,
			wantMsg: []string{"secret ec in project omsecrets-test is not readable", "roles/secretmanager.secretAccessor", "PermissionDenied: Permission 'secretmanager.versions.access' denied"}},
		{name: "disabled", setup: func(s *gcptest.Server) { s.DisableVersion("ec", 1) }, wantClass: "permission", wantCalls: 1,
			wantMsg: []string{"is disabled: enable it or add a new version", "is in DISABLED state"}},
		{name: "destroyed", setup: func(s *gcptest.Server) { s.DestroyVersion("ec", 1) }, wantClass: "not_found", wantCalls: 1,
			wantMsg: []string{"is destroyed: add a new version", "is in DESTROYED state"}},
		{name: "throttled", setup: func(s *gcptest.Server) { s.Throttle(1) }, wantClass: "throttled", wantCalls: 1,
			wantMsg: []string{"access quota exhausted", "ResourceExhausted: Quota exceeded for quota metric 'Access requests'"}},
		{name: "throttled with RetryInfo", setup: func(s *gcptest.Server) { s.Throttle(1); s.SetRetryDelay(7 * time.Second) }, wantClass: "throttled", wantCalls: 1, wantAfter: 7 * time.Second},
		{name: "unavailable", setup: func(s *gcptest.Server) { s.FailNext(1, codes.Unavailable) }, wantClass: "unavailable", wantCalls: 1,
			wantMsg: []string{"Unavailable: The service is currently unavailable."}},
		{name: "internal", setup: func(s *gcptest.Server) { s.FailNext(1, codes.Internal) }, wantClass: "unavailable", wantCalls: 1,
			wantMsg: []string{"Internal: Internal error encountered."}},
		{name: "deadline exceeded by the service", setup: func(s *gcptest.Server) { s.FailNext(1, codes.DeadlineExceeded) }, wantClass: "unavailable", wantCalls: 1,
			wantMsg: []string{"DeadlineExceeded: Deadline expired"}},
		{name: "dropped connection", setup: func(s *gcptest.Server) { s.DropNext(1) }, wantClass: "unavailable", wantCalls: 1},
		{name: "corrupt payload", setup: func(s *gcptest.Server) { s.CorruptNext(1) }, wantClass: "unavailable", wantCalls: 1,
			wantMsg: []string{"payload checksum (data_crc32c) does not match its data"}},
		{name: "client timeout", setup: func(s *gcptest.Server) { s.SetLatency(time.Minute) }, wantClass: "unavailable",
			ctx: func(ctx context.Context) (context.Context, context.CancelFunc) {
				return context.WithTimeout(ctx, 300*time.Millisecond)
			}, wantMsg: []string{"DeadlineExceeded"}},
		{name: "unimplemented", setup: func(s *gcptest.Server) { s.FailNext(1, codes.Unimplemented) }, wantClass: "permission", wantCalls: 1},
		{name: "bad ref makes no call", id: "a/b", wantClass: "bad_ref", wantCalls: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, s, _ := newProvider(t)
			s.PutSecret("ec", "error-class-value")
			if tc.setup != nil {
				tc.setup(s)
			}
			// A first Get fetches the token, so that a deadline covers
			// the call only.
			if tc.ctx != nil {
				s.SetLatency(0)
				_, err := p.Get(t.Context(), "ec")
				require.NoError(t, err)
				s.Reset()
				tc.setup(s)
			}
			ctx := t.Context()
			if tc.ctx != nil {
				var cancel context.CancelFunc
				ctx, cancel = tc.ctx(ctx)
				defer cancel()
			}
			id := tc.id
			if id == "" {
				id = "ec"
			}
			_, err := p.Get(ctx, id)
			require.Error(t, err)
			assert.Equal(t, tc.wantClass, resolver.Class(err), "%v", err)
			assert.Contains(t, err.Error(), fmt.Sprintf("secret %q: ", id))
			for _, m := range tc.wantMsg {
				assert.Contains(t, err.Error(), m)
			}
			after, ok := resolver.RetryAfter(err)
			assert.Equal(t, tc.wantAfter, after)
			assert.Equal(t, tc.wantAfter > 0, ok)
			assert.NotContains(t, err.Error(), "error-class-value")
			assert.NotContains(t, err.Error(), "\n")
			if tc.ctx == nil {
				assert.Equal(t, tc.wantCalls, s.TotalCalls(), "one attempt per Get")
			} else {
				assert.LessOrEqual(t, s.TotalCalls(), 1)
			}
		})
	}
}

// TestOneAttemptPerCall checks that the library's own retries (on
// UNAVAILABLE and RESOURCE_EXHAUSTED, by default) are off.
func TestOneAttemptPerCall(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	s.PutSecret("oa", "one-attempt-value")
	s.FailNext(3, codes.Unavailable)
	_, err := p.Get(t.Context(), "oa")
	assert.ErrorIs(t, err, resolver.ErrUnavailable)
	s.Throttle(3)
	_, err = p.Get(t.Context(), "oa")
	assert.ErrorIs(t, err, resolver.ErrThrottled)
	assert.Equal(t, 2, s.TotalCalls())
}

// TestCRCMismatchRetried runs a corrupted payload through the resolver:
// it is retried as unavailable and then served.
func TestCRCMismatchRetried(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	s.PutSecret("crc", "crc-value")
	s.CorruptNext(2)
	r := resolver.New(resolver.Options{
		Stores: map[string]resolver.Getter{"gcp": p},
		Retry:  resolver.RetryPolicy{MaxAttempts: 5, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond},
		Logger: slog.New(slog.DiscardHandler),
	})
	ref := resolver.StoreRef{Store: "gcp", Ref: resolver.Ref{ID: "crc"}}
	vals, err := r.Resolve(t.Context(), []resolver.StoreRef{ref})
	require.NoError(t, err)
	assert.Equal(t, "crc-value", vals[ref].Value())
	assert.Equal(t, 3, s.TotalCalls(), "two corrupted answers, then the good one")
}

// TestNoCRC checks that an answer without data_crc32c is served.
func TestNoCRC(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	s.PutSecret("nocrc", "no-crc-value")
	s.SetOmitCRC(true)
	v, err := p.Get(t.Context(), "nocrc")
	require.NoError(t, err)
	assert.Equal(t, "no-crc-value", v.Value())
}

// TestThrottlingStorm throttles every call for a while: the resolver
// keeps retrying, waiting at least the RetryInfo delay each time, and
// completes once the storm ends.
func TestThrottlingStorm(t *testing.T) {
	t.Parallel()
	const delay = 150 * time.Millisecond
	p, s, _ := newProvider(t)
	var refs []resolver.StoreRef
	for i := range 5 {
		id := fmt.Sprintf("storm_%d", i)
		s.PutSecret(id, "storm-value-"+id)
		refs = append(refs, resolver.StoreRef{Store: "gcp", Ref: resolver.Ref{ID: id}})
	}
	// Fetch the token first, so that the call log is the storm's.
	_, err := p.Get(t.Context(), "storm_0")
	require.NoError(t, err)
	s.Reset()
	s.SetRetryDelay(delay)
	s.SetThrottling(true)
	time.AfterFunc(4*delay, func() { s.SetThrottling(false) })
	r := resolver.New(resolver.Options{
		Stores: map[string]resolver.Getter{"gcp": p},
		Limits: map[string]resolver.Limit{"gcp": gcpsm.Spec.Limit},
		// A backoff far below the hint: the waits are the hint's.
		Retry:  resolver.RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond},
		Logger: slog.New(slog.DiscardHandler),
	})
	start := time.Now()
	vals, err := r.Resolve(t.Context(), refs)
	require.NoError(t, err, "throttling is retried beyond MaxAttempts until it stops")
	assert.Len(t, vals, len(refs))
	assert.GreaterOrEqual(t, time.Since(start), 3*delay, "the storm lasted 4 delays")

	perID := map[string][]time.Time{}
	for _, c := range s.CallLog() {
		perID[c.Name] = append(perID[c.Name], c.At)
	}
	require.Len(t, perID, len(refs))
	for name, times := range perID {
		assert.GreaterOrEqual(t, len(times), 2, "%s was throttled at least once", name)
		for i := 1; i < len(times); i++ {
			assert.GreaterOrEqual(t, times[i].Sub(times[i-1]), delay-10*time.Millisecond, "%s: retry %d came before the RetryInfo delay", name, i)
		}
	}
}

// TestUnauthenticatedRefresh revokes the token the Provider holds: the
// call is refused, a new token is fetched and the call made again, once.
func TestUnauthenticatedRefresh(t *testing.T) {
	t.Parallel()
	p, s, log := newProvider(t)
	s.PutSecret("ua", "unauth-value")
	_, err := p.Get(t.Context(), "ua")
	require.NoError(t, err)
	require.Equal(t, 1, s.Calls(gcptest.OpToken))

	s.RevokeTokens()
	v, err := p.Get(t.Context(), "ua")
	require.NoError(t, err)
	assert.Equal(t, "unauth-value", v.Value())
	assert.Equal(t, 2, s.Calls(gcptest.OpToken), "one new token")
	calls := s.CallLog()
	var access []gcptest.Call
	for _, c := range calls {
		if c.Op == gcptest.OpAccessSecretVersion {
			access = append(access, c)
		}
	}
	require.Len(t, access, 3)
	assert.Equal(t, codes.Unauthenticated, access[1].Code)
	assert.Equal(t, codes.OK, access[2].Code)
	assert.NotEqual(t, access[1].Token, access[2].Token, "the retry carries the new token")
	assert.Contains(t, log.String(), "access token refused; fetching a new one")
}

// TestUnauthenticatedAfterRefresh: a service that refuses every token is
// permission, after one new token.
func TestUnauthenticatedAfterRefresh(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	s.PutSecret("ua", "unauth-value")
	s.SetRejectTokens(true)
	_, err := p.Get(t.Context(), "ua")
	require.Error(t, err)
	assert.Equal(t, "permission", resolver.Class(err))
	assert.ErrorContains(t, err, "the service refused the access token, also a newly fetched one (Unauthenticated: Request had invalid authentication credentials.")
	assert.Equal(t, 2, s.TotalCalls())
	assert.Equal(t, 2, s.Calls(gcptest.OpToken))
}

// TestUnauthenticatedConcurrent: many calls refused at once share one
// new token.
func TestUnauthenticatedConcurrent(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	s.PutSecret("uc", "concurrent-value")
	_, err := p.Get(t.Context(), "uc")
	require.NoError(t, err)
	s.RevokeTokens()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			v, err := p.Get(t.Context(), "uc")
			if assert.NoError(t, err) {
				assert.Equal(t, "concurrent-value", v.Value())
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 2, s.Calls(gcptest.OpToken), "one new token for all of them")
}

// TestTokenEndpointFailures checks the classes of the token endpoint's
// refusals; a call without a token never reaches Secret Manager.
func TestTokenEndpointFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		setup     func(*gcptest.Server)
		wantClass string
		wantMsg   string
	}{
		{name: "key disabled", setup: func(s *gcptest.Server) { s.DisableKey() }, wantClass: "permission", wantMsg: "answered HTTP 400 invalid_grant (the credentials were refused"},
		{name: "server error", setup: func(s *gcptest.Server) { s.FailTokenNext(1, 503) }, wantClass: "unavailable", wantMsg: "answered HTTP 503"},
		{name: "throttled", setup: func(s *gcptest.Server) { s.FailTokenNext(1, 429) }, wantClass: "throttled", wantMsg: "answered HTTP 429"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, s, _ := newProvider(t)
			s.PutSecret("te", "token-endpoint-value")
			tc.setup(s)
			_, err := p.Get(t.Context(), "te")
			require.Error(t, err)
			assert.Equal(t, tc.wantClass, resolver.Class(err), "%v", err)
			assert.ErrorContains(t, err, `secret "te": get an access token: `)
			assert.ErrorContains(t, err, `token endpoint 127.0.0.1:`)
			assert.ErrorContains(t, err, tc.wantMsg)
			assert.Zero(t, s.TotalCalls(), "no call without a token")
			assert.NotContains(t, err.Error(), "error_description")
		})
	}

	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		s := gcptest.New(t)
		key := s.WriteKeyFile(map[string]any{"token_uri": "https://127.0.0.1:1/token"})
		env := envMap(s.Env())
		env["GOOGLE_APPLICATION_CREDENTIALS"] = key
		p, _ := open(t, settingsFor(s), env)
		_, err := p.Get(t.Context(), "x")
		require.Error(t, err)
		assert.Equal(t, "unavailable", resolver.Class(err), "%v", err)
		assert.ErrorContains(t, err, "token endpoint 127.0.0.1:1 unreachable")
	})

	t.Run("recovers", func(t *testing.T) {
		t.Parallel()
		p, s, _ := newProvider(t)
		s.PutSecret("te", "token-endpoint-value")
		s.FailTokenNext(1, 500)
		_, err := p.Get(t.Context(), "te")
		require.ErrorIs(t, err, resolver.ErrUnavailable)
		v, err := p.Get(t.Context(), "te")
		require.NoError(t, err)
		assert.Equal(t, "token-endpoint-value", v.Value())
		assert.Equal(t, 2, s.Calls(gcptest.OpToken))
	})
}

// TestTokenReused: one token serves many calls while it is valid.
func TestTokenReused(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	s.PutSecret("tr", "reuse-value")
	for range 5 {
		_, err := p.Get(t.Context(), "tr")
		require.NoError(t, err)
	}
	assert.Equal(t, 1, s.Calls(gcptest.OpToken))
	assert.Equal(t, 5, s.TotalCalls())
	tokens := map[string]bool{}
	for _, c := range s.CallLog() {
		if c.Op == gcptest.OpAccessSecretVersion {
			tokens[c.Token] = true
		}
	}
	assert.Len(t, tokens, 1)
}

// TestTokenExpiry: a token about to expire (within the 3m45s early
// window) is replaced before the call.
func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t, gcptest.WithTokenLifetime(3*time.Minute))
	s.PutSecret("tx", "expiry-value")
	for range 3 {
		_, err := p.Get(t.Context(), "tx")
		require.NoError(t, err)
	}
	assert.Equal(t, 3, s.Calls(gcptest.OpToken), "a token that expires within 3m45s is never used twice")
}

// TestMetadataServer is the GKE Workload Identity path: no key file, the
// token from the metadata server named by GCE_METADATA_HOST.
func TestMetadataServer(t *testing.T) {
	t.Parallel()
	s := gcptest.New(t)
	s.PutSecret("md", "metadata-value")
	p, log := open(t, settingsFor(s), envMap(s.MetadataEnv()))
	for range 2 {
		v, err := p.Get(t.Context(), "md")
		require.NoError(t, err)
		assert.Equal(t, "metadata-value", v.Value())
	}
	assert.Equal(t, 1, s.Calls(gcptest.OpMetadataToken))
	assert.Zero(t, s.Calls(gcptest.OpToken))
	assert.Contains(t, log.String(), "credentials=\"metadata server "+s.MetadataHost()+"\"")

	s.RevokeTokens()
	_, err := p.Get(t.Context(), "md")
	require.NoError(t, err)
	assert.Equal(t, 2, s.Calls(gcptest.OpMetadataToken), "refreshed after UNAUTHENTICATED")

	t.Run("no service account", func(t *testing.T) {
		t.Parallel()
		s := gcptest.New(t)
		s.SetMetadataServiceAccount(false)
		p, _ := open(t, settingsFor(s), envMap(s.MetadataEnv()))
		_, err := p.Get(t.Context(), "md")
		require.Error(t, err)
		assert.Equal(t, "permission", resolver.Class(err), "%v", err)
		assert.ErrorContains(t, err, "has no service account for this workload (HTTP 404; on GKE, enable Workload Identity")
		assert.Zero(t, s.TotalCalls())
	})

	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		s := gcptest.New(t)
		env := envMap(s.MetadataEnv())
		env["GCE_METADATA_HOST"] = "127.0.0.1:1"
		p, _ := open(t, settingsFor(s), env)
		_, err := p.Get(t.Context(), "md")
		require.Error(t, err)
		assert.Equal(t, "unavailable", resolver.Class(err), "%v", err)
		assert.ErrorContains(t, err, "metadata server 127.0.0.1:1 unreachable (outside GCP, set GOOGLE_APPLICATION_CREDENTIALS)")
	})
}

// TestThroughResolver runs the Provider under the resolver with cmd's
// limits: one call per id (BatchSize 1), shared ids fetched once, and a
// warm Resolve makes none.
func TestThroughResolver(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	var refs []resolver.StoreRef
	want := map[string]string{}
	for i := range 30 {
		id := fmt.Sprintf("openmetadata_database_svc_%02d_password", i)
		s.PutSecret(id, "through-"+id)
		want[id] = "through-" + id
		refs = append(refs, resolver.StoreRef{Store: "gcp", Ref: resolver.Ref{ID: id}})
	}
	refs = append(refs, refs[3], refs[4])
	r := resolver.New(resolver.Options{
		Stores:   map[string]resolver.Getter{"gcp": p},
		Limits:   map[string]resolver.Limit{"gcp": gcpsm.Spec.Limit},
		CacheTTL: time.Hour,
		Logger:   slog.New(slog.DiscardHandler),
	})
	vals, err := r.Resolve(t.Context(), refs)
	require.NoError(t, err)
	got := map[string]string{}
	for sr, v := range vals {
		got[sr.Ref.ID] = v.Value()
	}
	assert.Equal(t, want, got)
	assert.Equal(t, 30, s.TotalCalls())
	_, err = r.Resolve(t.Context(), refs)
	require.NoError(t, err)
	assert.Equal(t, 30, s.TotalCalls(), "warm: no call")
}

// TestVersionToken: a value carries the resource name of the version it
// was read from, for "latest" too, and a new version gives a new token.
func TestVersionToken(t *testing.T) {
	t.Parallel()
	p, s, _ := newProvider(t)
	s.PutSecret("versioned", "gcp-version-1")
	v1, err := p.Get(t.Context(), "versioned")
	require.NoError(t, err)
	assert.True(t, strings.HasSuffix(v1.Version(), "/secrets/versioned/versions/1"), v1.Version())
	s.PutSecret("versioned", "gcp-version-2")
	v2, err := p.Get(t.Context(), "versioned")
	require.NoError(t, err)
	assert.True(t, strings.HasSuffix(v2.Version(), "/secrets/versioned/versions/2"), v2.Version())
}
