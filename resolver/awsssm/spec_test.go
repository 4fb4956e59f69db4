package awsssm_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/awstest"
	"omsecrets/resolver"
	"omsecrets/resolver/awsssm"
	"omsecrets/resolver/internal/awsconfig"
	"omsecrets/resolver/resolvertest"
)

func TestSpec(t *testing.T) {
	t.Parallel()
	s := awsssm.Spec
	assert.Equal(t, "aws-ssm", s.Name)
	assert.Equal(t, awsssm.Name, s.Name)
	assert.Equal(t, []string{"aws-ssm", "managed-aws-ssm"}, s.Providers)
	assert.NotEmpty(t, s.Summary)
	assert.Equal(t, []resolver.Setting{awsconfig.Region}, s.Settings)
	assert.Equal(t, resolver.Limit{Rate: 40, Burst: 10}, s.Limit, "Parameter Store standard throughput: 40 per second")
	assert.Equal(t, awsssm.MaxBatch, s.BatchSize)
	assert.Equal(t, 10, s.BatchSize)
	require.NotNil(t, s.Open)
}

func TestSpecNotConfigured(t *testing.T) {
	t.Parallel()
	g, err := awsssm.Spec.Open(t.Context(), resolver.StoreConfig{Settings: map[string]string{"aws-region": " "}})
	assert.Nil(t, g)
	var nc *resolver.NotConfiguredError
	require.ErrorAs(t, err, &nc)
	assert.Equal(t, &resolver.NotConfiguredError{Store: "aws-ssm", Need: []string{"aws-region"}}, nc)
	assert.ErrorIs(t, err, resolver.ErrNotConfigured)
}

// TestIRSA reads SecureString parameters through IAM roles for service
// accounts: a token file, the role, the region and AWS_ENDPOINT_URL only.
// One STS call serves GetParameters and GetParameter, both signed with
// the issued credentials, and nothing logged or returned carries the
// token or the issued secrets. (resolver/awssm tests rotation, refusals
// and endpoints of the shared configuration.)
func TestIRSA(t *testing.T) {
	t.Parallel()
	const (
		role  = "arn:aws:iam::123456789012:role/omsecrets-ssm"
		token = "eyJhbGciOiJSUzI1NiJ9.SSM-IRSA-TOKEN-MARKER-77aa.c2ln"
	)
	srv := awstest.New(t, awstest.WithWebIdentity(role, token))
	srv.PutParameter("/om/db/password", "ssm-irsa-value", true)
	srv.PutParameter("/om/db/user", "ssm-irsa-user", false)
	tokenPath := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenPath, []byte(token), 0o600))
	var log resolvertest.LogBuffer
	g, err := awsssm.Spec.Open(t.Context(), resolver.StoreConfig{
		Settings: map[string]string{"aws-region": srv.Region},
		Env: map[string]string{
			"AWS_WEB_IDENTITY_TOKEN_FILE": tokenPath,
			"AWS_ROLE_ARN":                role,
			"AWS_REGION":                  srv.Region,
			"AWS_ENDPOINT_URL":            srv.URL(),
		},
		Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	require.NoError(t, err)
	bg, ok := g.(resolver.BatchGetter)
	require.True(t, ok)

	vals, err := bg.GetBatch(t.Context(), []string{"/om/db/password", "/om/db/user", "/om/missing"})
	require.Error(t, err, "the missing one")
	assert.Equal(t, "ssm-irsa-value", vals["/om/db/password"].Value())
	assert.Equal(t, "ssm-irsa-user", vals["/om/db/user"].Value())
	v, err := g.Get(t.Context(), "/om/db/password")
	require.NoError(t, err)
	assert.Equal(t, "ssm-irsa-value", v.Value())

	calls := srv.WebIdentityCalls()
	require.Len(t, calls, 1)
	assert.Equal(t, role, calls[0].RoleARN)
	assert.Equal(t, token, calls[0].Token)
	issued := calls[0].Issued
	for _, c := range srv.CallLog() {
		if c.Target == awstest.TargetGetParameters || c.Target == awstest.TargetGetParameter {
			assert.Equal(t, issued.AccessKeyID, c.AccessKey, "%s signed with the issued key", c.Target)
		}
	}
	assert.Equal(t, 1, srv.Calls(awstest.TargetGetParameters))
	assert.Equal(t, 1, srv.Calls(awstest.TargetGetParameter))

	assert.Contains(t, log.String(), "(web identity)")
	_, missingErr := bg.GetBatch(t.Context(), []string{"/om/missing"})
	for _, planted := range []string{token, "SSM-IRSA-TOKEN-MARKER-77aa", issued.SecretAccessKey, issued.SessionToken, "ssm-irsa-value"} {
		assert.NotContains(t, log.String(), planted)
		assert.NotContains(t, missingErr.Error(), planted)
	}

	// A rejected token is permission for Parameter Store too, and does
	// not switch it to GetParameter.
	srv.SetWebIdentityToken("another-token")
	rejected, err := awsssm.Spec.Open(t.Context(), resolver.StoreConfig{
		Settings: map[string]string{"aws-region": srv.Region},
		Env:      map[string]string{"AWS_WEB_IDENTITY_TOKEN_FILE": tokenPath, "AWS_ROLE_ARN": role, "AWS_ENDPOINT_URL": srv.URL()},
	})
	require.NoError(t, err)
	_, err = rejected.(resolver.BatchGetter).GetBatch(t.Context(), []string{"/om/db/password"})
	assert.Equal(t, "permission", resolver.Class(err))
	assert.NotContains(t, err.Error(), token)
	assert.Equal(t, 10, rejected.(resolver.BatchGetter).MaxBatch())
}
