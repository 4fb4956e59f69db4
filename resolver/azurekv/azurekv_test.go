package azurekv_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/azuretest"
	"omsecrets/resolver"
	"omsecrets/resolver/azurekv"
	"omsecrets/resolver/resolvertest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	p, s, log := newStore(t, nil)
	s.PutSecret("openmetadata-database-mysql-password", "conf-value-a1")
	s.PutSecret("openmetadata-bot-ingestion-bot-config", `{"jwtToken":"conf-jwt-b2"}`)
	s.PutSecret("openmetadata-null", "null")
	s.PutSecret("openmetadata-empty", "")
	s.PutSecret("unicode", "conf-ünïcødé-☃")
	old := s.PutSecret("rotated", "conf-old-c3")
	s.PutSecret("rotated", "conf-new-d4")
	s.PutSecret("disabled", "conf-disabled-e5")
	s.SetEnabled("disabled", "", false)
	s.PutSecret("denied", "conf-denied-f6")
	s.Deny("denied")

	resolvertest.Run(t, p, []resolvertest.Case{
		{Name: "plain", ID: "openmetadata-database-mysql-password", Want: "conf-value-a1"},
		{Name: "case-insensitive", ID: "OpenMetadata-Database-MySQL-Password", Want: "conf-value-a1"},
		{Name: "json", ID: "openmetadata-bot-ingestion-bot-config", Want: `{"jwtToken":"conf-jwt-b2"}`},
		{Name: "null", ID: "openmetadata-null", WantNull: true},
		{Name: "empty", ID: "openmetadata-empty", Want: ""},
		{Name: "unicode", ID: "unicode", Want: "conf-ünïcødé-☃"},
		{Name: "latest", ID: "rotated", Want: "conf-new-d4"},
		{Name: "pinned", ID: "rotated/" + old, Want: "conf-old-c3"},
		{Name: "missing", ID: "missing", WantErr: resolver.ErrNotFound},
		{Name: "missing version", ID: "rotated/0123456789abcdef0123456789abcdef", WantErr: resolver.ErrNotFound},
		{Name: "disabled", ID: "disabled", WantErr: resolver.ErrPermission},
		{Name: "denied", ID: "denied", WantErr: resolver.ErrPermission},
		{Name: "underscore", ID: "openmetadata_database", WantErr: resolver.ErrBadRef},
		{Name: "aws style", ID: "/openmetadata/database/mysql/password", WantErr: resolver.ErrBadRef},
		{Name: "bad version", ID: "rotated/xyz", WantErr: resolver.ErrBadRef},
		{Name: "too long", ID: strings.Repeat("a", azurekv.MaxNameLen+1), WantErr: resolver.ErrBadRef},
	})
	assert.NotContains(t, log.String(), "conf-")
	assert.NotContains(t, log.String(), s.ClientSecret)
}

func TestErrorClasses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		setup      func(s *azuretest.Server)
		id         string
		timeout    time.Duration
		class      string
		retryAfter time.Duration
		contains   []string
	}{
		{name: "not found", class: "not_found", id: "missing", contains: []string{"404 SecretNotFound"}},
		{name: "disabled", setup: func(s *azuretest.Server) { s.SetEnabled("x", "", false) }, class: "permission", contains: []string{"is disabled", "SecretDisabled"}},
		{name: "denied", setup: func(s *azuretest.Server) { s.Deny("x") }, class: "permission", contains: []string{"Key Vault Secrets User", "ForbiddenByRbac"}},
		{name: "no role", setup: func(s *azuretest.Server) { s.DenyAll(true) }, class: "permission", contains: []string{"403"}},
		{name: "revoked token", setup: func(s *azuretest.Server) { s.RevokeTokens() }, class: "permission", contains: []string{"refused the token", "401"}},
		{name: "throttled", setup: func(s *azuretest.Server) { s.SetRetryAfter(2 * time.Second); s.Throttle(1) }, class: "throttled", retryAfter: 2 * time.Second, contains: []string{"429 Throttled"}},
		{name: "429 without Retry-After", setup: func(s *azuretest.Server) { s.FailNext(1, http.StatusTooManyRequests) }, class: "throttled"},
		{name: "500", setup: func(s *azuretest.Server) { s.FailNext(1, http.StatusInternalServerError) }, class: "unavailable", contains: []string{"500 InternalServerError"}},
		{name: "503 with Retry-After", setup: func(s *azuretest.Server) {
			s.SetRetryAfter(3 * time.Second)
			s.FailNext(1, http.StatusServiceUnavailable)
		}, class: "unavailable", retryAfter: 3 * time.Second},
		{name: "other 4xx", setup: func(s *azuretest.Server) { s.FailNext(1, http.StatusTeapot) }, class: "permission", contains: []string{"418"}},
		{name: "dropped", setup: func(s *azuretest.Server) { s.SetDropping(true) }, class: "unavailable"},
		{name: "slow", setup: func(s *azuretest.Server) { s.SetLatency(300 * time.Millisecond) }, timeout: 30 * time.Millisecond, class: "unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, s, _ := newStore(t, nil)
			s.PutSecret("x", "class-value")
			// Get a token first, so that faults meet the GetSecret call.
			_, err := p.Get(t.Context(), "x")
			require.NoError(t, err)
			if tc.setup != nil {
				tc.setup(s)
			}
			id := tc.id
			if id == "" {
				id = "x"
			}
			ctx := t.Context()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			_, err = p.Get(ctx, id)
			require.Error(t, err)
			assert.Equal(t, tc.class, resolver.Class(err), "%v", err)
			assert.Contains(t, err.Error(), fmt.Sprintf("secret %q in vault 127.0.0.1:", id))
			assert.NotContains(t, err.Error(), "\n")
			for _, c := range tc.contains {
				assert.Contains(t, err.Error(), c)
			}
			ra, ok := resolver.RetryAfter(err)
			assert.Equal(t, tc.retryAfter > 0, ok, "Retry-After hint")
			assert.Equal(t, tc.retryAfter, ra)
			assert.NotContains(t, err.Error(), "class-value")
		})
	}
}

// TestOneAttemptPerCall checks that neither the Key Vault client nor the
// credential retries: every failing call is one request.
func TestOneAttemptPerCall(t *testing.T) {
	t.Parallel()
	p, s, _ := newStore(t, nil)
	s.PutSecret("x", "v")
	_, err := p.Get(t.Context(), "x")
	require.NoError(t, err)
	for _, status := range []int{http.StatusInternalServerError, http.StatusServiceUnavailable, http.StatusTooManyRequests} {
		before := s.Calls(azuretest.OpGetSecret)
		s.FailNext(1, status)
		_, err := p.Get(t.Context(), "x")
		require.Error(t, err)
		assert.Equal(t, before+1, s.Calls(azuretest.OpGetSecret), "HTTP %d", status)
	}

	// The token endpoint likewise.
	p2, s2, _ := newStore(t, nil)
	s2.PutSecret("x", "v")
	s2.FailTokenNext(1, http.StatusServiceUnavailable)
	_, err = p2.Get(t.Context(), "x")
	require.Error(t, err)
	assert.Equal(t, "unavailable", resolver.Class(err))
	assert.Equal(t, 1, s2.Calls(azuretest.OpToken))
	_, err = p2.Get(t.Context(), "x")
	require.NoError(t, err, "the next call gets its token")
	assert.Equal(t, 2, s2.Calls(azuretest.OpToken))
}

// TestTokenReused checks that the store asks for a token once and sends
// the challenge request once, whatever the number of reads, concurrent
// first reads included.
func TestTokenReused(t *testing.T) {
	t.Parallel()
	p, s, _ := newStore(t, nil)
	for i := range 10 {
		s.PutSecret(fmt.Sprintf("s%d", i), "v")
	}
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			_, err := p.Get(t.Context(), fmt.Sprintf("s%d", i))
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	for i := range 10 {
		_, err := p.Get(t.Context(), fmt.Sprintf("s%d", i))
		require.NoError(t, err)
	}
	assert.Equal(t, 20, s.Calls(azuretest.OpGetSecret))
	assert.Equal(t, 1, s.Calls(azuretest.OpChallenge), "concurrent first reads wait for the first to learn the challenge")
	assert.Equal(t, 1, s.Calls(azuretest.OpToken))
	assert.Equal(t, 0, s.Calls(azuretest.OpInstanceDiscovery))
	assert.Equal(t, 0, s.Calls(azuretest.OpBadToken))
}

func TestTokenRefused(t *testing.T) {
	t.Parallel()
	const wrong = "WRONG-client-secret-77aa"
	for _, tc := range []struct {
		name     string
		change   map[string]string
		class    string
		contains []string
	}{
		{"wrong secret", map[string]string{"AZURE_CLIENT_SECRET": wrong}, "permission", []string{"AADSTS7000215", "the client secret is not valid", "invalid_client", "HTTP 401"}},
		{"unknown client", map[string]string{"AZURE_CLIENT_ID": "11111111-2222-3333-4444-555555555555"}, "permission", []string{"AADSTS700016", "11111111-2222-3333-4444-555555555555"}},
		{"vault in another tenant", map[string]string{"AZURE_TENANT_ID": "99999999-8888-7777-6666-555555555555"}, "permission", []string{"99999999-8888-7777-6666-555555555555"}},
		{"authority down", map[string]string{"AZURE_AUTHORITY_HOST": "https://127.0.0.1:1/"}, "unavailable", []string{"127.0.0.1:1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, s, log := newStore(t, tc.change)
			s.PutSecret("x", "refused-value")
			_, err := p.Get(t.Context(), "x")
			require.Error(t, err)
			msg := err.Error()
			assert.Equal(t, tc.class, resolver.Class(err), msg)
			assert.NotContains(t, msg, "\n")
			assert.Contains(t, msg, `secret "x"`)
			assert.Contains(t, msg, "ClientSecretCredential")
			for _, c := range tc.contains {
				assert.Contains(t, msg, c)
			}
			for _, secret := range []string{s.ClientSecret, wrong} {
				assert.NotContains(t, msg, secret)
				assert.NotContains(t, fmt.Sprintf("%+v %#v", err, err), secret)
				assert.NotContains(t, log.String(), secret)
			}
			assert.Equal(t, 0, s.Calls(azuretest.OpGetSecret), "no token, no read")
		})
	}
}

// TestAdditionallyAllowedTenants checks that a vault in another tenant
// than the credential's is read when AZURE_ADDITIONALLY_ALLOWED_TENANTS
// allows it: the token is asked for in the vault's tenant.
func TestAdditionallyAllowedTenants(t *testing.T) {
	t.Parallel()
	p, s, _ := newStore(t, map[string]string{
		"AZURE_TENANT_ID":                    "99999999-8888-7777-6666-555555555555",
		"AZURE_ADDITIONALLY_ALLOWED_TENANTS": "11111111-0000-0000-0000-000000000000; " + azuretest.DefaultTenantID,
	})
	s.PutSecret("x", "v")
	v, err := p.Get(t.Context(), "x")
	require.NoError(t, err)
	assert.Equal(t, "v", v.Value())
}

func TestTokenEndpointFaults(t *testing.T) {
	t.Parallel()
	p, s, _ := newStore(t, nil)
	s.PutSecret("x", "v")
	s.SetRetryAfter(4 * time.Second)
	s.FailTokenNext(1, http.StatusTooManyRequests)
	_, err := p.Get(t.Context(), "x")
	require.Error(t, err)
	assert.Equal(t, "throttled", resolver.Class(err), "%v", err)
	ra, ok := resolver.RetryAfter(err)
	assert.True(t, ok)
	assert.Equal(t, 4*time.Second, ra)
	assert.Contains(t, err.Error(), "Microsoft Entra ID answered HTTP 429")

	s.FailTokenNext(1, http.StatusInternalServerError)
	_, err = p.Get(t.Context(), "x")
	assert.Equal(t, "unavailable", resolver.Class(err), "%v", err)
	_, err = p.Get(t.Context(), "x")
	assert.NoError(t, err)
}

func TestWorkloadIdentity(t *testing.T) {
	t.Parallel()
	const projected = "eyJhbGciOiJSUzI1NiJ9.projected-service-account-token.sig"
	srv := azuretest.New(t, azuretest.WithFederatedToken(projected))
	srv.PutSecret("x", "wi-value")
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "azure-identity-token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(projected), 0o600))
	env := srv.EnvMap()
	delete(env, "AZURE_CLIENT_SECRET")
	env["AZURE_FEDERATED_TOKEN_FILE"] = tokenFile
	log := &resolvertest.LogBuffer{}
	g, err := openEnv(t, env, log)
	require.NoError(t, err)
	v, err := g.Get(t.Context(), "x")
	require.NoError(t, err)
	assert.Equal(t, "wi-value", v.Value())
	assert.Contains(t, log.String(), "WorkloadIdentityCredential")

	// A token the federated credential does not match.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "other"), []byte("another-token"), 0o600))
	env["AZURE_FEDERATED_TOKEN_FILE"] = filepath.Join(dir, "other")
	g, err = openEnv(t, env, nil)
	require.NoError(t, err)
	_, err = g.Get(t.Context(), "x")
	require.Error(t, err)
	assert.Equal(t, "permission", resolver.Class(err), "%v", err)
	assert.Contains(t, err.Error(), "AADSTS70021")
	assert.NotContains(t, err.Error(), "another-token")

	// A token file that is not there.
	env["AZURE_FEDERATED_TOKEN_FILE"] = filepath.Join(dir, "missing")
	g, err = openEnv(t, env, nil)
	require.NoError(t, err)
	_, err = g.Get(t.Context(), "x")
	require.Error(t, err)
	assert.Equal(t, "permission", resolver.Class(err), "%v", err)
	assert.Contains(t, err.Error(), "WorkloadIdentityCredential")
}

// TestHostileIDs checks that every id Key Vault can never hold is refused
// before any request, as bad_ref with a one-line message naming the id.
func TestHostileIDs(t *testing.T) {
	t.Parallel()
	p, s, _ := newStore(t, nil)
	for _, tc := range []struct {
		name, id, reason string
	}{
		{"empty", "", "empty secret id"},
		{"huge", strings.Repeat("a", 100_000), "longer than 127"},
		{"128 characters", strings.Repeat("b", 128), "longer than 127"},
		{"NUL", "db\x00password", `'\x00'`},
		{"newline", "db\npassword", `'\n'`},
		{"carriage return", "db\rpassword", `'\r'`},
		{"tab", "db\tpassword", `'\t'`},
		{"space", "db password", "' '"},
		{"underscore", "mysql_prod", "'_'"},
		{"dot", "mysql.prod", "'.'"},
		{"umlaut", "pässword", "'ä'"},
		{"fullwidth", "ｄｂ", "'ｄ'"},
		{"right-to-left override", "db\u202epassword", `'\u202e'`},
		{"zero width joiner", "db\u200dpassword", `'\u200d'`},
		{"invalid UTF-8", "db\xffpassword", `'�'`},
		{"leading slash", "/openmetadata/db", "empty secret name"},
		{"parent", "../db", "'.'"},
		{"traversal in version", "db/../../keys/k", "a version is 32"},
		{"double slash", "db//0123456789abcdef0123456789abcdef", "a version is 32"},
		{"three parts", "db/0123456789abcdef0123456789abcdef/x", "a version is 32"},
		{"empty version", "db/", "a version is 32"},
		{"short version", "db/abc", "a version is 32"},
		{"version with dash", "db/0123456789abcdef-123456789abcdef", "a version is 32"},
		{"escaped slash", "db%2Fx", "'%'"},
		{"query", "db?api-version=1", "'?'"},
		{"fragment-like", "db#key", "'#'"},
		{"backslash", `db\x`, `'\\'`},
	} {
		_, err := p.Get(t.Context(), tc.id)
		require.Error(t, err, tc.name)
		msg := err.Error()
		assert.Equal(t, "bad_ref", resolver.Class(err), "%s: %v", tc.name, err)
		assert.NotContains(t, msg, "\n", tc.name)
		assert.Contains(t, msg, fmt.Sprintf("secret %q in vault", tc.id), tc.name)
		assert.Contains(t, msg, tc.reason, tc.name)
	}
	assert.Equal(t, 0, s.TotalCalls(), "refused before any request")
}

// TestNoValueLeaks plants a marker in every secret and uses a client
// secret that is a marker too, drives every failure path, and checks that
// no error message and no log line carries either.
func TestNoValueLeaks(t *testing.T) {
	t.Parallel()
	const marker = "LEAK-MARKER-3f9a"
	const clientSecret = "LEAK-CLIENT-SECRET-b71c"
	var msgs []string
	record := func(err error) {
		if err != nil {
			msgs = append(msgs, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
		}
	}
	p, s, log := newStore(t, map[string]string{"AZURE_CLIENT_SECRET": clientSecret}, azuretest.WithClient(azuretest.DefaultClientID, clientSecret))
	old := s.PutSecret("leak-a", marker)
	s.PutSecret("leak-a", marker+"-v2")
	s.PutSecret("leak-json", `{"password":"`+marker+`"}`)
	s.PutSecret("leak-off", marker)
	s.SetEnabled("leak-off", "", false)
	s.PutSecret("leak-denied", marker)
	s.Deny("leak-denied")
	ids := []string{"leak-a", "leak-a/" + old, "leak-json", "leak-off", "leak-denied", "leak-missing", "leak_bad", "leak-a/" + strings.Repeat("0", 32)}
	faults := []func(){
		func() {},
		func() { s.SetRetryAfter(time.Second); s.Throttle(1) },
		func() { s.FailNext(1, http.StatusInternalServerError) },
		func() { s.FailNext(1, http.StatusServiceUnavailable) },
		func() { s.SetDropping(true) },
		func() { s.RevokeTokens() },
	}
	for _, fault := range faults {
		for _, id := range ids {
			fault()
			_, err := p.Get(t.Context(), id)
			record(err)
			s.SetDropping(false)
		}
	}

	// Entra ID refusing the secret.
	wrong, _, wlog := newStore(t, map[string]string{"AZURE_CLIENT_SECRET": "LEAK-WRONG-SECRET-5d2e"})
	_, err := wrong.Get(t.Context(), "leak-a")
	require.Error(t, err)
	record(err)

	// An authority that echoes what it was sent, and a vault whose 200
	// answer does not decode and holds the value.
	evil := evilServers(t, s, marker)
	env := s.EnvMap()
	env["AZURE_CLIENT_SECRET"] = clientSecret
	env["AZURE_AUTHORITY_HOST"] = evil.URL + "/echo/"
	g, err := openEnv(t, env, log)
	require.NoError(t, err)
	_, err = g.Get(t.Context(), "leak-a")
	require.Error(t, err)
	assert.Equal(t, "permission", resolver.Class(err))
	record(err)
	env["AZURE_AUTHORITY_HOST"] = s.AuthorityHost()
	env["OMSECRETS_AZURE_KEY_VAULT_URL"] = evil.URL + "/"
	g, err = openEnv(t, env, log)
	require.NoError(t, err)
	_, err = g.Get(t.Context(), "leak-a")
	require.Error(t, err)
	assert.Equal(t, "unavailable", resolver.Class(err))
	assert.Contains(t, err.Error(), "malformed response")
	record(err)

	require.NotEmpty(t, msgs)
	b64 := base64.StdEncoding.EncodeToString([]byte(marker))
	for _, m := range msgs {
		for _, secret := range []string{marker, clientSecret, "LEAK-WRONG-SECRET-5d2e", b64} {
			assert.False(t, strings.Contains(m, secret), "an error message carries a secret")
		}
	}
	for _, l := range []string{log.String(), wlog.String()} {
		assert.NotContains(t, l, "LEAK-")
	}
	assert.True(t, slices.ContainsFunc(msgs, func(m string) bool { return strings.Contains(m, "is disabled") }))
}

// evilServers is one TLS server (with the test servers' certificate) that
// plays a vault answering 200 with a truncated body holding marker, and,
// under /echo/, an authority whose token endpoint answers 401 with the
// whole request form, client secret included, in its error fields.
func evilServers(t *testing.T, s *azuretest.Server, marker string) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/openid-configuration"):
			base := srv.URL + "/echo/" + s.TenantID
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"token_endpoint":%q,"authorization_endpoint":%q,"issuer":%q}`, base+"/oauth2/v2.0/token", base+"/oauth2/v2.0/authorize", base+"/v2.0")
		case strings.HasPrefix(r.URL.Path, "/echo/"):
			_ = r.ParseForm()
			form := r.PostForm.Encode() + " " + r.PostForm.Get("client_secret")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"error":%q,"error_description":%q,"error_codes":[7000215]}`, r.PostForm.Get("client_secret"), form)
		case r.Header.Get("Authorization") == "":
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization="%s%s", resource="%s"`, s.AuthorityHost(), s.TenantID, azuretest.Resource))
			w.WriteHeader(http.StatusUnauthorized)
		default:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"value":"%s","id":"x",`, marker)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestThroughResolver runs the store under resolver.Resolver with its
// default limit: one call per id, a throttled call retried by the
// Resolver after the server's Retry-After, and the cache.
func TestThroughResolver(t *testing.T) {
	t.Parallel()
	p, s, _ := newStore(t, nil)
	var refs []resolver.StoreRef
	want := map[string]string{}
	for i := range 12 {
		id := fmt.Sprintf("openmetadata-database-svc%02d-password", i)
		s.PutSecret(id, "through-"+id)
		want[id] = "through-" + id
		refs = append(refs, resolver.StoreRef{Store: azurekv.Name, Ref: resolver.Ref{ID: id}})
	}
	refs = append(refs, refs[3], resolver.StoreRef{Store: azurekv.Name, Ref: resolver.Ref{ID: "openmetadata-missing"}})
	r := resolver.New(resolver.Options{
		Stores:   map[string]resolver.Getter{azurekv.Name: p},
		Limits:   map[string]resolver.Limit{azurekv.Name: azurekv.Spec.Limit},
		Retry:    resolver.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond},
		CacheTTL: time.Hour,
		Logger:   slog.New(slog.DiscardHandler),
	})
	// Warm the token so that the throttled answer meets a read.
	_, err := p.Get(t.Context(), refs[0].Ref.ID)
	require.NoError(t, err)
	s.Reset()

	s.SetRetryAfter(time.Second)
	s.Throttle(1)
	vals, err := r.Resolve(t.Context(), refs)
	got := map[string]string{}
	for sr, v := range vals {
		got[sr.Ref.ID] = v.Value()
	}
	assert.Equal(t, want, got)
	require.Error(t, err)
	assert.Equal(t, "not_found", resolver.Class(err))
	assert.Contains(t, err.Error(), "openmetadata-missing")
	assert.Equal(t, 13+1, s.Calls(azuretest.OpGetSecret), "one call per distinct id, plus the retry of the throttled one")

	// The throttled id was retried no sooner than the Retry-After.
	var throttledAt time.Time
	var throttled string
	for _, c := range s.CallLog() {
		if c.Status == http.StatusTooManyRequests {
			throttledAt, throttled = c.At, c.Name
		}
	}
	require.NotEmpty(t, throttled)
	for _, c := range s.CallLog() {
		if c.Name == throttled && c.Status == http.StatusOK {
			assert.GreaterOrEqual(t, c.At.Sub(throttledAt), time.Second, "Retry-After honoured")
		}
	}

	// Warm: no call.
	before := s.TotalCalls()
	_, _ = r.Resolve(t.Context(), refs[:12])
	assert.Equal(t, before, s.TotalCalls())
}

// TestFirstReadsWait checks the gate of the first reads: a read waiting
// behind the first gives up with its context, and reads stay one at a
// time while the vault does not answer.
func TestFirstReadsWait(t *testing.T) {
	t.Parallel()
	p, s, _ := newStore(t, nil)
	s.PutSecret("x", "v")
	s.SetLatency(300 * time.Millisecond)
	done := make(chan error, 1)
	go func() {
		_, err := p.Get(t.Context(), "x")
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // let the first read take the gate
	short, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := p.Get(short, "x")
	require.Error(t, err)
	assert.Equal(t, "unavailable", resolver.Class(err))
	require.NoError(t, <-done)
	assert.Equal(t, 1, s.Calls(azuretest.OpChallenge), "the waiting read sent nothing")

	p2, s2, _ := newStore(t, nil)
	s2.PutSecret("x", "v")
	s2.SetDropping(true)
	for range 2 {
		_, err := p2.Get(t.Context(), "x")
		assert.Equal(t, "unavailable", resolver.Class(err))
	}
	s2.SetDropping(false)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			_, err := p2.Get(t.Context(), "x")
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	assert.Equal(t, 1, s2.Calls(azuretest.OpToken))
	assert.Equal(t, 4, s2.Calls(azuretest.OpGetSecret))
}
