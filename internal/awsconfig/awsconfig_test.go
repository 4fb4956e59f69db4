package awsconfig_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/awsconfig"
	"omsecrets/internal/awstest"
	"omsecrets/resolver"
	"omsecrets/resolver/awssm"
	"omsecrets/resolver/awsssm"
)

// withStatic adds static test credentials to env so that Load never looks
// at the machine's own credentials.
func withStatic(env map[string]string) map[string]string {
	out := map[string]string{awsconfig.EnvAccessKeyID: "AKIDTEST", awsconfig.EnvSecretAccessKey: "test-secret"}
	for k, v := range env {
		out[k] = v
	}
	return out
}

func TestRegion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{name: "AWS_REGION", env: map[string]string{"AWS_REGION": "eu-west-1"}, want: "eu-west-1"},
		{name: "AWS_REGION wins", env: map[string]string{"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "us-east-1", "AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_REGION": "ap-south-1"}, want: "eu-west-1"},
		{name: "AWS_DEFAULT_REGION", env: map[string]string{"AWS_DEFAULT_REGION": "us-east-1", "AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_REGION": "ap-south-1"}, want: "us-east-1"},
		{name: "Airflow name", env: map[string]string{"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_REGION": "ap-south-1"}, want: "ap-south-1"},
		{name: "empty is unset", env: map[string]string{"AWS_REGION": "", "AWS_DEFAULT_REGION": " ", "AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_REGION": "ap-south-1"}, want: "ap-south-1"},
		{name: "spaces trimmed", env: map[string]string{"AWS_REGION": " eu-central-1 "}, want: "eu-central-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, _, err := awsconfig.Load(t.Context(), withStatic(tc.env))
			require.NoError(t, err)
			assert.Equal(t, tc.want, cfg.Region)
		})
	}
}

func TestNoRegion(t *testing.T) {
	t.Parallel()
	_, _, err := awsconfig.Load(t.Context(), withStatic(map[string]string{"AWS_REGION": "  "}))
	require.ErrorIs(t, err, awsconfig.ErrNoRegion)
	for _, name := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_REGION"} {
		assert.ErrorContains(t, err, name)
	}
}

func TestEndpoints(t *testing.T) {
	t.Parallel()
	const (
		general = "http://localhost:4566"
		sm      = "https://sm.example.test"
		ssm     = "http://ssm.example.test:8080/base"
	)
	for _, tc := range []struct {
		name string
		env  map[string]string
		want awsconfig.Endpoints
	}{
		{name: "none", env: map[string]string{}, want: awsconfig.Endpoints{}},
		{name: "general for both", env: map[string]string{"AWS_ENDPOINT_URL": general}, want: awsconfig.Endpoints{SecretsManager: general, SSM: general}},
		{name: "service-specific wins", env: map[string]string{"AWS_ENDPOINT_URL": general, "AWS_ENDPOINT_URL_SECRETS_MANAGER": sm, "AWS_ENDPOINT_URL_SSM": ssm}, want: awsconfig.Endpoints{SecretsManager: sm, SSM: ssm}},
		{name: "only secrets manager", env: map[string]string{"AWS_ENDPOINT_URL_SECRETS_MANAGER": sm}, want: awsconfig.Endpoints{SecretsManager: sm}},
		{name: "only ssm, general for the other", env: map[string]string{"AWS_ENDPOINT_URL": general, "AWS_ENDPOINT_URL_SSM": ssm}, want: awsconfig.Endpoints{SecretsManager: general, SSM: ssm}},
		{name: "empty is unset", env: map[string]string{"AWS_ENDPOINT_URL": general, "AWS_ENDPOINT_URL_SSM": ""}, want: awsconfig.Endpoints{SecretsManager: general, SSM: general}},
		{name: "ignored", env: map[string]string{"AWS_ENDPOINT_URL": general, "AWS_ENDPOINT_URL_SSM": ssm, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "TRUE"}, want: awsconfig.Endpoints{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := withStatic(tc.env)
			env["AWS_REGION"] = "eu-west-1"
			_, eps, err := awsconfig.Load(t.Context(), env)
			require.NoError(t, err)
			assert.Equal(t, tc.want, eps)
		})
	}
}

func TestBadEndpoint(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, variable, value string }{
		{name: "no scheme", variable: "AWS_ENDPOINT_URL", value: "localhost:4566"},
		{name: "other scheme", variable: "AWS_ENDPOINT_URL_SSM", value: "ftp://user:hunter2@example.test"},
		{name: "no host", variable: "AWS_ENDPOINT_URL_SECRETS_MANAGER", value: "http://"},
		{name: "not a URL", variable: "AWS_ENDPOINT_URL", value: "http://[::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := withStatic(map[string]string{"AWS_REGION": "eu-west-1", tc.variable: tc.value})
			_, _, err := awsconfig.Load(t.Context(), env)
			require.Error(t, err)
			assert.ErrorContains(t, err, tc.variable)
			assert.NotContains(t, err.Error(), tc.value, "the value may hold userinfo")
		})
	}
}

// getSecret reads the secret "s" from srv through a Provider built from
// Load(env), with env's endpoint.
func getSecret(t *testing.T, env map[string]string) error {
	t.Helper()
	cfg, eps, err := awsconfig.Load(t.Context(), env)
	require.NoError(t, err)
	require.NotEmpty(t, eps.SecretsManager)
	v, err := awssm.New(cfg, awssm.Options{Endpoint: eps.SecretsManager}).Get(t.Context(), "s")
	if err == nil {
		assert.Equal(t, "config-value", v.Value())
	}
	return err
}

// TestStaticCredentials checks, through awstest's signature check, which
// credentials Load's config signs with.
func TestStaticCredentials(t *testing.T) {
	t.Parallel()
	srv := awstest.New(t, awstest.WithCredentials("AKIDRIGHT", "right-secret"))
	srv.PutSecret("s", "config-value")
	base := map[string]string{"AWS_REGION": srv.Region, "AWS_ENDPOINT_URL": srv.URL()}
	env := func(kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		ok   bool
	}{
		{name: "AWS_* keys", env: env("AWS_ACCESS_KEY_ID", "AKIDRIGHT", "AWS_SECRET_ACCESS_KEY", "right-secret"), ok: true},
		{name: "AWS_* wrong secret", env: env("AWS_ACCESS_KEY_ID", "AKIDRIGHT", "AWS_SECRET_ACCESS_KEY", "wrong"), ok: false},
		{name: "Airflow keys", env: env(
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_ACCESS_KEY_ID", "AKIDRIGHT",
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_SECRET_ACCESS_KEY", "right-secret"), ok: true},
		{name: "Airflow wrong key id", env: env(
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_ACCESS_KEY_ID", "AKIDWRONG",
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_SECRET_ACCESS_KEY", "right-secret"), ok: false},
		{name: "AWS_* wins over Airflow", env: env(
			"AWS_ACCESS_KEY_ID", "AKIDRIGHT", "AWS_SECRET_ACCESS_KEY", "right-secret",
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_ACCESS_KEY_ID", "AKIDWRONG",
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_SECRET_ACCESS_KEY", "wrong"), ok: true},
		{name: "Airflow not used when AWS_* set", env: env(
			"AWS_ACCESS_KEY_ID", "AKIDWRONG", "AWS_SECRET_ACCESS_KEY", "wrong",
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_ACCESS_KEY_ID", "AKIDRIGHT",
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_SECRET_ACCESS_KEY", "right-secret"), ok: false},
		{name: "empty AWS_* falls through to Airflow", env: env(
			"AWS_ACCESS_KEY_ID", "", "AWS_SECRET_ACCESS_KEY", "",
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_ACCESS_KEY_ID", "AKIDRIGHT",
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_SECRET_ACCESS_KEY", "right-secret"), ok: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := getSecret(t, tc.env)
			if tc.ok {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, resolver.ErrPermission)
			assert.NotContains(t, err.Error(), "right-secret")
		})
	}
}

func TestSessionToken(t *testing.T) {
	t.Parallel()
	srv := awstest.New(t, awstest.WithCredentials("ASIATEMP", "temp-secret"), awstest.WithSessionToken("the-session-token"))
	srv.PutSecret("s", "config-value")
	env := map[string]string{
		"AWS_REGION": srv.Region, "AWS_ENDPOINT_URL_SECRETS_MANAGER": srv.URL(),
		"AWS_ACCESS_KEY_ID": "ASIATEMP", "AWS_SECRET_ACCESS_KEY": "temp-secret",
	}
	err := getSecret(t, env)
	assert.ErrorIs(t, err, resolver.ErrPermission, "the token is required")
	env["AWS_SESSION_TOKEN"] = "the-session-token"
	assert.NoError(t, getSecret(t, env))
}

// TestAirflowOnly is the end-to-end case of an Airflow deployment
// configured the OpenMetadata way: only the AIRFLOW__ variables, plus a
// local endpoint.
func TestAirflowOnly(t *testing.T) {
	t.Parallel()
	srv := awstest.New(t, awstest.WithRegion("ap-southeast-2"), awstest.WithCredentials("AKIDAIRFLOW", "airflow-secret"))
	srv.PutSecret("/openmetadata/db/password", "airflow-sm-value")
	srv.PutParameter("/openmetadata/db/password", "airflow-ssm-value", true)
	env := map[string]string{
		"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_REGION":            "ap-southeast-2",
		"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_ACCESS_KEY_ID":     "AKIDAIRFLOW",
		"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_SECRET_ACCESS_KEY": "airflow-secret",
		"AWS_ENDPOINT_URL": srv.URL(),
	}
	cfg, eps, err := awsconfig.Load(t.Context(), env)
	require.NoError(t, err)
	assert.Equal(t, "ap-southeast-2", cfg.Region)

	v, err := awssm.New(cfg, awssm.Options{Endpoint: eps.SecretsManager}).Get(t.Context(), "/openmetadata/db/password")
	require.NoError(t, err)
	assert.Equal(t, "airflow-sm-value", v.Value())
	v, err = awsssm.New(cfg, awsssm.Options{Endpoint: eps.SSM}).Get(t.Context(), "/openmetadata/db/password")
	require.NoError(t, err)
	assert.Equal(t, "airflow-ssm-value", v.Value())
	assert.Equal(t, 1, srv.Calls(awstest.TargetGetSecretValue))
	assert.Equal(t, 1, srv.Calls(awstest.TargetGetParameter))
	assert.Equal(t, "AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_ACCESS_KEY_ID, AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_SECRET_ACCESS_KEY", awsconfig.CredentialSource(env))
}

func TestPartialCredentials(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		env        map[string]string
		wantNames  []string
		hideValues []string
	}{
		{name: "key id only", env: map[string]string{"AWS_ACCESS_KEY_ID": "AKIDLONELY"}, wantNames: []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}, hideValues: []string{"AKIDLONELY"}},
		{name: "secret only", env: map[string]string{"AWS_SECRET_ACCESS_KEY": "lonely-secret"}, wantNames: []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}, hideValues: []string{"lonely-secret"}},
		{name: "Airflow secret only", env: map[string]string{"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_SECRET_ACCESS_KEY": "airflow-lonely"}, wantNames: []string{"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_ACCESS_KEY_ID"}, hideValues: []string{"airflow-lonely"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.env["AWS_REGION"] = "eu-west-1"
			_, _, err := awsconfig.Load(t.Context(), tc.env)
			require.Error(t, err)
			for _, n := range tc.wantNames {
				assert.ErrorContains(t, err, n)
			}
			for _, v := range tc.hideValues {
				assert.NotContains(t, err.Error(), v)
			}
		})
	}
}

// TestProfile checks that AWS_PROFILE and the shared files named in env
// are used, whatever the process environment says.
func TestProfile(t *testing.T) {
	t.Parallel()
	srv := awstest.New(t, awstest.WithCredentials("AKIDPROFILE", "profile-secret"))
	srv.PutSecret("s", "config-value")
	dir := t.TempDir()
	credsFile := filepath.Join(dir, "credentials")
	configFile := filepath.Join(dir, "config")
	require.NoError(t, os.WriteFile(credsFile, []byte("[omtest]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile-secret\n\n[other]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = other\n"), 0o600))
	require.NoError(t, os.WriteFile(configFile, []byte("[profile omtest]\nregion = us-west-2\n"), 0o600))
	env := map[string]string{
		"AWS_REGION":                  srv.Region,
		"AWS_PROFILE":                 "omtest",
		"AWS_CONFIG_FILE":             configFile,
		"AWS_SHARED_CREDENTIALS_FILE": credsFile,
		"AWS_ENDPOINT_URL":            srv.URL(),
	}
	require.NoError(t, getSecret(t, env))
	assert.Equal(t, "SDK default chain, profile from AWS_PROFILE", awsconfig.CredentialSource(env))

	env["AWS_PROFILE"] = "other"
	assert.ErrorIs(t, getSecret(t, env), resolver.ErrPermission)
}

// TestOneAttempt checks that the config itself does not retry, whoever
// builds a client from it, even when the process environment asks the SDK
// for retries. It is not parallel: it sets process variables.
func TestOneAttempt(t *testing.T) {
	t.Setenv("AWS_MAX_ATTEMPTS", "5")
	t.Setenv("AWS_RETRY_MODE", "adaptive")
	srv := awstest.New(t)
	srv.PutSecret("s", "config-value")
	cfg, _, err := awsconfig.Load(t.Context(), map[string]string{
		"AWS_REGION": srv.Region, "AWS_ACCESS_KEY_ID": srv.AccessKey, "AWS_SECRET_ACCESS_KEY": srv.SecretKey,
	})
	require.NoError(t, err)
	client := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(srv.URL()) })
	srv.FailNext(2, http.StatusInternalServerError)
	_, err = client.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
	require.Error(t, err)
	assert.Equal(t, 1, srv.TotalCalls())
	srv.Throttle(2)
	_, err = client.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
	require.Error(t, err)
	assert.Equal(t, 2, srv.TotalCalls())

	bc, ok := cfg.HTTPClient.(*awshttp.BuildableClient)
	require.True(t, ok, "HTTP client %T", cfg.HTTPClient)
	assert.Equal(t, awsconfig.DefaultHTTPTimeout, bc.GetTimeout())
}

func TestCredentialSource(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY", awsconfig.CredentialSource(map[string]string{"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}))
	assert.Equal(t, "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN", awsconfig.CredentialSource(map[string]string{"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "AWS_SESSION_TOKEN": "c"}))
	assert.Equal(t, "SDK default chain", awsconfig.CredentialSource(map[string]string{"AWS_REGION": "x"}))
	src := awsconfig.CredentialSource(map[string]string{"AWS_ACCESS_KEY_ID": "AKIDVALUE", "AWS_SECRET_ACCESS_KEY": "secret-value"})
	assert.False(t, strings.Contains(src, "AKIDVALUE") || strings.Contains(src, "secret-value"))
}
