package vault_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/vaulttest"
	"omsecrets/resolver"
	"omsecrets/resolver/resolvertest"
	"omsecrets/resolver/vault"
)

// settingsFrom fills the spec's settings from env as cmd does: the first
// of a setting's Env variables that is set, else its default (cmd also
// reads the OMSECRETS_ twin and the flag first).
func settingsFrom(env map[string]string, extra map[string]string) map[string]string {
	out := map[string]string{}
	for _, s := range vault.Spec.Settings {
		out[s.Name] = s.Default
		for _, n := range s.Env {
			if v := env[n]; v != "" {
				out[s.Name] = v
				break
			}
		}
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

func openSpec(t *testing.T, env, extra map[string]string) (resolver.Getter, *resolvertest.LogBuffer, error) {
	t.Helper()
	log := newLog()
	g, err := vault.Spec.Open(t.Context(), resolver.StoreConfig{
		Settings: settingsFrom(env, extra),
		Env:      env,
		Logger:   slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})).With("store", "vault"),
	})
	return g, log, err
}

func TestSpec(t *testing.T) {
	t.Parallel()
	s := vault.Spec
	assert.Equal(t, "vault", s.Name)
	assert.Equal(t, vault.Name, s.Name)
	assert.Equal(t, []string{"vault"}, s.Providers)
	assert.NotEmpty(t, s.Summary)
	assert.Equal(t, 1, s.BatchSize)
	assert.Equal(t, resolver.Limit{Rate: 100, Burst: 20}, s.Limit)
	require.NotNil(t, s.Open)
	names := map[string]resolver.Setting{}
	for _, set := range s.Settings {
		assert.True(t, strings.HasPrefix(set.Name, "vault-"), set.Name)
		assert.NotEmpty(t, set.Usage, set.Name)
		_, dup := names[set.Name]
		assert.False(t, dup, set.Name)
		names[set.Name] = set
		for _, e := range set.Env {
			assert.NotEqual(t, "VAULT_TOKEN", e, "the token is never a flag")
		}
	}
	assert.Equal(t, []string{"VAULT_ADDR", "BAO_ADDR"}, names["vault-addr"].Env)
	assert.Equal(t, []string{"VAULT_NAMESPACE", "BAO_NAMESPACE"}, names["vault-namespace"].Env)
	assert.Equal(t, []string{"VAULT_CACERT", "BAO_CACERT"}, names["vault-cacert"].Env)
	assert.Equal(t, []string{"VAULT_CAPATH", "BAO_CAPATH"}, names["vault-capath"].Env)
	assert.Equal(t, "secret", names["vault-mount"].Default)
	assert.Equal(t, "auto", names["vault-kv-version"].Default)
	assert.Equal(t, "false", names["vault-allow-insecure-tls"].Default)
	assert.Equal(t, vault.DefaultKubernetesTokenFile, names["vault-kubernetes-token-file"].Default)
}

func TestSpecNotConfigured(t *testing.T) {
	t.Parallel()
	g, _, err := openSpec(t, map[string]string{"VAULT_TOKEN": "hvs.x"}, nil)
	assert.Nil(t, g)
	require.ErrorIs(t, err, resolver.ErrNotConfigured)
	var nc *resolver.NotConfiguredError
	require.ErrorAs(t, err, &nc)
	assert.Equal(t, &resolver.NotConfiguredError{Store: "vault", Need: []string{"vault-addr"}}, nc)
}

// TestSpecEnv checks that the test server's Env alone points the store
// at it, over TLS and HTTP.
func TestSpecEnv(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string][]vaulttest.Option{"tls": nil, "http": {vaulttest.WithHTTP()}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := vaulttest.New(t, opts...)
			srv.Put("openmetadata/x", map[string]any{"value": "env-value"})
			env := srv.EnvMap()
			if name == "tls" {
				assert.Contains(t, srv.Env(), "SSL_CERT_FILE="+srv.CACertFile())
				assert.True(t, strings.HasPrefix(env["VAULT_ADDR"], "https://"))
			}
			g, log, err := openSpec(t, env, nil)
			require.NoError(t, err)
			v, err := g.Get(t.Context(), "/openmetadata/x")
			require.NoError(t, err)
			assert.JSONEq(t, `{"value":"env-value"}`, v.Value())
			assert.NotContains(t, log.String(), "plain http", "a loopback address is not warned about")
			assert.NotContains(t, log.String(), srv.Token)
		})
	}
}

// TestSpecIgnoresProcessEnv checks that the SDK's own reading of the
// process environment changes nothing: the token, namespace, headers and
// wrapping come from the store's configuration only.
func TestSpecIgnoresProcessEnv(t *testing.T) {
	srv := vaulttest.New(t)
	srv.Put("a", map[string]any{"value": "x"})
	t.Setenv("VAULT_TOKEN", "hvs.process-env-token")
	t.Setenv("VAULT_NAMESPACE", "process-ns")
	t.Setenv("VAULT_ADDR", "https://192.0.2.1:8200")
	t.Setenv("VAULT_HEADERS", `{"X-Process-Header":"leak"}`)
	t.Setenv("VAULT_WRAP_TTL", "5m")
	t.Setenv("VAULT_MAX_RETRIES", "5")
	g, _, err := openSpec(t, srv.EnvMap(), nil)
	require.NoError(t, err)
	v, err := g.Get(t.Context(), "/a")
	require.NoError(t, err)
	assert.JSONEq(t, `{"value":"x"}`, v.Value())
	calls := srv.TotalCalls()
	srv.FailNext(1, 503)
	_, err = g.Get(t.Context(), "/a")
	require.ErrorIs(t, err, resolver.ErrUnavailable)
	assert.Equal(t, calls+1, srv.TotalCalls(), "VAULT_MAX_RETRIES is not read")
	for _, c := range srv.CallLog() {
		assert.Empty(t, c.Namespace, c.Path)
		assert.Empty(t, c.Header.Get("X-Process-Header"), c.Path)
		assert.Empty(t, c.Header.Get("X-Vault-Wrap-Ttl"), c.Path)
		assert.Equal(t, "true", c.Header.Get("X-Vault-Request"), c.Path)
	}
}

// TestSpecCA checks VAULT_CACERT and VAULT_CAPATH, and that without them
// (or SSL_CERT_FILE) the test server's certificate is not trusted.
func TestSpecCA(t *testing.T) {
	t.Parallel()
	srv := vaulttest.New(t)
	srv.Put("a", map[string]any{"value": "x"})
	base := map[string]string{"VAULT_ADDR": srv.URL(), "VAULT_TOKEN": srv.Token}
	with := func(k, v string) map[string]string {
		m := map[string]string{k: v}
		for bk, bv := range base {
			m[bk] = bv
		}
		return m
	}
	dir := t.TempDir()
	pemBytes, err := os.ReadFile(srv.CACertFile())
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "vault-ca.pem"), pemBytes, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README"), []byte("not a certificate"), 0o600))

	for name, env := range map[string]map[string]string{
		"VAULT_CACERT": with("VAULT_CACERT", srv.CACertFile()),
		"BAO_CACERT":   with("BAO_CACERT", srv.CACertFile()),
		"VAULT_CAPATH": with("VAULT_CAPATH", dir),
	} {
		t.Run(name, func(t *testing.T) {
			g, _, err := openSpec(t, env, nil)
			require.NoError(t, err)
			_, err = g.Get(t.Context(), "/a")
			require.NoError(t, err)
		})
	}
	t.Run("untrusted", func(t *testing.T) {
		g, _, err := openSpec(t, base, nil)
		require.NoError(t, err)
		_, err = g.Get(t.Context(), "/a")
		require.ErrorIs(t, err, resolver.ErrUnavailable)
		assert.Contains(t, err.Error(), "certificate")
	})
}

func TestSpecSkipVerify(t *testing.T) {
	t.Parallel()
	srv := vaulttest.New(t)
	srv.Put("a", map[string]any{"value": "x"})
	env := map[string]string{"VAULT_ADDR": srv.URL(), "VAULT_TOKEN": srv.Token, "VAULT_SKIP_VERIFY": "true"}

	g, _, err := openSpec(t, env, nil)
	assert.Nil(t, g)
	require.Error(t, err)
	assert.NotErrorIs(t, err, resolver.ErrNotConfigured)
	assert.Contains(t, err.Error(), "VAULT_SKIP_VERIFY=true would turn off verification of Vault's TLS certificate, which is refused")
	assert.Contains(t, err.Error(), "vault-allow-insecure-tls")

	bao := map[string]string{"VAULT_ADDR": srv.URL(), "VAULT_TOKEN": srv.Token, "BAO_SKIP_VERIFY": "1"}
	_, _, err = openSpec(t, bao, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "BAO_SKIP_VERIFY=true")

	g, log, err := openSpec(t, env, map[string]string{"vault-allow-insecure-tls": "true"})
	require.NoError(t, err)
	_, err = g.Get(t.Context(), "/a")
	require.NoError(t, err, "allowed: the untrusted certificate is accepted")
	assert.Contains(t, log.String(), "TLS certificate verification of Vault is OFF")

	env["VAULT_SKIP_VERIFY"] = "false"
	g, _, err = openSpec(t, env, nil)
	require.NoError(t, err)
	_, err = g.Get(t.Context(), "/a")
	require.ErrorIs(t, err, resolver.ErrUnavailable, "false: verified, and the test CA is not trusted")
}

func TestSpecAuthMethod(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		env   map[string]string
		extra map[string]string
		want  string
	}{
		{"VAULT_TOKEN", map[string]string{"VAULT_TOKEN": "hvs.t"}, nil, vault.MethodToken},
		{"BAO_TOKEN", map[string]string{"BAO_TOKEN": "hvs.t"}, nil, vault.MethodToken},
		{"token file", nil, map[string]string{"vault-token-file": "/run/vault/token"}, vault.MethodToken},
		{"kubernetes role", nil, map[string]string{"vault-kubernetes-role": "omsecrets"}, vault.MethodKubernetes},
		{"approle", nil, map[string]string{"vault-approle-role-id-file": "/run/role-id"}, vault.MethodAppRole},
		{"explicit wins", map[string]string{"VAULT_TOKEN": "hvs.t"}, map[string]string{"vault-auth": "Kubernetes", "vault-kubernetes-role": "r"}, vault.MethodKubernetes},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := map[string]string{"VAULT_ADDR": "https://vault.example:8200"}
			for k, v := range c.env {
				env[k] = v
			}
			o, err := vault.OptionsFrom(resolver.StoreConfig{Settings: settingsFrom(env, c.extra), Env: env})
			require.NoError(t, err)
			assert.Equal(t, c.want, o.Auth.Method)
			if c.want == vault.MethodKubernetes {
				assert.Equal(t, vault.DefaultKubernetesTokenFile, o.Auth.JWTFile)
			}
		})
	}
}

// TestSpecBadSettings is the hostile-input table of the settings: each is
// an error of Open (not "not configured") with a one-line message naming
// the setting or variable, quoting no credential.
func TestSpecBadSettings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	emptyDir := filepath.Join(dir, "empty")
	require.NoError(t, os.Mkdir(emptyDir, 0o700))
	noCert := filepath.Join(dir, "nocert.pem")
	require.NoError(t, os.WriteFile(noCert, []byte("hello"), 0o600))
	cases := []struct {
		name  string
		env   map[string]string
		extra map[string]string
		want  string
	}{
		{"scheme", map[string]string{"VAULT_ADDR": "ftp://vault"}, nil, "must start with https:// or http://"},
		{"credentials in address", map[string]string{"VAULT_ADDR": "https://admin:hunter2@vault"}, nil, "must not hold a user or password"},
		{"no host", map[string]string{"VAULT_ADDR": "https://"}, nil, "has no host"},
		{"query", map[string]string{"VAULT_ADDR": "https://vault/?token=hunter2"}, nil, "must not have a query"},
		{"not a URL", map[string]string{"VAULT_ADDR": "https://vault\x7f:hunter2"}, nil, "is not a URL"},
		{"mount dots", nil, map[string]string{"vault-mount": "../sys"}, `KV mount "../sys" is not a valid Vault path`},
		{"mount empty segment", nil, map[string]string{"vault-mount": "a//b"}, `KV mount "a//b"`},
		{"mount control", nil, map[string]string{"vault-mount": "kv\x00"}, `KV mount "kv\x00"`},
		{"kv version", nil, map[string]string{"vault-kv-version": "3"}, `vault-kv-version: "3" is not 1, 2 or auto`},
		{"kv version control", nil, map[string]string{"vault-kv-version": "2\x00"}, `vault-kv-version`},
		{"auth method", nil, map[string]string{"vault-auth": "ldap"}, `auth method "ldap": want token, kubernetes or approle`},
		{"kubernetes without role", map[string]string{"VAULT_TOKEN": "hvs.t"}, map[string]string{"vault-auth": "kubernetes"}, "kubernetes auth needs a role"},
		{"approle without role id", nil, map[string]string{"vault-auth": "approle"}, "approle auth needs a role id file"},
		{"token without token", map[string]string{"VAULT_TOKEN": ""}, map[string]string{"vault-auth": "token"}, "token auth needs VAULT_TOKEN or a token file"},
		{"no credentials", map[string]string{"VAULT_TOKEN": ""}, nil, "no Vault credentials: set VAULT_TOKEN, vault-token-file"},
		{"token with a newline", map[string]string{"VAULT_TOKEN": "hvs.hunter2\nX-Evil: 1"}, nil, "the Vault token from VAULT_TOKEN has a character outside printable ASCII"},
		{"huge token", map[string]string{"VAULT_TOKEN": "hunter2" + strings.Repeat("x", 9000)}, nil, "the Vault token from VAULT_TOKEN is longer than 8192 bytes"},
		{"namespace", nil, map[string]string{"vault-namespace": "team/../root"}, `namespace "team/../root" is not a valid Vault namespace path`},
		{"auth mount", nil, map[string]string{"vault-auth": "kubernetes", "vault-kubernetes-role": "r", "vault-auth-mount": "a/../b"}, `auth mount "a/../b"`},
		{"cacert missing", map[string]string{"VAULT_CACERT": filepath.Join(dir, "missing.pem")}, nil, "vault-cacert " + filepath.Join(dir, "missing.pem")},
		{"cacert no cert", map[string]string{"VAULT_CACERT": noCert}, nil, "vault-cacert " + noCert + ": no PEM certificate in the file"},
		{"cacert device", map[string]string{"VAULT_CACERT": "/dev/zero"}, nil, "vault-cacert /dev/zero: not a regular file"},
		{"capath empty", map[string]string{"VAULT_CAPATH": emptyDir}, nil, "vault-capath " + emptyDir + ": no PEM certificate in the directory"},
		{"SSL_CERT_FILE", map[string]string{"SSL_CERT_FILE": noCert}, nil, "SSL_CERT_FILE " + noCert},
		{"allow not a bool", nil, map[string]string{"vault-allow-insecure-tls": "maybe"}, `vault-allow-insecure-tls: "maybe" is not true or false`},
		{"skip verify not a bool", map[string]string{"VAULT_SKIP_VERIFY": "yes please"}, nil, `VAULT_SKIP_VERIFY: "yes please" is not true or false`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"VAULT_ADDR": "https://vault.example:8200", "VAULT_TOKEN": "hvs.hunter2-token"}
			for k, v := range c.env {
				env[k] = v
			}
			g, _, err := openSpec(t, env, c.extra)
			assert.Nil(t, g)
			require.Error(t, err)
			assert.NotErrorIs(t, err, resolver.ErrNotConfigured)
			msg := err.Error()
			assert.Contains(t, msg, c.want)
			assert.NotContains(t, msg, "hunter2")
			assert.NotContains(t, msg, "OMSECRETS_")
			assert.NotContains(t, msg, "\n")
		})
	}
}
