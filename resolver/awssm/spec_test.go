package awssm_test

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/awstest"
	"omsecrets/resolver"
	"omsecrets/resolver/awssm"
	"omsecrets/resolver/internal/awsconfig"
	"omsecrets/resolver/resolvertest"
)

const irsaRole = "arn:aws:iam::123456789012:role/omsecrets-irsa"

func TestSpec(t *testing.T) {
	t.Parallel()
	s := awssm.Spec
	assert.Equal(t, "aws", s.Name)
	assert.Equal(t, awssm.Name, s.Name)
	assert.Equal(t, []string{"aws", "managed-aws"}, s.Providers)
	assert.NotEmpty(t, s.Summary)
	assert.Equal(t, []resolver.Setting{awsconfig.Region}, s.Settings)
	assert.Equal(t, resolver.Limit{Rate: 100, Burst: 20}, s.Limit, "BatchGetSecretValue: 100 requests per second")
	assert.Equal(t, awssm.MaxBatch, s.BatchSize)
	assert.Equal(t, 20, s.BatchSize)
	require.NotNil(t, s.Open)
}

func TestSpecNotConfigured(t *testing.T) {
	t.Parallel()
	g, err := awssm.Spec.Open(t.Context(), resolver.StoreConfig{Env: map[string]string{"AWS_ACCESS_KEY_ID": "AKIDX", "AWS_SECRET_ACCESS_KEY": "x"}})
	assert.Nil(t, g)
	require.ErrorIs(t, err, resolver.ErrNotConfigured)
	var nc *resolver.NotConfiguredError
	require.ErrorAs(t, err, &nc)
	assert.Equal(t, &resolver.NotConfiguredError{Store: "aws", Need: []string{"aws-region"}}, nc)
}

// TestSpecBadSetting checks that a wrong setting is an error of Open that
// does not name OMSECRETS_ variables (cmd adds those) or quote values.
func TestSpecBadSetting(t *testing.T) {
	t.Parallel()
	for _, cfg := range []resolver.StoreConfig{
		{Settings: map[string]string{"aws-region": "eu/west"}},
		{Settings: map[string]string{"aws-region": "eu-west-1"}, Env: map[string]string{"AWS_ENDPOINT_URL": "ftp://user:hunter2@x"}},
		{Settings: map[string]string{"aws-region": "eu-west-1"}, Env: map[string]string{"AWS_SECRET_ACCESS_KEY": "hunter2"}},
	} {
		_, err := awssm.Spec.Open(t.Context(), cfg)
		require.Error(t, err)
		assert.NotErrorIs(t, err, resolver.ErrNotConfigured)
		assert.NotContains(t, err.Error(), "OMSECRETS_")
		assert.NotContains(t, err.Error(), "hunter2")
		assert.NotContains(t, err.Error(), "eu/west")
	}
}

// irsa is a Kubernetes pod's IRSA setup against an awstest.Server: the
// projected token file, the role, the region and AWS_ENDPOINT_URL only.
type irsa struct {
	srv       *awstest.Server
	tokenPath string
	log       *resolvertest.LogBuffer
}

func newIRSA(t *testing.T, token string, opts ...awstest.Option) *irsa {
	t.Helper()
	srv := awstest.New(t, append([]awstest.Option{awstest.WithWebIdentity(irsaRole, token)}, opts...)...)
	w := &irsa{srv: srv, tokenPath: filepath.Join(t.TempDir(), "token"), log: &resolvertest.LogBuffer{}}
	w.writeToken(t, token)
	return w
}

// writeToken replaces the token file as the kubelet does: a new file
// renamed over the old one.
func (w *irsa) writeToken(t *testing.T, token string) {
	t.Helper()
	tmp := w.tokenPath + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte(token), 0o600))
	require.NoError(t, os.Rename(tmp, w.tokenPath))
}

func (w *irsa) env() map[string]string {
	return map[string]string{
		"AWS_WEB_IDENTITY_TOKEN_FILE": w.tokenPath,
		"AWS_ROLE_ARN":                irsaRole,
		"AWS_REGION":                  w.srv.Region,
		"AWS_ENDPOINT_URL":            w.srv.URL(),
	}
}

func (w *irsa) open(t *testing.T) resolver.Getter {
	t.Helper()
	g, err := awssm.Spec.Open(t.Context(), resolver.StoreConfig{
		// cmd fills the setting from AWS_REGION.
		Settings: map[string]string{"aws-region": w.srv.Region},
		Env:      w.env(),
		Logger:   slog.New(slog.NewTextHandler(w.log, &slog.HandlerOptions{Level: slog.LevelDebug})).With("store", "aws"),
	})
	require.NoError(t, err)
	return g
}

// signers returns the access keys that signed the calls of target, in
// order.
func signers(srv *awstest.Server, target string) []string {
	var out []string
	for _, c := range srv.CallLog() {
		if c.Target == target {
			out = append(out, c.AccessKey)
		}
	}
	return out
}

// TestIRSA is the end-to-end case of a pod with IAM roles for service
// accounts: the store assumes the role at the test server's STS with the
// token file's token, signs Secrets Manager calls with the issued
// credentials, and reuses them while they last. Nothing it logs or
// returns carries the token or the issued secrets.
func TestIRSA(t *testing.T) {
	t.Parallel()
	const token = "eyJhbGciOiJSUzI1NiJ9.IRSA-TOKEN-MARKER-41f0.c2ln"
	w := newIRSA(t, token)
	w.srv.PutSecret("/om/db/password", "irsa-value")
	g := w.open(t)

	v, err := g.Get(t.Context(), "/om/db/password")
	require.NoError(t, err)
	assert.Equal(t, "irsa-value", v.Value())
	calls := w.srv.WebIdentityCalls()
	require.Len(t, calls, 1, "one AssumeRoleWithWebIdentity")
	assert.Equal(t, irsaRole, calls[0].RoleARN)
	assert.Equal(t, token, calls[0].Token)
	assert.NotEmpty(t, calls[0].RoleSessionName)
	issued := calls[0].Issued
	require.NotEmpty(t, issued.AccessKeyID)
	assert.Equal(t, []string{issued.AccessKeyID}, signers(w.srv, awstest.TargetGetSecretValue), "signed with the issued key")

	// Within the credentials' lifetime: no second STS call.
	vals, err := g.(resolver.BatchGetter).GetBatch(t.Context(), []string{"/om/db/password", "/om/missing"})
	require.Error(t, err)
	assert.Equal(t, "irsa-value", vals["/om/db/password"].Value())
	assert.Equal(t, 1, w.srv.Calls(awstest.TargetAssumeRoleWithWebIdentity))
	assert.Equal(t, []string{issued.AccessKeyID}, signers(w.srv, awstest.TargetBatchGetSecretValue))

	// Leaks: the token and the issued secrets, in the log and the
	// errors (a failing call included).
	logs := w.log.String()
	assert.Contains(t, logs, "AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN (web identity)", "the debug line names the source")
	assert.Contains(t, logs, "region="+w.srv.Region)
	for _, planted := range []string{token, "IRSA-TOKEN-MARKER-41f0", issued.SecretAccessKey, issued.SessionToken, "irsa-value"} {
		assert.NotContains(t, logs, planted)
		assert.NotContains(t, err.Error(), planted)
		assert.NotContains(t, fmt.Sprintf("%+v", err), planted)
	}
}

// TestIRSATokenRotation checks that the token file is read again when the
// credentials are refreshed: a rotated token is used at the next refresh,
// and not before.
func TestIRSATokenRotation(t *testing.T) {
	t.Parallel()
	w := newIRSA(t, "token-generation-one", awstest.WithCredentialLifetime(time.Second))
	w.srv.PutSecret("s", "rotation-value")
	g := w.open(t)

	_, err := g.Get(t.Context(), "s")
	require.NoError(t, err)
	first := w.srv.WebIdentityCalls()
	require.Len(t, first, 1)

	// The kubelet rotates the token and the identity provider stops
	// accepting the old one; the credentials issued still hold.
	w.writeToken(t, "token-generation-two")
	w.srv.SetWebIdentityToken("token-generation-two")
	_, err = g.Get(t.Context(), "s")
	require.NoError(t, err)
	require.Len(t, w.srv.WebIdentityCalls(), 1, "no refresh while the credentials last")

	time.Sleep(time.Until(first[0].Issued.Expires) + 50*time.Millisecond)
	_, err = g.Get(t.Context(), "s")
	require.NoError(t, err)
	calls := w.srv.WebIdentityCalls()
	require.Len(t, calls, 2, "refreshed once expired")
	assert.Equal(t, "token-generation-two", calls[1].Token, "the rotated token")
	assert.Empty(t, calls[1].Code)
	s := signers(w.srv, awstest.TargetGetSecretValue)
	assert.Equal(t, []string{first[0].Issued.AccessKeyID, first[0].Issued.AccessKeyID, calls[1].Issued.AccessKeyID}, s)
}

// TestIRSARefused checks the classes of STS's refusals: a rejected token
// or an untrusted role is permission (retrying the same token cannot
// help), an expired token is unavailable (the kubelet will rotate it).
// The error names the STS call and neither the token nor any key.
func TestIRSARefused(t *testing.T) {
	t.Parallel()
	const token = "REJECTED-TOKEN-MARKER-9b3c.payload.sig"
	for _, tc := range []struct {
		name      string
		configure func(*awstest.Server)
		opts      []awstest.Option
		class     string
		code      string
	}{
		{name: "token rejected", opts: []awstest.Option{awstest.WithWebIdentity(irsaRole, "the-accepted-token")}, class: "permission", code: "InvalidIdentityToken"},
		{name: "role not trusted", opts: []awstest.Option{awstest.WithWebIdentity("arn:aws:iam::123456789012:role/another", token)}, class: "permission", code: "AccessDenied"},
		{name: "token expired", opts: []awstest.Option{awstest.WithWebIdentity(irsaRole, token)}, configure: func(s *awstest.Server) { s.ExpireWebIdentityToken(token) }, class: "unavailable", code: "ExpiredTokenException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := awstest.New(t, tc.opts...)
			srv.PutSecret("s", "refused-value")
			if tc.configure != nil {
				tc.configure(srv)
			}
			w := &irsa{srv: srv, tokenPath: filepath.Join(t.TempDir(), "token"), log: &resolvertest.LogBuffer{}}
			w.writeToken(t, token)
			g := w.open(t)

			_, err := g.Get(t.Context(), "s")
			require.Error(t, err)
			assert.Equal(t, tc.class, resolver.Class(err), "%v", err)
			assert.ErrorContains(t, err, "STS AssumeRoleWithWebIdentity")
			assert.ErrorContains(t, err, tc.code)
			_, err2 := g.(resolver.BatchGetter).GetBatch(t.Context(), []string{"s", "t"})
			require.Error(t, err2)
			assert.Equal(t, tc.class, resolver.Class(err2))
			for _, e := range []error{err, err2} {
				for _, planted := range []string{token, "REJECTED-TOKEN-MARKER", srv.SecretKey, srv.AccessKey, "refused-value"} {
					assert.NotContains(t, e.Error(), planted)
				}
			}
			assert.NotContains(t, w.log.String(), "REJECTED-TOKEN-MARKER")
			assert.Equal(t, 2, srv.Calls(awstest.TargetAssumeRoleWithWebIdentity), "one STS call per store call: the resolver retries, not the SDK")
			assert.Zero(t, srv.Calls(awstest.TargetGetSecretValue)+srv.Calls(awstest.TargetBatchGetSecretValue), "nothing sent unsigned")
			assert.Equal(t, 20, g.(resolver.BatchGetter).MaxBatch(), "a credential failure is not a denied batch action")
		})
	}
}

// TestIRSAEndpoints checks which endpoint each client calls:
// AWS_ENDPOINT_URL_STS over AWS_ENDPOINT_URL for STS, and
// AWS_ENDPOINT_URL_SECRETS_MANAGER over AWS_ENDPOINT_URL for Secrets
// Manager, each independently of the other.
func TestIRSAEndpoints(t *testing.T) {
	t.Parallel()
	const token = "endpoint-test-token"
	tokenPath := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenPath, []byte(token), 0o600))
	// general is AWS_ENDPOINT_URL, stsOnly AWS_ENDPOINT_URL_STS and smOnly
	// AWS_ENDPOINT_URL_SECRETS_MANAGER; each Secrets Manager accepts the
	// credentials the others' STS issue, as AWS does.
	stsOnly := awstest.New(t, awstest.WithWebIdentity(irsaRole, token))
	general := awstest.New(t, awstest.WithWebIdentity(irsaRole, token), awstest.WithTrustedIssuer(stsOnly))
	smOnly := awstest.New(t, awstest.WithWebIdentity(irsaRole, token), awstest.WithTrustedIssuer(general), awstest.WithTrustedIssuer(stsOnly))
	servers := map[string]*awstest.Server{"general": general, "stsOnly": stsOnly, "smOnly": smOnly}
	for name, s := range servers {
		s.PutSecret("s", "value-of-"+name)
	}

	for _, tc := range []struct {
		name            string
		sts, sm         string // servers of AWS_ENDPOINT_URL_STS and ..._SECRETS_MANAGER, if set
		wantSTS, wantSM string
	}{
		{name: "general for both", wantSTS: "general", wantSM: "general"},
		{name: "STS-specific wins for STS", sts: "stsOnly", wantSTS: "stsOnly", wantSM: "general"},
		{name: "SM-specific wins for SM", sm: "smOnly", wantSTS: "general", wantSM: "smOnly"},
		{name: "both specific", sts: "stsOnly", sm: "smOnly", wantSTS: "stsOnly", wantSM: "smOnly"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Not parallel: the subtests count calls on shared servers.
			for _, s := range servers {
				s.Reset()
			}
			env := map[string]string{"AWS_WEB_IDENTITY_TOKEN_FILE": tokenPath, "AWS_ROLE_ARN": irsaRole, "AWS_ENDPOINT_URL": general.URL()}
			if tc.sts != "" {
				env["AWS_ENDPOINT_URL_STS"] = servers[tc.sts].URL()
			}
			if tc.sm != "" {
				env["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = servers[tc.sm].URL()
			}
			g, err := awssm.Spec.Open(t.Context(), resolver.StoreConfig{Settings: map[string]string{"aws-region": general.Region}, Env: env})
			require.NoError(t, err)
			v, err := g.Get(t.Context(), "s")
			require.NoError(t, err)
			assert.Equal(t, "value-of-"+tc.wantSM, v.Value())
			for name, s := range servers {
				wantSTS, wantSM := 0, 0
				if name == tc.wantSTS {
					wantSTS = 1
				}
				if name == tc.wantSM {
					wantSM = 1
				}
				assert.Equal(t, wantSTS, s.Calls(awstest.TargetAssumeRoleWithWebIdentity), "STS calls on %s", name)
				assert.Equal(t, wantSM, s.Calls(awstest.TargetGetSecretValue), "Secrets Manager calls on %s", name)
			}
		})
	}
}
