package gcptest_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/auth/credentials"
	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/api/option"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpccreds "google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"omsecrets/internal/testbed/gcptest"
)

// tlsFor trusts the Server's CA only.
func tlsFor(t *testing.T, s *gcptest.Server) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(s.CAPEM()))
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// client is the real Secret Manager client with the Google library's own
// service account flow: its 2LO token provider posts a JWT signed with
// the key file's key to the key's token_uri.
func client(t *testing.T, s *gcptest.Server, extra ...option.ClientOption) *secretmanager.Client {
	t.Helper()
	tc := tlsFor(t, s)
	creds, err := credentials.NewCredentialsFromFile(credentials.ServiceAccount, s.KeyFile(), &credentials.DetectOptions{
		Scopes: []string{gcptest.CloudPlatformScope},
		Client: &http.Client{Transport: &http.Transport{TLSClientConfig: tc}},
	})
	require.NoError(t, err)
	opts := append([]option.ClientOption{
		option.WithEndpoint(s.Endpoint()),
		option.WithAuthCredentials(creds),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(grpccreds.NewTLS(tc))),
	}, extra...)
	c, err := secretmanager.NewClient(t.Context(), opts...)
	require.NoError(t, err)
	c.CallOptions.AccessSecretVersion = nil // no retries: each call is one request
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func access(t *testing.T, c *secretmanager.Client, name string) (*secretmanagerpb.AccessSecretVersionResponse, error) {
	t.Helper()
	return c.AccessSecretVersion(t.Context(), &secretmanagerpb.AccessSecretVersionRequest{Name: name})
}

func TestAccessSecretVersion(t *testing.T) {
	t.Parallel()
	s := gcptest.New(t)
	assert.Equal(t, int64(1), s.PutSecret("db_password", "first"))
	assert.Equal(t, int64(2), s.PutSecret("db_password", "second"))
	c := client(t, s)

	resp, err := access(t, c, "projects/omsecrets-test/secrets/db_password/versions/latest")
	require.NoError(t, err)
	assert.Equal(t, "second", string(resp.GetPayload().GetData()))
	assert.Equal(t, "projects/480125193210/secrets/db_password/versions/2", resp.GetName(), "names carry the project number")
	require.NotNil(t, resp.GetPayload().DataCrc32C)
	assert.Equal(t, int64(crc32.Checksum([]byte("second"), crc32.MakeTable(crc32.Castagnoli))), *resp.GetPayload().DataCrc32C)

	resp, err = access(t, c, "projects/480125193210/secrets/db_password/versions/1")
	require.NoError(t, err)
	assert.Equal(t, "first", string(resp.GetPayload().GetData()))

	s.SetAlias("db_password", "stable", 1)
	resp, err = access(t, c, "projects/omsecrets-test/secrets/db_password/versions/stable")
	require.NoError(t, err)
	assert.Equal(t, "first", string(resp.GetPayload().GetData()))

	s.PutSecretIn("other-project", "db_password", "elsewhere")
	resp, err = access(t, c, "projects/other-project/secrets/db_password/versions/latest")
	require.NoError(t, err)
	assert.Equal(t, "elsewhere", string(resp.GetPayload().GetData()))
	assert.Equal(t, "projects/other-project/secrets/db_password/versions/1", resp.GetName())

	assert.Equal(t, 4, s.TotalCalls())
	assert.Equal(t, 1, s.Calls(gcptest.OpToken), "the library reuses its token")
	log := s.CallLog()
	assert.Equal(t, gcptest.OpToken, log[0].Op)
	assert.Equal(t, log[0].Token, log[1].Token, "the call carries the token the endpoint issued")
	assert.Equal(t, []string{
		"projects/omsecrets-test/secrets/db_password/versions/latest",
		"projects/480125193210/secrets/db_password/versions/1",
		"projects/omsecrets-test/secrets/db_password/versions/stable",
		"projects/other-project/secrets/db_password/versions/latest",
	}, s.Requested())
}

func TestErrorAnswers(t *testing.T) {
	t.Parallel()
	s := gcptest.New(t)
	s.PutSecret("s", "v")
	s.PutSecret("disabled", "v")
	s.DisableVersion("disabled", 1)
	s.PutSecret("destroyed", "v")
	s.DestroyVersion("destroyed", 1)
	s.PutSecret("denied", "v")
	s.DenyID("denied")
	s.PutSecretIn("closed-project", "s", "v")
	s.DenyProject("closed-project")
	c := client(t, s)
	for _, tc := range []struct {
		name, res string
		code      codes.Code
		msg       string
	}{
		{"no secret", "projects/omsecrets-test/secrets/nope/versions/latest", codes.NotFound, "Secret [projects/480125193210/secrets/nope] not found or has no versions."},
		{"no version", "projects/omsecrets-test/secrets/s/versions/5", codes.NotFound, "Secret Version [projects/480125193210/secrets/s/versions/5] not found."},
		{"no alias", "projects/omsecrets-test/secrets/s/versions/nope", codes.NotFound, "not found"},
		{"disabled", "projects/omsecrets-test/secrets/disabled/versions/latest", codes.FailedPrecondition, "Secret Version [projects/480125193210/secrets/disabled/versions/1] is in DISABLED state."},
		{"destroyed", "projects/omsecrets-test/secrets/destroyed/versions/1", codes.FailedPrecondition, "is in DESTROYED state."},
		{"denied", "projects/omsecrets-test/secrets/denied/versions/latest", codes.PermissionDenied, "Permission 'secretmanager.versions.access' denied for resource 'projects/omsecrets-test/secrets/denied/versions/latest' (or it may not exist)."},
		{"denied project", "projects/closed-project/secrets/s/versions/latest", codes.PermissionDenied, "denied"},
		{"bad name", "projects/omsecrets-test/secrets/a.b/versions/latest", codes.InvalidArgument, "Invalid resource field value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := access(t, c, tc.res)
			st := status.Convert(err)
			assert.Equal(t, tc.code, st.Code())
			assert.Contains(t, st.Message(), tc.msg)
		})
	}

	_, err := c.GetSecret(t.Context(), &secretmanagerpb.GetSecretRequest{Name: "projects/omsecrets-test/secrets/s"})
	assert.Equal(t, codes.Unimplemented, status.Code(err), "only AccessSecretVersion is served")
	assert.Equal(t, 1, s.Calls("GetSecret"))
}

func TestFaults(t *testing.T) {
	t.Parallel()
	s := gcptest.New(t)
	s.PutSecret("s", "fault-value")
	c := client(t, s)
	const name = "projects/omsecrets-test/secrets/s/versions/latest"

	s.Throttle(1)
	s.SetRetryDelay(1500 * time.Millisecond)
	_, err := access(t, c, name)
	st := status.Convert(err)
	require.Equal(t, codes.ResourceExhausted, st.Code())
	assert.Contains(t, st.Message(), "Quota exceeded for quota metric 'Access requests'")
	var ri *errdetails.RetryInfo
	var ei *errdetails.ErrorInfo
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.RetryInfo:
			ri = d
		case *errdetails.ErrorInfo:
			ei = d
		}
	}
	require.NotNil(t, ri)
	assert.Equal(t, 1500*time.Millisecond, ri.GetRetryDelay().AsDuration())
	require.NotNil(t, ei)
	assert.Equal(t, "RATE_LIMIT_EXCEEDED", ei.GetReason())
	_, err = access(t, c, name)
	require.NoError(t, err, "Throttle(1) throttles one call")

	s.SetThrottling(true)
	for range 3 {
		_, err = access(t, c, name)
		assert.Equal(t, codes.ResourceExhausted, status.Code(err))
	}
	s.SetThrottling(false)

	for _, code := range []codes.Code{codes.Unavailable, codes.Internal, codes.DeadlineExceeded} {
		s.FailNext(1, code)
		_, err = access(t, c, name)
		assert.Equal(t, code, status.Code(err))
	}

	s.CorruptNext(1)
	resp, err := access(t, c, name)
	require.NoError(t, err)
	assert.NotEqual(t, int64(crc32.Checksum(resp.GetPayload().GetData(), crc32.MakeTable(crc32.Castagnoli))), *resp.GetPayload().DataCrc32C)
	resp, err = access(t, c, name)
	require.NoError(t, err)
	assert.Equal(t, int64(crc32.Checksum(resp.GetPayload().GetData(), crc32.MakeTable(crc32.Castagnoli))), *resp.GetPayload().DataCrc32C)

	s.SetOmitCRC(true)
	resp, err = access(t, c, name)
	require.NoError(t, err)
	assert.Nil(t, resp.GetPayload().DataCrc32C)
	s.SetOmitCRC(false)

	s.DropNext(1)
	_, err = access(t, c, name)
	assert.Equal(t, codes.Unavailable, status.Code(err), "a dropped connection")
	_, err = access(t, c, name)
	require.NoError(t, err, "the client reconnects")

	s.SetLatency(time.Minute)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = c.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: name})
	assert.Equal(t, codes.DeadlineExceeded, status.Code(err))
	assert.Less(t, time.Since(start), 10*time.Second)
	s.SetLatency(0)

	s.Reset()
	assert.Zero(t, s.TotalCalls())
	_, err = access(t, c, name)
	require.NoError(t, err, "faults are used up")
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	s := gcptest.New(t)
	s.PutSecret("s", "auth-value")
	const name = "projects/omsecrets-test/secrets/s/versions/latest"

	t.Run("no token", func(t *testing.T) {
		tc := tlsFor(t, s)
		c, err := secretmanager.NewClient(t.Context(), option.WithEndpoint(s.Endpoint()), option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(grpccreds.NewTLS(tc))))
		require.NoError(t, err)
		defer c.Close()
		_, err = access(t, c, name)
		st := status.Convert(err)
		assert.Equal(t, codes.Unauthenticated, st.Code())
		assert.Contains(t, st.Message(), "Request is missing required authentication credential.")
	})

	t.Run("unknown token", func(t *testing.T) {
		c := client(t, s, option.WithAuthCredentials(auth.NewCredentials(&auth.CredentialsOptions{TokenProvider: fixedToken("ya29.made-up")})))
		_, err := access(t, c, name)
		st := status.Convert(err)
		assert.Equal(t, codes.Unauthenticated, st.Code())
		assert.Contains(t, st.Message(), "Request had invalid authentication credentials.")
	})

	t.Run("revoked and rejected", func(t *testing.T) {
		c := client(t, s)
		_, err := access(t, c, name)
		require.NoError(t, err)
		require.Len(t, s.IssuedTokens(), 1)
		s.SetRejectTokens(true)
		_, err = access(t, c, name)
		assert.Equal(t, codes.Unauthenticated, status.Code(err))
		s.SetRejectTokens(false)
		_, err = access(t, c, name)
		require.NoError(t, err)
		s.RevokeTokens()
		assert.Empty(t, s.IssuedTokens())
		_, err = access(t, c, name)
		assert.Equal(t, codes.Unauthenticated, status.Code(err), "the library keeps a revoked token until it expires")
	})

	t.Run("expired", func(t *testing.T) {
		short := gcptest.New(t, gcptest.WithTokenLifetime(time.Second))
		short.PutSecret("s", "v")
		c := client(t, short, option.WithAuthCredentials(auth.NewCredentials(&auth.CredentialsOptions{TokenProvider: issuedBy(t, short)})))
		time.Sleep(1100 * time.Millisecond)
		_, err := access(t, c, name)
		assert.Equal(t, codes.Unauthenticated, status.Code(err))
	})
}

type fixedToken string

func (f fixedToken) Token(context.Context) (*auth.Token, error) {
	return &auth.Token{Value: string(f), Type: "Bearer"}, nil
}

// issuedBy gets one token from s's token endpoint and serves it forever.
func issuedBy(t *testing.T, s *gcptest.Server) fixedToken {
	t.Helper()
	creds, err := credentials.NewCredentialsFromFile(credentials.ServiceAccount, s.KeyFile(), &credentials.DetectOptions{
		Scopes: []string{gcptest.CloudPlatformScope},
		Client: &http.Client{Transport: &http.Transport{TLSClientConfig: tlsFor(t, s)}},
	})
	require.NoError(t, err)
	tok, err := creds.Token(t.Context())
	require.NoError(t, err)
	return fixedToken(tok.Value)
}

// TestTokenEndpoint checks the OAuth endpoint directly: a forged or
// tampered assertion, another grant type and a disabled key are refused
// with Google's JSON errors.
func TestTokenEndpoint(t *testing.T) {
	t.Parallel()
	s := gcptest.New(t)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsFor(t, s)}}
	post := func(form url.Values) (int, map[string]any) {
		t.Helper()
		resp, err := hc.PostForm(s.TokenURL(), form)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(b, &m), "%s", b)
		return resp.StatusCode, m
	}
	// A real assertion, captured from the library's request.
	var assertion string
	capture := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		b, err := io.ReadAll(r.Body)
		require.NoError(t, err)
		form, err := url.ParseQuery(string(b))
		require.NoError(t, err)
		assertion = form.Get("assertion")
		r.Body = io.NopCloser(bytes.NewReader(b))
		return hc.Transport.RoundTrip(r)
	})}
	creds, err := credentials.NewCredentialsFromFile(credentials.ServiceAccount, s.KeyFile(), &credentials.DetectOptions{Scopes: []string{gcptest.CloudPlatformScope}, Client: capture})
	require.NoError(t, err)
	_, err = creds.Token(t.Context())
	require.NoError(t, err)
	require.NotEmpty(t, assertion)

	grant := "urn:ietf:params:oauth:grant-type:jwt-bearer"
	code, m := post(url.Values{"grant_type": {grant}, "assertion": {assertion}})
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "Bearer", m["token_type"])
	assert.EqualValues(t, 3600, m["expires_in"])
	assert.True(t, strings.HasPrefix(m["access_token"].(string), "ya29."))

	parts := strings.Split(assertion, ".")
	tampered := parts[0] + "." + parts[1] + "x." + parts[2]
	code, m = post(url.Values{"grant_type": {grant}, "assertion": {tampered}})
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, "invalid_grant", m["error"])

	code, m = post(url.Values{"grant_type": {grant}, "assertion": {parts[0] + "." + parts[1] + "." + "AAAA"}})
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, "Invalid JWT Signature.", m["error_description"])

	code, m = post(url.Values{"grant_type": {"client_credentials"}, "assertion": {assertion}})
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, "unsupported_grant_type", m["error"])

	s.DisableKey()
	code, m = post(url.Values{"grant_type": {grant}, "assertion": {assertion}})
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Equal(t, "invalid_grant", m["error"])

	s.FailTokenNext(1, http.StatusServiceUnavailable)
	code, _ = post(url.Values{"grant_type": {grant}, "assertion": {assertion}})
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, 7, s.Calls(gcptest.OpToken), "the library's and six posts")
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestMetadataServer(t *testing.T) {
	t.Parallel()
	s := gcptest.New(t)
	base := "http://" + s.MetadataHost() + "/computeMetadata/v1/"
	get := func(path string, flavor bool) (int, string, http.Header) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+path, nil)
		require.NoError(t, err)
		if flavor {
			req.Header.Set("Metadata-Flavor", "Google")
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	code, _, _ := get("instance/service-accounts/default/token", false)
	assert.Equal(t, http.StatusForbidden, code, "Metadata-Flavor is required")
	code, body, h := get("instance/service-accounts/default/token?scopes="+url.QueryEscape(gcptest.CloudPlatformScope), true)
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, "Google", h.Get("Metadata-Flavor"))
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &tok))
	assert.Contains(t, s.IssuedTokens(), tok.AccessToken)
	code, body, _ = get("project/project-id", true)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, s.Project, body)
	s.SetMetadataServiceAccount(false)
	code, _, _ = get("instance/service-accounts/default/token", true)
	assert.Equal(t, http.StatusNotFound, code)
	assert.Equal(t, 3, s.Calls(gcptest.OpMetadataToken))
	assert.Equal(t, 1, s.Calls(gcptest.OpMetadataProject))

	// A token from the metadata server opens Secret Manager.
	s.PutSecret("md", "metadata-value")
	c := client(t, s, option.WithAuthCredentials(auth.NewCredentials(&auth.CredentialsOptions{TokenProvider: fixedToken(tok.AccessToken)})))
	resp, err := access(t, c, "projects/omsecrets-test/secrets/md/versions/latest")
	require.NoError(t, err)
	assert.Equal(t, "metadata-value", string(resp.GetPayload().GetData()))
}

func TestEnv(t *testing.T) {
	t.Parallel()
	s := gcptest.New(t)
	env := map[string]string{}
	for _, kv := range s.Env() {
		k, v, ok := strings.Cut(kv, "=")
		require.True(t, ok, kv)
		env[k] = v
	}
	assert.Equal(t, map[string]string{
		"OMSECRETS_GCP_ENDPOINT":         s.Endpoint(),
		"GOOGLE_CLOUD_PROJECT":           s.Project,
		"GOOGLE_APPLICATION_CREDENTIALS": s.KeyFile(),
		"SSL_CERT_FILE":                  s.CAFile(),
	}, env)
	pem, err := os.ReadFile(env["SSL_CERT_FILE"])
	require.NoError(t, err)
	assert.Equal(t, s.CAPEM(), pem)
	b, err := os.ReadFile(env["GOOGLE_APPLICATION_CREDENTIALS"])
	require.NoError(t, err)
	var key map[string]string
	require.NoError(t, json.Unmarshal(b, &key))
	assert.Equal(t, "service_account", key["type"])
	assert.Equal(t, s.TokenURL(), key["token_uri"])
	assert.Equal(t, s.Project, key["project_id"])
	assert.Equal(t, s.Email, key["client_email"])
	assert.Equal(t, s.KeyID(), key["private_key_id"])
	assert.Equal(t, s.PrivateKeyPEM(), key["private_key"])
	assert.True(t, strings.HasPrefix(s.TokenURL(), "https://127.0.0.1:"))

	md := map[string]string{}
	for _, kv := range s.MetadataEnv() {
		k, v, _ := strings.Cut(kv, "=")
		md[k] = v
	}
	assert.Equal(t, s.MetadataHost(), md["GCE_METADATA_HOST"])
	assert.NotContains(t, md, "GOOGLE_APPLICATION_CREDENTIALS")

	other := s.WriteKeyFile(map[string]any{"project_id": nil, "quota_project_id": "q-project"})
	b, err = os.ReadFile(other)
	require.NoError(t, err)
	key = map[string]string{}
	require.NoError(t, json.Unmarshal(b, &key))
	assert.NotContains(t, key, "project_id")
	assert.Equal(t, "q-project", key["quota_project_id"])
}
