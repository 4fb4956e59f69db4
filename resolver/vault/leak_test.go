package vault_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/vaulttest"
	"omsecrets/resolver/vault"
)

// leaks collects every error message a test produced.
type leaks struct {
	mu   sync.Mutex
	msgs []string
}

func (l *leaks) add(err error) {
	if err == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msgs = append(l.msgs, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
}

// check fails t if a message or log holds one of secrets.
func (l *leaks) check(t *testing.T, logs string, secrets []string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range secrets {
		require.GreaterOrEqual(t, len(s), 8, "a planted secret must be distinctive")
		for _, m := range l.msgs {
			// Do not print the message: it holds the secret.
			assert.False(t, strings.Contains(m, s), "an error message holds a planted secret (%d bytes)", len(s))
		}
		assert.False(t, strings.Contains(logs, s), "the log holds a planted secret (%d bytes)", len(s))
	}
}

// TestNoLeaks drives the Store through its failures and checks that no
// value, token, secret id or JWT reaches an error or the log.
func TestNoLeaks(t *testing.T) {
	t.Parallel()
	clk := newClock()
	srv := vaulttest.New(t, vaulttest.WithClock(clk.Now))
	values := []string{"leak-planted-value-alpha", "leak-planted-user-beta", "leak-planted-deleted-gamma", "leak-planted-denied-delta"}
	srv.Put("ok", map[string]any{"value": values[0], "username": values[1]})
	srv.Put("deleted", map[string]any{"value": values[2]})
	srv.Delete("deleted")
	srv.Put("destroyed", map[string]any{"value": values[2]})
	srv.Destroy("destroyed")
	srv.Put("denied", map[string]any{"value": values[3]})
	srv.DenyPath("secret/data/denied")
	srv.AddAppRole(vaulttest.AppRole{RoleID: roleID, SecretID: secretID, Token: vaulttest.TokenOptions{TTL: 30 * time.Second, MaxTTL: 50 * time.Second, Renewable: true}})
	srv.AddKubernetesRole(vaulttest.KubernetesRole{Role: "omsecrets", JWT: "leak-planted-other-jwt", Token: vaulttest.TokenOptions{TTL: time.Minute}})
	staticTok := srv.IssueToken(vaulttest.TokenOptions{TTL: 30 * time.Second})

	var l leaks
	f := &fixture{srv: srv, log: newLog()}
	read := func(s *vault.Store, ids ...string) {
		for _, id := range ids {
			v, err := s.Get(t.Context(), id)
			l.add(err)
			assert.NotContains(t, fmt.Sprint(v), "leak-planted", "a Secret prints redacted")
		}
	}
	all := []string{"/ok", "/missing", "/deleted", "/destroyed", "/denied", "/a/../b", "/a\x00b"}

	// Token auth: the server's token, then a short-lived one that
	// expires.
	root := f.open(t, t.Context(), func(o *vault.Options) { o.Clock = clk.Now })
	read(root, all...)
	for _, fault := range []func(){
		func() { srv.Seal(true) }, func() { srv.Seal(false); srv.Standby(true) },
		func() { srv.Standby(false); srv.Throttle(1, time.Second) },
		func() { srv.FailNext(1, 500) }, func() { srv.DropNext(1) },
	} {
		fault()
		read(root, "/ok")
	}
	short := f.open(t, t.Context(), func(o *vault.Options) { o.Auth = vault.Auth{Token: staticTok}; o.Clock = clk.Now })
	read(short, all...)
	clk.Advance(31 * time.Second)
	read(short, all...)

	// AppRole: logins, renewal, the max TTL, revocation, a wrong secret
	// id.
	ar := f.open(t, t.Context(), func(o *vault.Options) {
		o.Auth = vault.Auth{RoleIDFile: tempFile(t, "r", roleID), SecretIDFile: tempFile(t, "s", secretID)}
		o.Clock = clk.Now
	})
	read(ar, all...)
	for range 4 {
		clk.Advance(21 * time.Second)
		read(ar, "/ok", "/denied")
	}
	srv.RevokeToken(srv.Logins()[len(srv.Logins())-1].Token)
	clk.Advance(2 * time.Minute)
	read(ar, all...)
	bad := f.open(t, t.Context(), func(o *vault.Options) {
		o.Auth = vault.Auth{RoleIDFile: tempFile(t, "r", roleID), SecretIDFile: tempFile(t, "s", secretID+"-wrong")}
	})
	read(bad, all...)

	// Kubernetes with a JWT Vault refuses.
	k8s := f.open(t, t.Context(), func(o *vault.Options) { o.Auth = vault.Auth{Role: "omsecrets", JWTFile: tempFile(t, "jwt", k8sJWT)} })
	read(k8s, all...)

	secrets := append([]string{srv.Token, staticTok, secretID, roleID, k8sJWT, secretID + "-wrong"}, values...)
	for _, lg := range srv.Logins() {
		secrets = append(secrets, lg.Token)
	}
	l.check(t, f.log.String(), secrets)
	assert.NotEmpty(t, l.msgs)
}

// TestNoLeaksFromAHostileServer checks that answers quoting the token or
// holding values in the wrong places do not carry them into messages.
func TestNoLeaksFromAHostileServer(t *testing.T) {
	t.Parallel()
	const tok = "hvs.leak-planted-token-for-hostile"
	const value = "leak-planted-hostile-value"
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		sent := r.Header.Get("X-Vault-Token")
		switch r.URL.Path {
		case "/v1/auth/token/lookup-self":
			_, _ = fmt.Fprintf(w, `{"data":{"id":%q,"ttl":0,"renewable":false}}`, sent)
		case "/v1/secret/data/echo":
			w.WriteHeader(http.StatusForbidden)
			_, _ = fmt.Fprintf(w, `{"errors":["token %s is not allowed"]}`, sent)
		case "/v1/secret/data/malformed":
			_, _ = fmt.Fprintf(w, `{"data":{"data":{"value":%q}`, value)
		case "/v1/secret/data/not-object":
			_, _ = fmt.Fprintf(w, `{"data":{"data":%q}}`, value)
		case "/v1/secret/data/deleted":
			w.WriteHeader(http.StatusNotFound)
			_, _ = fmt.Fprintf(w, `{"data":{"data":{"value":%q},"metadata":{"deletion_time":%q,"version":3}}}`, value, value)
		case "/v1/secret/data/html":
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			_, _ = fmt.Fprintf(w, "<html>%s %s</html>", value, sent)
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"errors":[]}`))
		}
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	log := newLog()
	s, err := vault.New(t.Context(), vault.Options{
		Address: srv.URL, KVVersion: 2, Auth: vault.Auth{Token: tok},
		Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	require.NoError(t, err)
	var l leaks
	for _, id := range []string{"/echo", "/malformed", "/not-object", "/deleted", "/html"} {
		_, err := s.Get(t.Context(), id)
		require.Error(t, err, id)
		l.add(err)
	}
	l.check(t, log.String(), []string{tok, value})
	_, err = s.Get(t.Context(), "/deleted")
	assert.Contains(t, err.Error(), "the latest version (3) was deleted; undelete it")
}
