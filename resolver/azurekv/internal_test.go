package azurekv

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/azuretest"
	"omsecrets/resolver"
)

func TestParseID(t *testing.T) {
	t.Parallel()
	const v = "0123456789abcdef0123456789ABCDEF"
	for _, tc := range []struct {
		id, name, version string
		ok                bool
	}{
		{"openmetadata-database-mysql-password", "openmetadata-database-mysql-password", "", true},
		{"a", "a", "", true},
		{strings.Repeat("z", MaxNameLen), strings.Repeat("z", MaxNameLen), "", true},
		{"db/" + v, "db", v, true},
		{"-", "-", "", true},
		{"", "", "", false},
		{"db/", "", "", false},
		{"/db", "", "", false},
		{"db/" + v + "/", "", "", false},
		{"db/" + v[:31], "", "", false},
		{"db/" + v + "0", "", "", false},
		{"db_x", "", "", false},
		{strings.Repeat("z", MaxNameLen+1), "", "", false},
	} {
		name, version, err := parseID(tc.id)
		if !tc.ok {
			assert.ErrorIs(t, err, resolver.ErrBadRef, "%q", tc.id)
			continue
		}
		require.NoError(t, err, "%q", tc.id)
		assert.Equal(t, tc.name, name)
		assert.Equal(t, tc.version, version)
	}
}

// FuzzParseID checks that id parsing never panics, that every refusal is
// ErrBadRef with a one-line reason that does not quote the id, and that
// what it accepts is what Key Vault accepts.
func FuzzParseID(f *testing.F) {
	for _, seed := range []string{
		"openmetadata-database-mysql-password", "db/0123456789abcdef0123456789abcdef", "", "/", "db/", "a/b/c",
		"../x", "db\x00", "pässword", "db\u202e", strings.Repeat("a", 128), "db%2F", "db#key", "DB-Password",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, id string) {
		name, version, err := parseID(id)
		if err != nil {
			if !errors.Is(err, resolver.ErrBadRef) {
				t.Fatalf("%q: %v is not ErrBadRef", id, err)
			}
			msg := err.Error()
			if strings.ContainsAny(msg, "\n\r") || !utf8.ValidString(msg) || len(msg) > 300 {
				t.Fatalf("%q: reason %q is not one short line", id, msg)
			}
			return
		}
		if len(name) < 1 || len(name) > MaxNameLen {
			t.Fatalf("%q: accepted name of length %d", id, len(name))
		}
		for i := range len(name) {
			c := name[i]
			if !isLetter(c) && !isDigit(c) && c != '-' {
				t.Fatalf("%q: accepted name with %q", id, c)
			}
		}
		if version != "" && len(version) != VersionLen {
			t.Fatalf("%q: accepted version %q", id, version)
		}
		want := name
		if version != "" {
			want += "/" + version
		}
		if want != id {
			t.Fatalf("%q parsed to %q, %q", id, name, version)
		}
	})
}

func TestLoad(t *testing.T) {
	t.Parallel()
	c, err := load(map[string]string{VaultName.Name: "OM-Vault-01"}, nil)
	require.NoError(t, err)
	assert.Equal(t, "https://om-vault-01.vault.azure.net/", c.vaultURL)
	assert.Equal(t, credChain, c.cred.kind)
	assert.Equal(t, "https://login.microsoftonline.com/", c.cred.authority)
	assert.False(t, c.cred.customAuthority)
	assert.Equal(t, "system-assigned managed identity, then the Azure CLI", c.cred.describe())

	for _, tc := range []struct {
		name, url, want string
	}{
		{"", "https://om-vault.vault.azure.cn", "https://om-vault.vault.azure.cn/"},
		{"om-vault", "https://OM-VAULT.vault.azure.net:443/", "https://om-vault.vault.azure.net/"},
		{"other", "https://kv.internal.example:8443/", "https://kv.internal.example:8443/"},
		{"", "https://127.0.0.1:9999/", "https://127.0.0.1:9999/"},
	} {
		c, err := load(map[string]string{VaultName.Name: tc.name, VaultURL.Name: tc.url}, nil)
		require.NoError(t, err, tc.url)
		assert.Equal(t, tc.want, c.vaultURL, "the URL wins")
	}
	_, err = load(map[string]string{VaultName.Name: "om-vault", VaultURL.Name: "https://other-vault.vault.azure.net/"}, nil)
	assert.ErrorContains(t, err, "name different vaults")

	env := map[string]string{EnvClientSecret: "s", EnvAuthorityHost: "https://login.chinacloudapi.cn"}
	c, err = load(map[string]string{VaultName.Name: "v12", TenantID.Name: "contoso.onmicrosoft.com", ClientID.Name: "app"}, env)
	require.NoError(t, err)
	assert.Equal(t, credClientSecret, c.cred.kind)
	assert.Equal(t, "https://login.chinacloudapi.cn/", c.cred.authority)
	assert.False(t, c.cred.customAuthority)
	assert.Equal(t, "ClientSecretCredential for tenant contoso.onmicrosoft.com, client app (secret from AZURE_CLIENT_SECRET)", c.cred.describe())

	env = map[string]string{EnvFederatedTokenFile: "/var/run/secrets/azure/tokens/azure-identity-token", EnvAuthorityHost: "https://login.example.internal/adfs/"}
	c, err = load(map[string]string{VaultName.Name: "v12", TenantID.Name: "t", ClientID.Name: "c"}, env)
	require.NoError(t, err)
	assert.Equal(t, credWorkloadIdentity, c.cred.kind)
	assert.Equal(t, "https://login.example.internal/adfs/", c.cred.authority)
	assert.True(t, c.cred.customAuthority, "instance discovery off")

	c, err = load(map[string]string{VaultName.Name: "v12", ClientID.Name: "c"}, map[string]string{"IDENTITY_ENDPOINT": "http://localhost:42356/msi/token"})
	require.NoError(t, err)
	assert.True(t, c.cred.identityEndpoint, "App Service: no IMDS probe")
	assert.Equal(t, "managed identity with client id c, then the Azure CLI", c.cred.describe())

	// The client secret's variables, in order.
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{EnvClientSecretTwin: "a", EnvAirflowClientSecret: "b", EnvClientSecret: "c"}, "a"},
		{map[string]string{EnvAirflowClientSecret: "b", EnvClientSecret: "c"}, "b"},
		{map[string]string{EnvClientSecretTwin: "  ", EnvClientSecret: "c"}, "c"},
	} {
		c, err := load(map[string]string{VaultName.Name: "v12", TenantID.Name: "t", ClientID.Name: "c"}, tc.env)
		require.NoError(t, err)
		assert.Equal(t, tc.want, c.cred.secret)
	}
}

// TestChain checks the default chain's rules with stand-in sources: an
// unavailable source is passed over, a source that failed to
// authenticate stops the chain, and the first that works is kept.
func TestChain(t *testing.T) {
	t.Parallel()
	var calls [3]atomic.Int32
	fail := func(i int, err error) azcore.TokenCredential {
		return credFunc(func(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
			calls[i].Add(1)
			return azcore.AccessToken{}, err
		})
	}
	ok := func(i int) azcore.TokenCredential {
		return credFunc(func(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
			calls[i].Add(1)
			return azcore.AccessToken{Token: "t", ExpiresOn: time.Now().Add(time.Hour)}, nil
		})
	}
	c := &chain{sem: make(chan struct{}, 1), sources: []source{
		{name: "one", cred: fail(0, unavailable("not here"))},
		{name: "two", err: errors.New("could not build")},
		{name: "three", cred: ok(2)},
	}}
	for range 3 {
		tok, err := c.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{azuretest.Scope}})
		require.NoError(t, err)
		assert.Equal(t, "t", tok.Token)
	}
	assert.Equal(t, int32(1), calls[0].Load(), "passed over once, then the working source is kept")
	assert.Equal(t, int32(3), calls[2].Load())

	afe := &azidentity.AuthenticationFailedError{}
	stop := &chain{sem: make(chan struct{}, 1), sources: []source{{name: "mi", cred: fail(1, afe)}, {name: "cli", cred: ok(0)}}}
	_, err := stop.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{azuretest.Scope}})
	assert.ErrorAs(t, err, &afe, "a credential that exists but failed stops the chain")

	none := &chain{sem: make(chan struct{}, 1), sources: []source{{name: "mi", cred: fail(1, unavailable("no IMDS"))}, {name: "cli", err: errors.New("no az")}}}
	_, err = none.GetToken(t.Context(), policy.TokenRequestOptions{Scopes: []string{azuretest.Scope}})
	var ce *chainError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "mi: no IMDS; cli: no az", ce.Error())
}

type credFunc func(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error)

func (f credFunc) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return f(ctx, o)
}

func TestProbe(t *testing.T) {
	t.Parallel()
	var probes atomic.Int32
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		probes.Add(1)
		assert.Empty(t, r.Header.Get("Metadata"), "the probe is a malformed request, as DefaultAzureCredential's")
		w.WriteHeader(http.StatusBadRequest)
	}))
	defer imds.Close()
	var tokens atomic.Int32
	inner := credFunc(func(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
		tokens.Add(1)
		return azcore.AccessToken{Token: "mi"}, nil
	})
	p := &probed{cred: inner, client: http.DefaultClient, url: imds.URL}
	for range 2 {
		tok, err := p.GetToken(t.Context(), policy.TokenRequestOptions{})
		require.NoError(t, err)
		assert.Equal(t, "mi", tok.Token)
	}
	assert.Equal(t, int32(1), probes.Load(), "probed once")
	assert.Equal(t, int32(2), tokens.Load())

	closed := closedURL(t)
	p = &probed{cred: inner, client: http.DefaultClient, url: closed}
	_, err := p.GetToken(t.Context(), policy.TokenRequestOptions{})
	var u unavailable
	require.ErrorAs(t, err, &u)
	assert.Contains(t, err.Error(), "no managed identity endpoint answered at "+closed)
	assert.Equal(t, int32(2), tokens.Load(), "no token asked for")
}

// closedURL returns an http URL on 127.0.0.1 where nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return "http://" + addr + "/metadata/identity/oauth2/token"
}

// TestNoCredential runs the default chain on the wire where neither a
// managed identity endpoint nor the Azure CLI is there: the read fails
// with permission, naming both.
func TestNoCredential(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no az
	srv := azuretest.New(t)
	srv.PutSecret("x", "v")
	env := map[string]string{"SSL_CERT_FILE": srv.CAFile(), EnvAuthorityHost: srv.AuthorityHost()}
	c, err := load(map[string]string{VaultURL.Name: srv.VaultURL()}, env)
	require.NoError(t, err)
	require.Equal(t, credChain, c.cred.kind)
	c.cred.probeURL = closedURL(t)
	client, err := newHTTPClient(env)
	require.NoError(t, err)
	cred, err := c.cred.build(client)
	require.NoError(t, err)
	p, err := New(Options{VaultURL: c.vaultURL, Credential: cred, HTTPClient: client})
	require.NoError(t, err)
	_, err = p.Get(t.Context(), "x")
	require.Error(t, err)
	assert.Equal(t, "permission", resolver.Class(err), "%v", err)
	assert.Contains(t, err.Error(), "no credential could get one")
	assert.Contains(t, err.Error(), "ManagedIdentityCredential: no managed identity endpoint answered")
	assert.Contains(t, err.Error(), "AzureCLICredential")
	assert.NotContains(t, err.Error(), "\n")
	assert.Equal(t, 0, srv.Calls(azuretest.OpToken))
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	// The parser is resolver.ParseRetryAfter; this checks Key Vault's
	// headers reach it.
	assert.Equal(t, 250*time.Millisecond, retryAfter(http.Header{"X-Ms-Retry-After-Ms": {"250"}}))
	d := retryAfter(http.Header{"Retry-After": {time.Now().Add(30 * time.Second).UTC().Format(http.TimeFormat)}})
	assert.InDelta(t, float64(30*time.Second), float64(d), float64(2*time.Second))
}

func TestOneLine(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "a b c", oneLine("a\r\n b\t\tc\n"))
	assert.Equal(t, "x?y", oneLine("x\xffy"))
	long := oneLine(strings.Repeat("é", 1000))
	assert.LessOrEqual(t, len(long), maxDetail+3)
	assert.True(t, utf8.ValidString(long))
	assert.True(t, strings.HasSuffix(long, "…"))
	assert.Equal(t, "a b", oneLine("a\u2028b"))
}

// FuzzErrorBodies feeds arbitrary bodies to the parsers of Key Vault's
// and Entra ID's error answers: no panic, and what they produce for a
// message is one bounded line.
func FuzzErrorBodies(f *testing.F) {
	for _, seed := range []string{
		`{"error":{"code":"Forbidden","message":"Operation get is not allowed on a disabled secret.","innererror":{"code":"SecretDisabled"}}}`,
		`{"error":"invalid_client","error_description":"AADSTS7000215: x","error_codes":[7000215]}`,
		`{"error":{"code":"Throttled"}}`, `{"error":null}`, `[]`, `{`, ``, "\x00",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		code, inner, msg, _ := parseKVError(body)
		line := oneLine(msg)
		if strings.ContainsAny(line, "\r\n") || len(line) > maxDetail+3 || !utf8.ValidString(line) {
			t.Fatalf("oneLine(%q) = %q", msg, line)
		}
		_ = safeCode(code) && safeCode(inner)
		resp := &http.Response{StatusCode: 401, Body: http.NoBody, Header: http.Header{}}
		resp.Body = readCloser{strings.NewReader(string(body))}
		d := entraDetail(resp)
		if strings.ContainsAny(d, "\r\n\"{") {
			t.Fatalf("entraDetail(%q) = %q", body, d)
		}
	})
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

// FuzzVaultURL checks the vault URL parser: no panic, and an accepted URL
// is https://host/ that parses to itself again.
func FuzzVaultURL(f *testing.F) {
	for _, seed := range []string{
		"https://v.vault.azure.net/", "https://v.vault.azure.net", "http://v", "https://u:p@h/", "https://h/p", "https://h?q", "https://[::1]:8443/", "https:///", "",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		u, host, err := parseVaultURL(v)
		if err != nil {
			if strings.Contains(err.Error(), v) && len(v) > 8 {
				t.Fatalf("error %q quotes the URL", err)
			}
			return
		}
		if u != "https://"+host+"/" {
			t.Fatalf("%q -> %q, %q", v, u, host)
		}
		u2, host2, err := parseVaultURL(u)
		if err != nil || u2 != u || host2 != host {
			t.Fatalf("%q -> %q, which parses to %q %q %v", v, u, u2, host2, err)
		}
		_ = azureVaultHost(host)
	})
}

func TestOneLineFormatCharacters(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "a b c d", oneLine("a\u202eb\u0085c\u200bd"))
}

// FuzzHeldVersion checks that any token parses without a panic, that a
// content version or a token without an updated second is never
// compared by time, and that a settled token gives back its second.
func FuzzHeldVersion(f *testing.F) {
	f.Add("name", "0123abcd 1700000000")
	f.Add("name/0123abcd", "0123abcd -")
	f.Add("x", "h:00ff")
	f.Fuzz(func(t *testing.T, id, token string) {
		name, _, updated, ok := heldVersion(resolver.Held{ID: id, Version: token})
		if !ok {
			return
		}
		if !strings.Contains(token, " ") {
			t.Fatalf("token %q without a space parsed", token)
		}
		if _, at, _ := strings.Cut(token, " "); at == "-" && updated != 0 {
			t.Fatalf("unsettled token %q gave second %d", token, updated)
		}
		if name != strings.ToLower(name) {
			t.Fatalf("name %q not lower-cased", name)
		}
	})
}
