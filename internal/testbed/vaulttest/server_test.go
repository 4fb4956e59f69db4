package vaulttest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/vaulttest"
)

// client returns the real Vault SDK client pointed at s with token,
// without retries, reading nothing from the process environment that
// matters here.
func client(t *testing.T, s *vaulttest.Server, token string) *api.Client {
	t.Helper()
	c, err := api.NewClient(&api.Config{Address: s.URL(), HttpClient: s.Client(), MaxRetries: 0, Timeout: 5 * time.Second})
	require.NoError(t, err)
	c.SetToken(token)
	c.ClearNamespace()
	return c
}

// raw sends a request and returns the status, Retry-After and body.
func raw(t *testing.T, s *vaulttest.Server, method, path, token string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.URL()+"/v1/"+path, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	resp, err := s.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(b)
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestKVv2WithTheSDK(t *testing.T) {
	t.Parallel()
	s := vaulttest.New(t)
	c := client(t, s, s.Token)
	kv := c.KVv2(vaulttest.DefaultMount)

	assert.Equal(t, 1, s.Put("app/db", map[string]any{"value": "v1", "port": 5432}))
	assert.Equal(t, 2, s.Put("app/db", map[string]any{"value": "v2", "username": "u"}))
	sec, err := kv.Get(t.Context(), "app/db")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"value": "v2", "username": "u"}, sec.Data)
	assert.Equal(t, 2, sec.VersionMetadata.Version)

	old, err := kv.GetVersion(t.Context(), "app/db", 1)
	require.NoError(t, err)
	assert.Equal(t, "v1", old.Data["value"])
	assert.Equal(t, json.Number("5432"), old.Data["port"])

	meta, err := kv.GetMetadata(t.Context(), "app/db")
	require.NoError(t, err)
	assert.Equal(t, 2, meta.CurrentVersion)
	assert.Len(t, meta.Versions, 2)

	// A deleted latest version: 404 with data, which the SDK returns as
	// a secret without data and with its deletion time.
	s.Delete("app/db")
	sec, err = kv.Get(t.Context(), "app/db")
	require.NoError(t, err)
	assert.Nil(t, sec.Data)
	assert.False(t, sec.VersionMetadata.DeletionTime.IsZero())
	code, _, body := raw(t, s, http.MethodGet, "secret/data/app/db", s.Token)
	assert.Equal(t, http.StatusNotFound, code)
	assert.Contains(t, body, `"deletion_time":"20`)

	s.Put("app/gone", map[string]any{"value": "x"})
	s.Destroy("app/gone")
	sec, err = kv.Get(t.Context(), "app/gone")
	require.NoError(t, err)
	assert.True(t, sec.VersionMetadata.Destroyed)

	_, err = kv.Get(t.Context(), "app/missing")
	assert.ErrorIs(t, err, api.ErrSecretNotFound)
	code, _, body = raw(t, s, http.MethodGet, "secret/data/app/missing", s.Token)
	assert.Equal(t, http.StatusNotFound, code)
	assert.JSONEq(t, `{"errors":[]}`, body)

	s.Remove("app/db")
	_, err = kv.GetMetadata(t.Context(), "app/db")
	assert.Error(t, err)

	// Reading a v2 mount without /data/ is refused as Vault does.
	code, _, body = raw(t, s, http.MethodGet, "secret/app/gone", s.Token)
	assert.Equal(t, http.StatusNotFound, code)
	assert.Contains(t, body, "Invalid path for a versioned K/V secrets engine")
}

func TestKVv1AndMounts(t *testing.T) {
	t.Parallel()
	s := vaulttest.New(t)
	s.Mount("kv", 1)
	s.PutAt("", "kv", "a/b", map[string]any{"value": "one"})
	c := client(t, s, s.Token)
	sec, err := c.KVv1("kv").Get(t.Context(), "a/b")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"value": "one"}, sec.Data)
	_, err = c.KVv1("kv").Get(t.Context(), "a/missing")
	assert.ErrorIs(t, err, api.ErrSecretNotFound)

	m, err := c.Sys().GetMountWithContext(t.Context(), "kv")
	require.NoError(t, err)
	assert.Equal(t, "kv", m.Type)
	assert.Equal(t, map[string]string{"version": "1"}, m.Options)
	m, err = c.Sys().GetMountWithContext(t.Context(), "secret")
	require.NoError(t, err)
	assert.Equal(t, "2", m.Options["version"])

	ui, err := c.Logical().ReadWithContext(t.Context(), "sys/internal/ui/mounts/secret")
	require.NoError(t, err)
	assert.Equal(t, "secret/", ui.Data["path"])
	assert.Equal(t, map[string]any{"version": "2"}, ui.Data["options"])
	ui, err = c.Logical().ReadWithContext(t.Context(), "sys/internal/ui/mounts/kv/a/b")
	require.NoError(t, err, "a path under a mount names it")
	assert.Equal(t, "kv/", ui.Data["path"])

	code, _, _ := raw(t, s, http.MethodGet, "sys/internal/ui/mounts/nosuch", s.Token)
	assert.Equal(t, http.StatusForbidden, code, "as Vault: no listing of mounts through it")
	code, _, _ = raw(t, s, http.MethodGet, "sys/mounts/nosuch", s.Token)
	assert.Equal(t, http.StatusBadRequest, code)
	code, _, body := raw(t, s, http.MethodGet, "nosuch/data/x", s.Token)
	assert.Equal(t, http.StatusNotFound, code)
	assert.Contains(t, body, "no handler for route")
}

func TestTokens(t *testing.T) {
	t.Parallel()
	clk := &testClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := vaulttest.New(t, vaulttest.WithClock(clk.Now))
	tok := s.IssueToken(vaulttest.TokenOptions{TTL: time.Minute, MaxTTL: 90 * time.Second, Renewable: true})
	c := client(t, s, tok)

	self, err := c.Auth().Token().LookupSelfWithContext(t.Context())
	require.NoError(t, err)
	ttl, err := self.TokenTTL()
	require.NoError(t, err)
	assert.Equal(t, time.Minute, ttl)
	renewable, err := self.TokenIsRenewable()
	require.NoError(t, err)
	assert.True(t, renewable)

	clk.Advance(40 * time.Second)
	r, err := c.Auth().Token().RenewSelfWithContext(t.Context(), 0)
	require.NoError(t, err)
	assert.Equal(t, 50, r.Auth.LeaseDuration, "capped by the max TTL")
	r, err = c.Auth().Token().RenewSelfWithContext(t.Context(), 10)
	require.NoError(t, err)
	assert.Equal(t, 10, r.Auth.LeaseDuration, "an increment shorter than the TTL is granted")

	clk.Advance(11 * time.Second)
	_, err = c.Auth().Token().LookupSelfWithContext(t.Context())
	var re *api.ResponseError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, http.StatusForbidden, re.StatusCode)
	assert.Equal(t, []string{"permission denied"}, re.Errors)

	fixed := s.IssueToken(vaulttest.TokenOptions{TTL: time.Minute})
	_, err = client(t, s, fixed).Auth().Token().RenewSelfWithContext(t.Context(), 0)
	require.ErrorAs(t, err, &re)
	assert.Equal(t, http.StatusBadRequest, re.StatusCode)
	s.RevokeToken(fixed)
	code, _, _ := raw(t, s, http.MethodGet, "auth/token/lookup-self", fixed)
	assert.Equal(t, http.StatusForbidden, code)
	code, _, _ = raw(t, s, http.MethodGet, "auth/token/lookup-self", "")
	assert.Equal(t, http.StatusForbidden, code)
}

func TestLogins(t *testing.T) {
	t.Parallel()
	s := vaulttest.New(t)
	s.AddKubernetesRole(vaulttest.KubernetesRole{Role: "om", JWT: "the-jwt", Token: vaulttest.TokenOptions{TTL: time.Hour, Renewable: true}})
	s.AddAppRole(vaulttest.AppRole{Mount: "ar", RoleID: "rid", SecretID: "sid", Token: vaulttest.TokenOptions{TTL: 2 * time.Hour}})
	s.AddAppRole(vaulttest.AppRole{Mount: "ar", RoleID: "open-rid", Token: vaulttest.TokenOptions{TTL: time.Hour}})
	c := client(t, s, "")

	sec, err := c.Logical().WriteWithContext(t.Context(), "auth/kubernetes/login", map[string]any{"role": "om", "jwt": "the-jwt"})
	require.NoError(t, err)
	require.NotNil(t, sec.Auth)
	assert.True(t, strings.HasPrefix(sec.Auth.ClientToken, "hvs."))
	assert.Equal(t, 3600, sec.Auth.LeaseDuration)
	assert.True(t, sec.Auth.Renewable)
	// The issued token works.
	_, err = client(t, s, sec.Auth.ClientToken).Auth().Token().LookupSelfWithContext(t.Context())
	require.NoError(t, err)

	sec, err = c.Logical().WriteWithContext(t.Context(), "auth/ar/login", map[string]any{"role_id": "rid", "secret_id": "sid"})
	require.NoError(t, err)
	assert.Equal(t, 7200, sec.Auth.LeaseDuration)
	assert.False(t, sec.Auth.Renewable)
	_, err = c.Logical().WriteWithContext(t.Context(), "auth/ar/login", map[string]any{"role_id": "open-rid"})
	require.NoError(t, err, "a role without bind_secret_id")

	for _, bad := range []struct {
		path string
		body map[string]any
		code int
		msg  string
	}{
		{"auth/kubernetes/login", map[string]any{"role": "om", "jwt": "other"}, 403, "permission denied"},
		{"auth/kubernetes/login", map[string]any{"role": "nobody", "jwt": "the-jwt"}, 400, `invalid role name "nobody"`},
		{"auth/ar/login", map[string]any{"role_id": "rid", "secret_id": "wrong"}, 400, "invalid role or secret ID"},
		{"auth/ar/login", map[string]any{"role_id": "rid"}, 400, "invalid role or secret ID"},
		{"auth/nosuch/login", map[string]any{"role": "om"}, 404, "no handler for route"},
	} {
		_, err := c.Logical().WriteWithContext(t.Context(), bad.path, bad.body)
		var re *api.ResponseError
		require.ErrorAs(t, err, &re, bad.path)
		assert.Equal(t, bad.code, re.StatusCode, bad.path)
		assert.Contains(t, strings.Join(re.Errors, " "), bad.msg)
	}
	logins := s.Logins()
	require.Len(t, logins, 3)
	assert.Equal(t, "kubernetes", logins[0].Method)
	assert.Equal(t, vaulttest.Login{Method: "approle", Mount: "ar", Role: "rid", Token: logins[1].Token}, logins[1])

	s.SetAppRoleSecretID("", "ar", "rid", "sid2")
	_, err = c.Logical().WriteWithContext(t.Context(), "auth/ar/login", map[string]any{"role_id": "rid", "secret_id": "sid2"})
	require.NoError(t, err)
}

func TestNamespaces(t *testing.T) {
	t.Parallel()
	s := vaulttest.New(t)
	s.MountIn("team-a/", "kv", 2)
	s.PutAt("team-a", "kv", "x", map[string]any{"value": "in-a"})
	s.AddAppRole(vaulttest.AppRole{Namespace: "team-a", RoleID: "rid", Token: vaulttest.TokenOptions{TTL: time.Hour}})

	c := client(t, s, s.Token)
	_, err := c.KVv2("kv").Get(t.Context(), "x")
	require.Error(t, err, "not in the root namespace")
	c.SetNamespace("team-a")
	sec, err := c.KVv2("kv").Get(t.Context(), "x")
	require.NoError(t, err)
	assert.Equal(t, "in-a", sec.Data["value"])

	login := client(t, s, "")
	login.SetNamespace("team-a")
	a, err := login.Logical().WriteWithContext(t.Context(), "auth/approle/login", map[string]any{"role_id": "rid"})
	require.NoError(t, err)
	nsTok := a.Auth.ClientToken
	_, err = client(t, s, nsTok).Auth().Token().LookupSelfWithContext(t.Context())
	require.Error(t, err, "a namespace's token is not valid in the root namespace")
	inA := client(t, s, nsTok)
	inA.SetNamespace("/team-a")
	_, err = inA.KVv2("kv").Get(t.Context(), "x")
	require.NoError(t, err)

	_, err = client(t, s, "").Logical().WriteWithContext(t.Context(), "auth/approle/login", map[string]any{"role_id": "rid"})
	require.Error(t, err, "the role is the namespace's")

	var namespaces []string
	for _, call := range s.CallLog() {
		namespaces = append(namespaces, call.Namespace)
	}
	assert.Contains(t, namespaces, "team-a")
	assert.Contains(t, namespaces, "")
}

func TestDenyPath(t *testing.T) {
	t.Parallel()
	s := vaulttest.New(t)
	s.Put("a/one", map[string]any{"value": "1"})
	s.Put("b", map[string]any{"value": "2"})
	s.DenyPath("secret/data/a/*")
	s.DenyPath("secret/data/b")
	code, _, body := raw(t, s, http.MethodGet, "secret/data/a/one", s.Token)
	assert.Equal(t, http.StatusForbidden, code)
	assert.JSONEq(t, `{"errors":["permission denied"]}`, body)
	code, _, _ = raw(t, s, http.MethodGet, "secret/data/b", s.Token)
	assert.Equal(t, http.StatusForbidden, code)
	s.AllowPath("secret/data/b")
	code, _, _ = raw(t, s, http.MethodGet, "secret/data/b", s.Token)
	assert.Equal(t, http.StatusOK, code)
	code, _, _ = raw(t, s, http.MethodGet, "secret/data/bb", s.Token)
	assert.Equal(t, http.StatusNotFound, code, "an exact pattern is not a prefix")
}

func TestFaults(t *testing.T) {
	t.Parallel()
	s := vaulttest.New(t)
	s.Put("a", map[string]any{"value": "x"})

	s.Seal(true)
	code, _, body := raw(t, s, http.MethodGet, "secret/data/a", s.Token)
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.JSONEq(t, `{"errors":["Vault is sealed"]}`, body)
	s.Seal(false)
	s.Standby(true)
	code, _, body = raw(t, s, http.MethodGet, "secret/data/a", s.Token)
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.JSONEq(t, `{"errors":["Vault is in standby mode"]}`, body)
	s.Standby(false)

	s.Throttle(1, 1500*time.Millisecond)
	code, ra, body := raw(t, s, http.MethodGet, "secret/data/a", s.Token)
	assert.Equal(t, http.StatusTooManyRequests, code)
	assert.Equal(t, "2", ra)
	assert.Contains(t, body, "rate limit quota exceeded")
	s.FailNext(1, http.StatusBadGateway)
	code, _, _ = raw(t, s, http.MethodGet, "secret/data/a", s.Token)
	assert.Equal(t, http.StatusBadGateway, code)
	s.FailNextOn("secret/data/*", 1, http.StatusInternalServerError)
	code, _, _ = raw(t, s, http.MethodGet, "auth/token/lookup-self", s.Token)
	assert.Equal(t, http.StatusOK, code, "another path")
	code, _, _ = raw(t, s, http.MethodGet, "secret/data/a", s.Token)
	assert.Equal(t, http.StatusInternalServerError, code)
	code, _, _ = raw(t, s, http.MethodGet, "secret/data/a", s.Token)
	assert.Equal(t, http.StatusOK, code, "faults are counted")

	// net/http sends a GET again once when a reused connection drops,
	// so a drop that must be seen drops two.
	s.DropNext(2)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL()+"/v1/secret/data/a", nil)
	require.NoError(t, err)
	_, err = s.Client().Do(req)
	require.Error(t, err)

	s.SetLatency(100 * time.Millisecond)
	start := time.Now()
	code, _, _ = raw(t, s, http.MethodGet, "secret/data/a", s.Token)
	assert.Equal(t, http.StatusOK, code)
	assert.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
	s.SetLatency(0)

	code, _, _ = raw(t, s, http.MethodGet, "secret/data/a", "hvs.not-a-token")
	assert.Equal(t, http.StatusForbidden, code)
}

func TestCallCounting(t *testing.T) {
	t.Parallel()
	s := vaulttest.New(t)
	s.Put("a", map[string]any{"value": "x"})
	for range 3 {
		raw(t, s, http.MethodGet, "secret/data/a", s.Token)
	}
	raw(t, s, http.MethodGet, "secret/data/b", s.Token)
	s.Seal(true)
	raw(t, s, http.MethodGet, "secret/data/a", s.Token)
	s.Seal(false)
	assert.Equal(t, 4, s.Calls("secret/data/a"), "whatever the outcome")
	assert.Equal(t, 5, s.CallsWithPrefix("secret/data/"))
	assert.Equal(t, 5, s.TotalCalls())
	log := s.CallLog()
	require.Len(t, log, 5)
	assert.Equal(t, http.StatusOK, log[0].Status)
	assert.Equal(t, http.StatusNotFound, log[3].Status)
	assert.Equal(t, http.StatusServiceUnavailable, log[4].Status)
	assert.Equal(t, http.MethodGet, log[0].Method)
	assert.Empty(t, log[0].Header.Get("X-Vault-Token"), "the call log holds no token")
	s.Reset()
	assert.Zero(t, s.TotalCalls())
}

func TestEnv(t *testing.T) {
	t.Parallel()
	s := vaulttest.New(t)
	env := s.EnvMap()
	assert.Equal(t, s.URL(), env["VAULT_ADDR"])
	assert.True(t, strings.HasPrefix(env["VAULT_ADDR"], "https://127.0.0.1:"))
	assert.Equal(t, s.Token, env["VAULT_TOKEN"])
	pemBytes, err := os.ReadFile(env["SSL_CERT_FILE"])
	require.NoError(t, err)
	assert.Contains(t, string(pemBytes), "BEGIN CERTIFICATE")
	assert.Len(t, s.Env(), 3)

	h := vaulttest.New(t, vaulttest.WithHTTP())
	assert.False(t, h.TLS())
	assert.Empty(t, h.CACertFile())
	assert.Equal(t, []string{"VAULT_ADDR=" + h.URL(), "VAULT_TOKEN=" + h.Token}, h.Env())
	assert.True(t, strings.HasPrefix(h.URL(), "http://127.0.0.1:"))
	c := client(t, h, h.Token)
	_, err = c.Auth().Token().LookupSelfWithContext(t.Context())
	require.NoError(t, err)
}

func TestPanicsOnTestBugs(t *testing.T) {
	t.Parallel()
	s := vaulttest.New(t)
	assert.Panics(t, func() { s.Put("x", nil); s.PutAt("", "nosuch", "x", nil) })
	assert.Panics(t, func() { s.Mount("kv3", 3) })
}
