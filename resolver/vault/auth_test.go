package vault_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/vaulttest"
	"omsecrets/resolver"
	"omsecrets/resolver/vault"
)

const (
	roleID   = "7d2b1a3e-role-id-planted"
	secretID = "c0ffee00-secret-id-planted"
	k8sJWT   = "eyJhbGciOiJSUzI1NiJ9.planted-service-account-jwt.sig"
)

// appRole sets up an AppRole on the Server and returns the Store's Auth.
func appRole(t *testing.T, srv *vaulttest.Server, tok vaulttest.TokenOptions) vault.Auth {
	t.Helper()
	srv.AddAppRole(vaulttest.AppRole{RoleID: roleID, SecretID: secretID, Token: tok})
	return vault.Auth{Method: vault.MethodAppRole, RoleIDFile: tempFile(t, "role-id", roleID+"\n"), SecretIDFile: tempFile(t, "secret-id", secretID+"\n")}
}

func TestTokenRenewedBeforeTTL(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv := vaulttest.New(t, vaulttest.WithClock(clk.Now))
	tok := srv.IssueToken(vaulttest.TokenOptions{TTL: 30 * time.Second, Renewable: true})
	f := &fixture{srv: srv, log: newLog()}
	s := f.open(t, t.Context(), func(o *vault.Options) { o.Auth = vault.Auth{Token: tok}; o.Clock = clk.Now; o.KVVersion = 2 })
	srv.Put("a", map[string]any{"value": "x"})

	get(t, s, "/a")
	assert.Equal(t, 1, srv.Calls("auth/token/lookup-self"), "the TTL is learnt once")
	clk.Advance(15 * time.Second)
	get(t, s, "/a")
	assert.Zero(t, srv.Calls("auth/token/renew-self"), "not due before two thirds of the TTL")
	clk.Advance(6 * time.Second) // 21s: past 20s
	get(t, s, "/a")
	assert.Equal(t, 1, srv.Calls("auth/token/renew-self"))
	exp, _ := srv.TokenExpiry(tok)
	assert.Equal(t, clk.Now().Add(30*time.Second), exp, "renewed for its TTL")
	clk.Advance(21 * time.Second)
	get(t, s, "/a")
	assert.Equal(t, 2, srv.Calls("auth/token/renew-self"))
	// Well past the first expiry, the token still works.
	clk.Advance(21 * time.Second)
	get(t, s, "/a")
	assert.Equal(t, 3, srv.Calls("auth/token/renew-self"))
	assert.Equal(t, 5, srv.Calls("secret/data/a"))
	assert.Equal(t, 1, srv.Calls("auth/token/lookup-self"))
}

func TestAppRoleLoginAndRenewal(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv := vaulttest.New(t, vaulttest.WithClock(clk.Now))
	auth := appRole(t, srv, vaulttest.TokenOptions{TTL: time.Hour, Renewable: true})
	f := &fixture{srv: srv, log: newLog()}
	s := f.open(t, t.Context(), func(o *vault.Options) { o.Auth = auth; o.Clock = clk.Now; o.KVVersion = 2 })
	srv.Put("a", map[string]any{"value": "x"})

	get(t, s, "/a")
	logins := srv.Logins()
	require.Len(t, logins, 1)
	assert.Equal(t, vaulttest.Login{Method: "approle", Mount: "approle", Role: roleID, Token: logins[0].Token}, logins[0])
	assert.Zero(t, srv.Calls("auth/token/lookup-self"), "a login says the TTL")
	clk.Advance(41 * time.Minute)
	get(t, s, "/a")
	assert.Equal(t, 1, srv.Calls("auth/token/renew-self"))
	assert.Len(t, srv.Logins(), 1, "renewed, not logged in again")
}

// TestMaxTTLReached checks that a token whose renewals stop extending it
// (its max TTL) is replaced by a new login when due.
func TestMaxTTLReached(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv := vaulttest.New(t, vaulttest.WithClock(clk.Now))
	auth := appRole(t, srv, vaulttest.TokenOptions{TTL: 30 * time.Second, MaxTTL: 45 * time.Second, Renewable: true})
	f := &fixture{srv: srv, log: newLog()}
	s := f.open(t, t.Context(), func(o *vault.Options) { o.Auth = auth; o.Clock = clk.Now; o.KVVersion = 2 })
	srv.Put("a", map[string]any{"value": "x"})

	get(t, s, "/a")               // login: expires at 30s
	clk.Advance(21 * time.Second) // renew: capped at 45s, 24s left
	get(t, s, "/a")
	assert.Equal(t, 1, srv.Calls("auth/token/renew-self"))
	clk.Advance(17 * time.Second) // 38s: due at 21+16=37s; renewal cannot extend
	get(t, s, "/a")
	assert.Equal(t, 2, srv.Calls("auth/token/renew-self"))
	clk.Advance(5 * time.Second) // 43s: due again, not renewable: log in
	get(t, s, "/a")
	assert.Len(t, srv.Logins(), 2)
	assert.Equal(t, 2, srv.Calls("auth/token/renew-self"))
	clk.Advance(10 * time.Second) // 53s: past the first token's max TTL
	get(t, s, "/a")
}

func TestKubernetesLogin(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv := vaulttest.New(t, vaulttest.WithClock(clk.Now))
	srv.AddKubernetesRole(vaulttest.KubernetesRole{Mount: "k8s-prod", Role: "omsecrets", JWT: k8sJWT, Token: vaulttest.TokenOptions{TTL: 30 * time.Second}})
	jwtFile := tempFile(t, "token", k8sJWT)
	f := &fixture{srv: srv, log: newLog()}
	s := f.open(t, t.Context(), func(o *vault.Options) {
		o.Auth = vault.Auth{Role: "omsecrets", Mount: "/k8s-prod/", JWTFile: jwtFile}
		o.Clock = clk.Now
		o.KVVersion = 2
	})
	srv.Put("a", map[string]any{"value": "x"})

	get(t, s, "/a")
	logins := srv.Logins()
	require.Len(t, logins, 1)
	assert.Equal(t, "kubernetes", logins[0].Method)
	assert.Equal(t, "k8s-prod", logins[0].Mount)
	assert.Equal(t, "omsecrets", logins[0].Role)
	assert.Equal(t, 1, srv.Calls("auth/k8s-prod/login"))

	// Not renewable: a new login at two thirds of the TTL, with the
	// token file as it is then (the kubelet rotates it).
	const rotated = "eyJhbGciOiJSUzI1NiJ9.rotated-jwt.sig"
	srv.AddKubernetesRole(vaulttest.KubernetesRole{Mount: "k8s-prod", Role: "omsecrets", JWT: rotated, Token: vaulttest.TokenOptions{TTL: 30 * time.Second}})
	writeFile(t, jwtFile, rotated)
	clk.Advance(21 * time.Second)
	get(t, s, "/a")
	assert.Len(t, srv.Logins(), 2)
	assert.Zero(t, srv.Calls("auth/token/renew-self"))
}

// TestReloginAfter403 checks that a token Vault stopped accepting before
// its known expiry is replaced by one login and the read retried once.
func TestReloginAfter403(t *testing.T) {
	t.Parallel()
	for name, kill := range map[string]func(*vaulttest.Server, string){
		"revoked": (*vaulttest.Server).RevokeToken,
		"expired": (*vaulttest.Server).ExpireToken,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			clk := newClock()
			srv := vaulttest.New(t, vaulttest.WithClock(clk.Now))
			auth := appRole(t, srv, vaulttest.TokenOptions{TTL: time.Hour, Renewable: true})
			f := &fixture{srv: srv, log: newLog()}
			s := f.open(t, t.Context(), func(o *vault.Options) { o.Auth = auth; o.Clock = clk.Now; o.KVVersion = 2 })
			srv.Put("a", map[string]any{"value": "x"})
			get(t, s, "/a")
			clk.Advance(2 * time.Minute)

			kill(srv, srv.Logins()[0].Token)
			srv.Reset()
			assert.JSONEq(t, `{"value":"x"}`, get(t, s, "/a"))
			var paths []string
			for _, c := range srv.CallLog() {
				paths = append(paths, c.Path)
			}
			assert.Equal(t, []string{"secret/data/a", "auth/token/lookup-self", "auth/approle/login", "secret/data/a"}, paths)
		})
	}
}

// TestExpiredTokenReplacedFirst checks that a token past its known expiry
// is replaced before the read, without a 403.
func TestExpiredTokenReplacedFirst(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv := vaulttest.New(t, vaulttest.WithClock(clk.Now))
	auth := appRole(t, srv, vaulttest.TokenOptions{TTL: time.Minute})
	f := &fixture{srv: srv, log: newLog()}
	s := f.open(t, t.Context(), func(o *vault.Options) { o.Auth = auth; o.Clock = clk.Now; o.KVVersion = 2 })
	srv.Put("a", map[string]any{"value": "x"})
	get(t, s, "/a")
	clk.Advance(2 * time.Minute)
	srv.Reset()
	get(t, s, "/a")
	assert.Len(t, srv.Logins(), 1)
	for _, c := range srv.CallLog() {
		assert.NotEqual(t, http.StatusForbidden, c.Status, c.Path)
	}
}

// TestPolicyDenialIsNotRelogin checks that a 403 from a policy, the token
// being fine, costs no login: at most one lookup-self a minute.
func TestPolicyDenialIsNotRelogin(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv := vaulttest.New(t, vaulttest.WithClock(clk.Now))
	auth := appRole(t, srv, vaulttest.TokenOptions{TTL: time.Hour, Renewable: true})
	f := &fixture{srv: srv, log: newLog()}
	s := f.open(t, t.Context(), func(o *vault.Options) { o.Auth = auth; o.Clock = clk.Now; o.KVVersion = 2 })
	srv.DenyPath("secret/data/denied")

	for range 3 {
		_, err := s.Get(t.Context(), "/denied")
		require.ErrorIs(t, err, resolver.ErrPermission)
		assert.Contains(t, err.Error(), "(the token's policies must allow read on secret/data/denied)")
	}
	assert.Zero(t, srv.Calls("auth/token/lookup-self"), "the login confirmed the token less than a minute ago")
	clk.Advance(2 * time.Minute)
	for range 3 {
		_, err := s.Get(t.Context(), "/denied")
		require.ErrorIs(t, err, resolver.ErrPermission)
	}
	assert.Equal(t, 1, srv.Calls("auth/token/lookup-self"))
	assert.Len(t, srv.Logins(), 1)
}

// TestStaticTokenDead checks the messages of a VAULT_TOKEN Vault no
// longer accepts: nothing can replace it.
func TestStaticTokenDead(t *testing.T) {
	t.Parallel()
	t.Run("expired", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		srv := vaulttest.New(t, vaulttest.WithClock(clk.Now))
		tok := srv.IssueToken(vaulttest.TokenOptions{TTL: 30 * time.Second})
		f := &fixture{srv: srv, log: newLog()}
		s := f.open(t, t.Context(), func(o *vault.Options) { o.Auth = vault.Auth{Token: tok}; o.Clock = clk.Now; o.KVVersion = 2 })
		srv.Put("a", map[string]any{"value": "x"})
		get(t, s, "/a")
		clk.Advance(31 * time.Second)
		for range 2 {
			_, err := s.Get(t.Context(), "/a")
			require.ErrorIs(t, err, resolver.ErrPermission)
			assert.Contains(t, err.Error(), "the token has expired; give omsecrets a new one in VAULT_TOKEN")
			assert.NotContains(t, err.Error(), tok)
		}
		assert.Equal(t, 1, srv.Calls("auth/token/lookup-self"))
		assert.Zero(t, srv.Calls("auth/token/renew-self"))
	})
	t.Run("revoked", func(t *testing.T) {
		t.Parallel()
		srv := vaulttest.New(t)
		tok := srv.IssueToken(vaulttest.TokenOptions{})
		f := &fixture{srv: srv, log: newLog()}
		s := f.open(t, t.Context(), func(o *vault.Options) {
			o.Auth = vault.Auth{Token: tok, TokenSource: "BAO_TOKEN"}
			o.KVVersion = 2
		})
		srv.Put("a", map[string]any{"value": "x"})
		get(t, s, "/a")
		srv.RevokeToken(tok)
		_, err := s.Get(t.Context(), "/a")
		require.ErrorIs(t, err, resolver.ErrPermission)
		// Confirmed by the lookup less than a minute ago: a policy?
		assert.Contains(t, err.Error(), "the token's policies must allow read")
	})
	t.Run("lookup refused", func(t *testing.T) {
		t.Parallel()
		srv := vaulttest.New(t)
		f := &fixture{srv: srv, log: newLog()}
		srv.DenyPath("auth/token/lookup-self")
		s := f.open(t, t.Context(), func(o *vault.Options) { o.KVVersion = 2 })
		srv.Put("a", map[string]any{"value": "x"})
		get(t, s, "/a")
		get(t, s, "/a")
		out := f.log.String()
		assert.Equal(t, 1, strings.Count(out, "cannot look up the Vault token"), out)
		assert.NotContains(t, out, srv.Token)
	})
}

// TestTokenFile checks that a token file is read again when it changes.
func TestTokenFile(t *testing.T) {
	t.Parallel()
	srv := vaulttest.New(t)
	tok1 := srv.IssueToken(vaulttest.TokenOptions{})
	file := tempFile(t, "vault-token", tok1+"\n")
	f := &fixture{srv: srv, log: newLog()}
	s := f.open(t, t.Context(), func(o *vault.Options) {
		o.Auth = vault.Auth{TokenFile: file, Token: srv.Token}
		o.KVVersion = 2
	})
	srv.Put("a", map[string]any{"value": "x"})
	get(t, s, "/a")

	tok2 := srv.IssueToken(vaulttest.TokenOptions{})
	writeFile(t, file, tok2)
	srv.RevokeToken(tok1)
	get(t, s, "/a")
	assert.Equal(t, 2, srv.Calls("auth/token/lookup-self"))

	// A token file that Vault no longer accepts, and that does not
	// change, says so.
	srv.RevokeToken(tok2)
	_, err := s.Get(t.Context(), "/a")
	require.ErrorIs(t, err, resolver.ErrPermission)
	assert.NotContains(t, err.Error(), tok2)

	// A token file that changes to something unusable leaves the last
	// token in use, and says so.
	writeFile(t, file, "\n")
	_, err = s.Get(t.Context(), "/a")
	require.ErrorIs(t, err, resolver.ErrPermission)
	assert.Contains(t, f.log.String(), "the Vault token file "+file+" is empty")

	// An empty or missing file at the start is a permission failure
	// naming it.
	for _, name := range []string{file, file + ".missing"} {
		g := f.open(t, t.Context(), func(o *vault.Options) { o.Auth = vault.Auth{TokenFile: name}; o.KVVersion = 2 })
		_, err = g.Get(t.Context(), "/a")
		require.ErrorIs(t, err, resolver.ErrPermission)
		assert.Contains(t, err.Error(), name)
	}
}

// TestLoginFailures checks that a refused login is permission, names the
// method, mount and role, and never the secrets; and that a refusing
// Vault is not asked again at once.
func TestLoginFailures(t *testing.T) {
	t.Parallel()
	srv := vaulttest.New(t)
	srv.AddAppRole(vaulttest.AppRole{RoleID: roleID, SecretID: "another-secret-id", Token: vaulttest.TokenOptions{TTL: time.Hour}})
	srv.AddKubernetesRole(vaulttest.KubernetesRole{Role: "omsecrets", JWT: "another-jwt", Token: vaulttest.TokenOptions{TTL: time.Hour}})
	roleFile, secretFile := tempFile(t, "role-id", roleID), tempFile(t, "secret-id", secretID)
	jwtFile := tempFile(t, "jwt", k8sJWT)
	f := &fixture{srv: srv, log: newLog()}

	cases := []struct {
		name string
		auth vault.Auth
		want string
	}{
		{"approle wrong secret id", vault.Auth{Method: vault.MethodAppRole, RoleIDFile: roleFile, SecretIDFile: secretFile},
			"approle login at auth/approle/login (role id from " + roleFile + ") refused (HTTP 400): invalid role or secret ID"},
		{"kubernetes wrong JWT", vault.Auth{Method: vault.MethodKubernetes, Role: "omsecrets", JWTFile: jwtFile},
			`kubernetes login at auth/kubernetes/login (role "omsecrets") refused (HTTP 403): permission denied`},
		{"kubernetes unknown role", vault.Auth{Method: vault.MethodKubernetes, Role: "nobody", JWTFile: jwtFile},
			`kubernetes login at auth/kubernetes/login (role "nobody") refused (HTTP 400): invalid role name "nobody"`},
		{"no such auth mount", vault.Auth{Method: vault.MethodKubernetes, Role: "omsecrets", Mount: "k8s-missing", JWTFile: jwtFile},
			`kubernetes login at auth/k8s-missing/login (role "omsecrets") refused (HTTP 404)`},
		{"missing JWT file", vault.Auth{Method: vault.MethodKubernetes, Role: "omsecrets", JWTFile: jwtFile + ".missing"},
			"read the Kubernetes service account token file " + jwtFile + ".missing: no such file or directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := f.open(t, t.Context(), func(o *vault.Options) { o.Auth = c.auth; o.KVVersion = 2 })
			before := srv.CallsWithPrefix("auth/")
			for range 3 {
				_, err := s.Get(t.Context(), "/a")
				require.ErrorIs(t, err, resolver.ErrPermission)
				assert.Equal(t, "permission", resolver.Class(err))
				assert.Contains(t, err.Error(), c.want)
				for _, secret := range []string{secretID, k8sJWT, roleID} {
					assert.NotContains(t, err.Error(), secret)
				}
			}
			assert.LessOrEqual(t, srv.CallsWithPrefix("auth/")-before, 1, "one login attempt per second at most")
		})
	}
}

// TestLoginRecovers checks that after a refused login, fixing the
// credentials is enough.
func TestLoginRecovers(t *testing.T) {
	t.Parallel()
	srv := vaulttest.New(t)
	auth := appRole(t, srv, vaulttest.TokenOptions{TTL: time.Hour})
	srv.SetAppRoleSecretID("", "", roleID, "rotated-secret-id")
	f := &fixture{srv: srv, log: newLog()}
	s := f.open(t, t.Context(), func(o *vault.Options) { o.Auth = auth; o.KVVersion = 2 })
	srv.Put("a", map[string]any{"value": "x"})
	_, err := s.Get(t.Context(), "/a")
	require.ErrorIs(t, err, resolver.ErrPermission)
	writeFile(t, auth.SecretIDFile, "rotated-secret-id")
	time.Sleep(1100 * time.Millisecond) // the retry gap
	assert.JSONEq(t, `{"value":"x"}`, get(t, s, "/a"))
}

// TestLoginScrubsSecrets checks that a Vault (or proxy) error quoting the
// credentials does not carry them into the message.
func TestLoginScrubsSecrets(t *testing.T) {
	t.Parallel()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"errors":["bad secret_id ` + secretID + ` for role_id ` + roleID + `\u0007\n"]}`))
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	s, err := vault.New(t.Context(), vault.Options{
		Address:   srv.URL,
		KVVersion: 2,
		Auth:      vault.Auth{Method: vault.MethodAppRole, RoleIDFile: tempFile(t, "r", roleID), SecretIDFile: tempFile(t, "s", secretID)},
	})
	require.NoError(t, err)
	_, err = s.Get(t.Context(), "/a")
	require.ErrorIs(t, err, resolver.ErrPermission)
	assert.NotContains(t, err.Error(), secretID)
	assert.NotContains(t, err.Error(), roleID)
	assert.Contains(t, err.Error(), "bad secret_id [redacted] for role_id [redacted]")
	assert.NotContains(t, err.Error(), "\n")
}

// TestLoginInNamespace checks that the login carries the namespace.
func TestLoginInNamespace(t *testing.T) {
	t.Parallel()
	srv := vaulttest.New(t)
	srv.MountIn("team-a", "secret", 2)
	srv.PutAt("team-a", "secret", "a", map[string]any{"value": "ns"})
	srv.AddAppRole(vaulttest.AppRole{Namespace: "team-a", RoleID: roleID, SecretID: secretID, Token: vaulttest.TokenOptions{TTL: time.Hour}})
	f := &fixture{srv: srv, log: newLog()}
	s := f.open(t, t.Context(), func(o *vault.Options) {
		o.Namespace = "team-a"
		o.Auth = vault.Auth{RoleIDFile: tempFile(t, "r", roleID), SecretIDFile: tempFile(t, "s", secretID)}
	})
	assert.JSONEq(t, `{"value":"ns"}`, get(t, s, "/a"))
	for _, c := range srv.CallLog() {
		assert.Equal(t, "team-a", c.Namespace, c.Path)
	}
	assert.Equal(t, 1, srv.Calls("auth/approle/login"))
}

// TestBackgroundRenewal checks, in real time, that the token is renewed
// at two thirds of its TTL without any Get.
func TestBackgroundRenewal(t *testing.T) {
	t.Parallel()
	srv := vaulttest.New(t)
	auth := appRole(t, srv, vaulttest.TokenOptions{TTL: 3 * time.Second, Renewable: true})
	f := &fixture{srv: srv, log: newLog()}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	s := f.open(t, ctx, func(o *vault.Options) { o.Auth = auth; o.KVVersion = 2 })
	srv.Put("a", map[string]any{"value": "x"})
	get(t, s, "/a")
	first, _ := srv.TokenExpiry(srv.Logins()[0].Token)
	require.Eventually(t, func() bool { return srv.Calls("auth/token/renew-self") >= 1 }, 10*time.Second, 50*time.Millisecond)
	assert.Equal(t, 1, srv.Calls("secret/data/a"), "renewed with no Get")
	exp, _ := srv.TokenExpiry(srv.Logins()[0].Token)
	assert.True(t, exp.After(first), "the renewal extended the token")
	cancel()
	assert.Len(t, srv.Logins(), 1)
}

// TestCanceledLoginIsNotRemembered checks that a login that failed
// because its caller gave up does not fail the next caller.
func TestCanceledLoginIsNotRemembered(t *testing.T) {
	t.Parallel()
	srv := vaulttest.New(t)
	auth := appRole(t, srv, vaulttest.TokenOptions{TTL: time.Hour})
	f := &fixture{srv: srv, log: newLog()}
	s := f.open(t, t.Context(), func(o *vault.Options) { o.Auth = auth; o.KVVersion = 2 })
	srv.Put("a", map[string]any{"value": "x"})
	srv.SetLatency(time.Second)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := s.Get(ctx, "/a")
	require.ErrorIs(t, err, resolver.ErrUnavailable)
	srv.SetLatency(0)
	assert.JSONEq(t, `{"value":"x"}`, get(t, s, "/a"))
}
