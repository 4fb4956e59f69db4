package azuretest_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/azuretest"
)

// sdkClient is the real azsecrets client with the real
// ClientSecretCredential, both pointed at s, one attempt per request.
func sdkClient(t *testing.T, s *azuretest.Server, secret string) *azsecrets.Client {
	t.Helper()
	opts := azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: s.AuthorityHost(), Services: map[cloud.ServiceName]cloud.ServiceConfiguration{}},
		Transport: s.HTTPClient(),
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}
	cred, err := azidentity.NewClientSecretCredential(s.TenantID, s.ClientID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            opts,
		DisableInstanceDiscovery: true,
	})
	require.NoError(t, err)
	c, err := azsecrets.NewClient(s.VaultURL(), cred, &azsecrets.ClientOptions{
		ClientOptions:                        azcore.ClientOptions{Transport: s.HTTPClient(), Retry: policy.RetryOptions{MaxRetries: -1}},
		DisableChallengeResourceVerification: true,
	})
	require.NoError(t, err)
	return c
}

// responseError returns the status, Key Vault error code and inner error
// code of err.
func responseError(t *testing.T, err error) (status int, code, inner string) {
	t.Helper()
	var re *azcore.ResponseError
	require.ErrorAs(t, err, &re)
	body, rerr := io.ReadAll(re.RawResponse.Body)
	require.NoError(t, rerr)
	var e struct {
		Error struct {
			Code       string
			InnerError struct{ Code string } `json:"innererror"`
		}
	}
	require.NoError(t, json.Unmarshal(body, &e), "Key Vault error body")
	assert.Equal(t, re.ErrorCode, e.Error.Code)
	return re.StatusCode, e.Error.Code, e.Error.InnerError.Code
}

func ops(s *azuretest.Server) []string {
	var out []string
	for _, c := range s.CallLog() {
		out = append(out, c.Op)
	}
	return out
}

func TestSDKChallengeThenToken(t *testing.T) {
	t.Parallel()
	s := azuretest.New(t)
	s.PutSecret("openmetadata-database-mysql-password", "p4ss")
	c := sdkClient(t, s, s.ClientSecret)
	for range 3 {
		resp, err := c.GetSecret(t.Context(), "openmetadata-database-mysql-password", "", nil)
		require.NoError(t, err)
		assert.Equal(t, "p4ss", *resp.Value)
		assert.True(t, *resp.Attributes.Enabled)
		require.NotNil(t, resp.ID)
		assert.Equal(t, "openmetadata-database-mysql-password", resp.ID.Name())
		assert.Len(t, resp.ID.Version(), 32)
	}
	assert.Equal(t, []string{
		azuretest.OpChallenge, azuretest.OpOpenIDConfiguration, azuretest.OpToken,
		azuretest.OpGetSecret, azuretest.OpGetSecret, azuretest.OpGetSecret,
	}, ops(s), "one challenge and one token, then bearer requests")
	assert.Equal(t, 1, s.IssuedTokens())
	for _, call := range s.CallLog() {
		if call.Op == azuretest.OpGetSecret {
			assert.Equal(t, "2026-04-01", call.APIVersion, "azsecrets v1.5.1's api-version")
			assert.Equal(t, http.StatusOK, call.Status)
		}
	}
	assert.Equal(t, 0, s.Calls(azuretest.OpInstanceDiscovery), "instance discovery is off for a private authority")
}

func TestSDKWrongSecret(t *testing.T) {
	t.Parallel()
	s := azuretest.New(t)
	s.PutSecret("x", "v")
	_, err := sdkClient(t, s, "not-the-secret").GetSecret(t.Context(), "x", "", nil)
	require.Error(t, err)
	var afe *azidentity.AuthenticationFailedError
	require.ErrorAs(t, err, &afe)
	require.NotNil(t, afe.RawResponse)
	assert.Equal(t, http.StatusUnauthorized, afe.RawResponse.StatusCode)
	assert.Contains(t, err.Error(), "AADSTS7000215")
	assert.Equal(t, 0, s.Calls(azuretest.OpGetSecret), "no token, no authenticated request")
}

func TestSDKErrors(t *testing.T) {
	t.Parallel()
	s := azuretest.New(t)
	v1 := s.PutSecret("rotated", "one")
	s.PutSecret("rotated", "two")
	s.PutSecret("off", "v")
	s.SetEnabled("off", "", false)
	s.PutSecret("denied", "v")
	s.Deny("denied")
	c := sdkClient(t, s, s.ClientSecret)
	ctx := t.Context()

	resp, err := c.GetSecret(ctx, "rotated", v1, nil)
	require.NoError(t, err)
	assert.Equal(t, "one", *resp.Value)
	resp, err = c.GetSecret(ctx, "ROTATED", "", nil)
	require.NoError(t, err)
	assert.Equal(t, "two", *resp.Value, "names are case-insensitive")

	for _, tc := range []struct {
		name, version string
		status        int
		code, inner   string
	}{
		{"missing", "", http.StatusNotFound, "SecretNotFound", ""},
		{"rotated", "0123456789abcdef0123456789abcdef", http.StatusNotFound, "SecretNotFound", ""},
		{"off", "", http.StatusForbidden, "Forbidden", "SecretDisabled"},
		{"denied", "", http.StatusForbidden, "Forbidden", "ForbiddenByRbac"},
		{"bad_name", "", http.StatusBadRequest, "BadParameter", ""},
		{strings.Repeat("a", 128), "", http.StatusBadRequest, "BadParameter", ""},
		{"a/b", "", http.StatusBadRequest, "BadParameter", ""},
	} {
		_, err := c.GetSecret(ctx, tc.name, tc.version, nil)
		require.Error(t, err, tc.name)
		status, code, inner := responseError(t, err)
		assert.Equal(t, tc.status, status, tc.name)
		assert.Equal(t, tc.code, code, tc.name)
		assert.Equal(t, tc.inner, inner, tc.name)
	}
	s.SetEnabled("off", "", true)
	_, err = c.GetSecret(ctx, "off", "", nil)
	assert.NoError(t, err, "enabled again")
	assert.Len(t, s.Versions("rotated"), 2)
	assert.Nil(t, s.Versions("missing"))
}

func TestSDKFaults(t *testing.T) {
	t.Parallel()
	s := azuretest.New(t)
	s.PutSecret("x", "v")
	c := sdkClient(t, s, s.ClientSecret)
	ctx := t.Context()
	_, err := c.GetSecret(ctx, "x", "", nil)
	require.NoError(t, err)

	s.SetRetryAfter(1500 * time.Millisecond)
	s.Throttle(1)
	_, err = c.GetSecret(ctx, "x", "", nil)
	status, code, _ := responseError(t, err)
	assert.Equal(t, http.StatusTooManyRequests, status)
	assert.Equal(t, "Throttled", code)
	var re *azcore.ResponseError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "2", re.RawResponse.Header.Get("Retry-After"), "whole seconds, rounded up")
	s.SetRetryAfter(0)

	for status, code := range map[int]string{500: "InternalServerError", 503: "ServiceUnavailable", 429: "Throttled", 418: "Error"} {
		s.FailNext(1, status)
		_, err = c.GetSecret(ctx, "x", "", nil)
		got, gotCode, _ := responseError(t, err)
		assert.Equal(t, status, got)
		assert.Equal(t, code, gotCode)
	}
	_, err = c.GetSecret(ctx, "x", "", nil)
	require.NoError(t, err, "faults are used up")

	s.SetThrottling(true)
	for range 3 {
		_, err = c.GetSecret(ctx, "x", "", nil)
		status, _, _ = responseError(t, err)
		assert.Equal(t, http.StatusTooManyRequests, status)
	}
	s.SetThrottling(false)

	s.SetDropping(true)
	_, err = c.GetSecret(ctx, "x", "", nil)
	require.Error(t, err)
	assert.False(t, errors.As(err, &re), "a dropped connection has no response")
	calls := s.CallLog()
	assert.Equal(t, 0, calls[len(calls)-1].Status)
	s.SetDropping(false)
	s.DropNext(1)
	before := s.Calls(azuretest.OpGetSecret)
	_, err = c.GetSecret(ctx, "x", "", nil)
	if err == nil {
		// Go's client sent the GET again on a new connection.
		assert.Equal(t, before+2, s.Calls(azuretest.OpGetSecret))
	}
	_, err = c.GetSecret(ctx, "x", "", nil)
	require.NoError(t, err, "DropNext is used up")

	s.SetLatency(200 * time.Millisecond)
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err = c.GetSecret(short, "x", "", nil)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	s.SetLatency(0)

	s.DenyAll(true)
	_, err = c.GetSecret(ctx, "x", "", nil)
	_, _, inner := responseError(t, err)
	assert.Equal(t, "ForbiddenByRbac", inner)
	s.DenyAll(false)

	s.RevokeTokens()
	_, err = c.GetSecret(ctx, "x", "", nil)
	status, code, _ = responseError(t, err)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, "Unauthorized", code)
	assert.GreaterOrEqual(t, s.Calls(azuretest.OpBadToken), 1)
}

// rawGet sends GET path?query to the vault with an optional bearer token.
func rawGet(t *testing.T, s *azuretest.Server, method, path, query, bearer string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, strings.TrimSuffix(s.VaultURL(), "/")+path+"?"+query, nil)
	require.NoError(t, err)
	if bearer != "" {
		req.Header.Set("Authorization", bearer)
	}
	resp, err := s.HTTPClient().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp, body
}

// token gets a token for form from s's token endpoint.
func postToken(t *testing.T, s *azuretest.Server, tenant string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := s.HTTPClient().PostForm(s.AuthorityHost()+tenant+"/oauth2/v2.0/token", form)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

func clientCredentials(s *azuretest.Server) url.Values {
	return url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {s.ClientID},
		"client_secret": {s.ClientSecret},
		"scope":         {azuretest.Scope + " openid offline_access profile"},
	}
}

func errorCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

func TestRawVault(t *testing.T) {
	t.Parallel()
	s := azuretest.New(t)
	s.PutSecret("x", "v")
	const q = "api-version=7.4"

	resp, body := rawGet(t, s, http.MethodGet, "/secrets/x", q, "")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, `Bearer authorization="`+s.AuthorityHost()+s.TenantID+`", resource="https://vault.azure.net"`, resp.Header.Get("WWW-Authenticate"))
	assert.Equal(t, "Unauthorized", errorCode(body))

	resp, _ = rawGet(t, s, http.MethodGet, "/secrets/x", q, "Bearer made-up")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.NotEmpty(t, resp.Header.Get("WWW-Authenticate"))
	resp, _ = rawGet(t, s, http.MethodGet, "/secrets/x", q, "Basic Zm9vOmJhcg==")
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	code, tok := postToken(t, s, s.TenantID, clientCredentials(s))
	require.Equal(t, http.StatusOK, code, tok)
	assert.Equal(t, "Bearer", tok["token_type"])
	assert.EqualValues(t, 3600, tok["expires_in"])
	bearer := "Bearer " + tok["access_token"].(string)

	resp, body = rawGet(t, s, http.MethodGet, "/secrets/x", q, bearer)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "v", body["value"])
	assert.True(t, strings.HasPrefix(body["id"].(string), "https://127.0.0.1:"), body["id"])
	resp, _ = rawGet(t, s, http.MethodGet, "/secrets/x/", q, bearer)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the SDK's path for the latest version")

	for _, tc := range []struct {
		method, path, query string
		status              int
		code                string
	}{
		{http.MethodGet, "/secrets/x", "", http.StatusBadRequest, "BadParameter"},
		{http.MethodGet, "/secrets/x", "api-version=1999-01-01", http.StatusBadRequest, "BadParameter"},
		{http.MethodPut, "/secrets/x", q, http.StatusMethodNotAllowed, "BadParameter"},
		{http.MethodGet, "/keys/x", q, http.StatusNotFound, "NotFound"},
		{http.MethodGet, "/secrets/a/b/c", q, http.StatusNotFound, "NotFound"},
		{http.MethodGet, "/secrets/a%2Fb", q, http.StatusBadRequest, "BadParameter"},
		{http.MethodGet, "/secrets/a_b", q, http.StatusBadRequest, "BadParameter"},
		{http.MethodGet, "/secrets/x/0123456789abcdef0123456789abcdef", q, http.StatusNotFound, "SecretNotFound"},
	} {
		resp, body := rawGet(t, s, tc.method, tc.path, tc.query, bearer)
		assert.Equal(t, tc.status, resp.StatusCode, "%s %s?%s", tc.method, tc.path, tc.query)
		assert.Equal(t, tc.code, errorCode(body), "%s %s?%s", tc.method, tc.path, tc.query)
	}
}

func TestRawTokenEndpoint(t *testing.T) {
	t.Parallel()
	s := azuretest.New(t, azuretest.WithFederatedToken("projected-sa-token"))
	with := func(key, value string) url.Values {
		f := clientCredentials(s)
		if value == "" {
			f.Del(key)
		} else {
			f.Set(key, value)
		}
		return f
	}
	assertion := with("client_secret", "")
	assertion.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
	assertion.Set("client_assertion", "projected-sa-token")
	wrongAssertion := with("client_secret", "")
	wrongAssertion.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
	wrongAssertion.Set("client_assertion", "someone-elses-token")

	for _, tc := range []struct {
		name   string
		tenant string
		form   url.Values
		status int
		error  string
		aadsts float64
	}{
		{"ok", s.TenantID, clientCredentials(s), http.StatusOK, "", 0},
		{"assertion", s.TenantID, assertion, http.StatusOK, "", 0},
		{"wrong secret", s.TenantID, with("client_secret", "nope"), http.StatusUnauthorized, "invalid_client", 7000215},
		{"no secret", s.TenantID, with("client_secret", ""), http.StatusUnauthorized, "invalid_client", 7000215},
		{"wrong assertion", s.TenantID, wrongAssertion, http.StatusUnauthorized, "invalid_client", 70021},
		{"unknown client", s.TenantID, with("client_id", "11111111-2222-3333-4444-555555555555"), http.StatusBadRequest, "unauthorized_client", 700016},
		{"unknown tenant", "66666666-7777-8888-9999-000000000000", clientCredentials(s), http.StatusBadRequest, "invalid_tenant", 90002},
		{"wrong scope", s.TenantID, with("scope", "https://storage.azure.com/.default"), http.StatusBadRequest, "invalid_scope", 70011},
		{"two scopes", s.TenantID, with("scope", azuretest.Scope+" https://storage.azure.com/.default"), http.StatusBadRequest, "invalid_scope", 70011},
		{"wrong grant", s.TenantID, with("grant_type", "password"), http.StatusBadRequest, "unsupported_grant_type", 70003},
	} {
		status, body := postToken(t, s, tc.tenant, tc.form)
		assert.Equal(t, tc.status, status, tc.name)
		if tc.error == "" {
			assert.NotEmpty(t, body["access_token"], tc.name)
			continue
		}
		assert.Equal(t, tc.error, body["error"], tc.name)
		assert.Equal(t, []any{tc.aadsts}, body["error_codes"], tc.name)
		assert.Contains(t, body["error_description"], "AADSTS", tc.name)
		assert.NotContains(t, body["error_description"], s.ClientSecret, tc.name)
	}
	assert.Equal(t, 2, s.IssuedTokens())

	// The OpenID configuration MSAL reads first.
	resp, err := s.HTTPClient().Get(s.AuthorityHost() + s.TenantID + "/v2.0/.well-known/openid-configuration")
	require.NoError(t, err)
	var oidc map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&oidc))
	resp.Body.Close()
	assert.Equal(t, s.AuthorityHost()+s.TenantID+"/oauth2/v2.0/token", oidc["token_endpoint"])
	assert.Equal(t, s.AuthorityHost()+s.TenantID+"/v2.0", oidc["issuer"])
	resp, err = s.HTTPClient().Get(s.AuthorityHost() + "common/discovery/instance?api-version=1.1")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, 1, s.Calls(azuretest.OpInstanceDiscovery))
}

func TestTokenFaultsAndExpiry(t *testing.T) {
	t.Parallel()
	s := azuretest.New(t, azuretest.WithTokenLifetime(time.Second))
	s.PutSecret("x", "v")
	s.SetRetryAfter(3 * time.Second)
	s.FailTokenNext(1, http.StatusTooManyRequests)
	resp, err := s.HTTPClient().PostForm(s.AuthorityHost()+s.TenantID+"/oauth2/v2.0/token", clientCredentials(s))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Equal(t, "3", resp.Header.Get("Retry-After"))
	s.FailTokenNext(1, http.StatusServiceUnavailable)
	status, body := postToken(t, s, s.TenantID, clientCredentials(s))
	assert.Equal(t, http.StatusServiceUnavailable, status)
	assert.Equal(t, "server_error", body["error"])

	status, tok := postToken(t, s, s.TenantID, clientCredentials(s))
	require.Equal(t, http.StatusOK, status)
	bearer := "Bearer " + tok["access_token"].(string)
	r, _ := rawGet(t, s, http.MethodGet, "/secrets/x", "api-version=7.5", bearer)
	assert.Equal(t, http.StatusOK, r.StatusCode)
	time.Sleep(1100 * time.Millisecond)
	r, _ = rawGet(t, s, http.MethodGet, "/secrets/x", "api-version=7.5", bearer)
	assert.Equal(t, http.StatusUnauthorized, r.StatusCode, "expired")
	assert.Equal(t, azuretest.OpBadToken, s.CallLog()[len(s.CallLog())-1].Op)
}

func TestEnv(t *testing.T) {
	t.Parallel()
	s := azuretest.New(t)
	env := s.Env()
	var keys []string
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		require.True(t, ok, kv)
		assert.NotEmpty(t, v, k)
		keys = append(keys, k)
	}
	assert.ElementsMatch(t, []string{
		"OMSECRETS_AZURE_KEY_VAULT_URL", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_AUTHORITY_HOST", "SSL_CERT_FILE",
	}, keys)
	m := s.EnvMap()
	assert.Equal(t, s.VaultURL(), m["OMSECRETS_AZURE_KEY_VAULT_URL"])
	assert.Equal(t, s.AuthorityHost(), m["AZURE_AUTHORITY_HOST"])
	assert.Equal(t, s.ClientSecret, m["AZURE_CLIENT_SECRET"])
	assert.Equal(t, s.CAFile(), m["SSL_CERT_FILE"], "written once")

	// The CA file alone lets a client reach both servers.
	pem, err := os.ReadFile(m["SSL_CERT_FILE"])
	require.NoError(t, err)
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(pem))
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	for _, u := range []string{m["OMSECRETS_AZURE_KEY_VAULT_URL"] + "secrets/x?api-version=7.4", m["AZURE_AUTHORITY_HOST"] + m["AZURE_TENANT_ID"] + "/v2.0/.well-known/openid-configuration"} {
		resp, err := c.Get(u)
		require.NoError(t, err, u)
		resp.Body.Close()
	}
	resp, err := http.Get(s.VaultURL())
	if err == nil {
		resp.Body.Close()
	}
	assert.Error(t, err, "the test certificate is not a system root")
}

func TestOptionsAndObservation(t *testing.T) {
	t.Parallel()
	s := azuretest.New(t, azuretest.WithTenant("contoso.onmicrosoft.com"), azuretest.WithClient("app-1", "s3cr3t"))
	assert.Equal(t, "contoso.onmicrosoft.com", s.TenantID)
	s.PutSecret("x", "v")
	c := sdkClient(t, s, "s3cr3t")
	_, err := c.GetSecret(t.Context(), "x", "", nil)
	require.NoError(t, err)
	assert.Equal(t, 4, s.TotalCalls())
	assert.Equal(t, 2, s.VaultCalls())
	tokenCalls := slices.DeleteFunc(s.CallLog(), func(c azuretest.Call) bool { return c.Op != azuretest.OpToken })
	require.Len(t, tokenCalls, 1)
	assert.Equal(t, "app-1", tokenCalls[0].ClientID)
	s.Reset()
	assert.Equal(t, 0, s.TotalCalls())
	s.DeleteSecret("x")
	_, err = c.GetSecret(t.Context(), "x", "", nil)
	status, _, _ := responseError(t, err)
	assert.Equal(t, http.StatusNotFound, status)
	assert.Panics(t, func() { s.PutSecret("bad_name", "v") })
	assert.Panics(t, func() { s.SetEnabled("missing", "", false) })
}

func TestConcurrent(t *testing.T) {
	t.Parallel()
	s := azuretest.New(t)
	for i := range 20 {
		s.PutSecret("s-"+string(rune('a'+i)), "v")
	}
	c := sdkClient(t, s, s.ClientSecret)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 20 {
				_, err := c.GetSecret(t.Context(), "s-"+string(rune('a'+(i+w)%20)), "", nil)
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 16*20, s.Calls(azuretest.OpGetSecret))
}
