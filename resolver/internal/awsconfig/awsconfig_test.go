package awsconfig_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/awstest"
	"omsecrets/resolver"
	"omsecrets/resolver/awssm"
	"omsecrets/resolver/awsssm"
	"omsecrets/resolver/internal/awsconfig"
	"omsecrets/resolver/resolvertest"
)

const (
	role  = "arn:aws:iam::123456789012:role/omsecrets-irsa"
	token = "eyJhbGciOiJSUzI1NiJ9.awsconfig-test-token.c2ln"
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

// with returns a copy of base with kv (name, value, ...) set.
func with(base map[string]string, kv ...string) map[string]string {
	out := make(map[string]string, len(base)+len(kv)/2)
	for k, v := range base {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// writeFile writes content to a new file in a temporary directory and
// returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func TestRegionSetting(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "aws-region", awsconfig.Region.Name)
	assert.Equal(t, []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_REGION"}, awsconfig.Region.Env)
	assert.Empty(t, awsconfig.Region.Default)
	assert.NotEmpty(t, awsconfig.Region.Usage)
	assert.Equal(t, []resolver.Setting{awsconfig.Region}, awssm.Spec.Settings, "the stores share one definition")
	assert.Equal(t, []resolver.Setting{awsconfig.Region}, awsssm.Spec.Settings)
}

func TestOpenRegion(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, value, want string }{
		{name: "plain", value: "eu-west-1", want: "eu-west-1"},
		{name: "spaces trimmed", value: " eu-central-1 ", want: "eu-central-1"},
		{name: "emulator name", value: "local", want: "local"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := awsconfig.Open(t.Context(), "aws", resolver.StoreConfig{Settings: map[string]string{"aws-region": tc.value}, Env: withStatic(nil)})
			require.NoError(t, err)
			assert.Equal(t, tc.want, c.AWS.Region)
		})
	}
}

func TestOpenNotConfigured(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		settings map[string]string
	}{
		{name: "no settings", settings: nil},
		{name: "empty", settings: map[string]string{"aws-region": ""}},
		{name: "spaces", settings: map[string]string{"aws-region": "  "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The region is the setting's, never env's: cmd resolves the
			// variables.
			_, err := awsconfig.Open(t.Context(), "aws-ssm", resolver.StoreConfig{Settings: tc.settings, Env: withStatic(map[string]string{"AWS_REGION": "eu-west-1"})})
			require.ErrorIs(t, err, resolver.ErrNotConfigured)
			var nc *resolver.NotConfiguredError
			require.ErrorAs(t, err, &nc)
			assert.Equal(t, &resolver.NotConfiguredError{Store: "aws-ssm", Need: []string{"aws-region"}}, nc)
		})
	}
}

func TestBadRegion(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"eu west 1", "eu-west-1/x", "-eu-west-1", "eu-west-1-", strings.Repeat("a", 64), "eu-west-1\nX-Injected: 1", "régión", "eu_west_1"} {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			_, err := awsconfig.Open(t.Context(), "aws", resolver.StoreConfig{Settings: map[string]string{"aws-region": v}, Env: withStatic(nil)})
			require.Error(t, err)
			assert.NotErrorIs(t, err, resolver.ErrNotConfigured)
			assert.NotContains(t, err.Error(), strings.TrimSpace(v), "the error quotes the value")
		})
	}
}

func TestEndpoints(t *testing.T) {
	t.Parallel()
	const (
		general = "http://localhost:4566"
		sm      = "https://sm.example.test"
		ssm     = "http://ssm.example.test:8080/base"
		stsURL  = "https://sts.example.test"
	)
	for _, tc := range []struct {
		name string
		env  map[string]string
		want awsconfig.Endpoints
	}{
		{name: "none", env: map[string]string{}, want: awsconfig.Endpoints{}},
		{name: "general for all", env: map[string]string{"AWS_ENDPOINT_URL": general}, want: awsconfig.Endpoints{SecretsManager: general, SSM: general, STS: general}},
		{name: "service-specific wins", env: map[string]string{"AWS_ENDPOINT_URL": general, "AWS_ENDPOINT_URL_SECRETS_MANAGER": sm, "AWS_ENDPOINT_URL_SSM": ssm, "AWS_ENDPOINT_URL_STS": stsURL}, want: awsconfig.Endpoints{SecretsManager: sm, SSM: ssm, STS: stsURL}},
		{name: "only secrets manager", env: map[string]string{"AWS_ENDPOINT_URL_SECRETS_MANAGER": sm}, want: awsconfig.Endpoints{SecretsManager: sm}},
		{name: "only sts", env: map[string]string{"AWS_ENDPOINT_URL_STS": stsURL}, want: awsconfig.Endpoints{STS: stsURL}},
		{name: "only ssm, general for the others", env: map[string]string{"AWS_ENDPOINT_URL": general, "AWS_ENDPOINT_URL_SSM": ssm}, want: awsconfig.Endpoints{SecretsManager: general, SSM: ssm, STS: general}},
		{name: "empty is unset", env: map[string]string{"AWS_ENDPOINT_URL": general, "AWS_ENDPOINT_URL_SSM": "", "AWS_ENDPOINT_URL_STS": " "}, want: awsconfig.Endpoints{SecretsManager: general, SSM: general, STS: general}},
		{name: "ignored", env: map[string]string{"AWS_ENDPOINT_URL": general, "AWS_ENDPOINT_URL_SSM": ssm, "AWS_ENDPOINT_URL_STS": stsURL, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "TRUE"}, want: awsconfig.Endpoints{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := awsconfig.Load(t.Context(), "eu-west-1", withStatic(tc.env))
			require.NoError(t, err)
			assert.Equal(t, tc.want, c.Endpoints)
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
		{name: "sts with userinfo, other scheme", variable: "AWS_ENDPOINT_URL_STS", value: "ftp://stsuser:hunter2@sts.example.test"},
		{name: "sts with userinfo, not a URL", variable: "AWS_ENDPOINT_URL_STS", value: "http://stsuser:hunter2@[::1"},
		{name: "sts opaque", variable: "AWS_ENDPOINT_URL_STS", value: "https:stsuser:hunter2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := withStatic(map[string]string{tc.variable: tc.value})
			_, err := awsconfig.Load(t.Context(), "eu-west-1", env)
			require.Error(t, err)
			assert.ErrorContains(t, err, tc.variable)
			assert.NotContains(t, err.Error(), tc.value, "the value may hold userinfo")
			assert.NotContains(t, err.Error(), "hunter2")
		})
	}
}

// open builds the Secrets Manager store from env with region.
func open(t *testing.T, region string, env map[string]string) resolver.Getter {
	t.Helper()
	g, err := awssm.Spec.Open(t.Context(), resolver.StoreConfig{Settings: map[string]string{"aws-region": region}, Env: env})
	require.NoError(t, err)
	return g
}

// getSecret reads the secret "s" from srv through the store built from
// env, with env's endpoint.
func getSecret(t *testing.T, srv *awstest.Server, env map[string]string) error {
	t.Helper()
	v, err := open(t, srv.Region, env).Get(t.Context(), "s")
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
	base := map[string]string{"AWS_ENDPOINT_URL": srv.URL()}
	for _, tc := range []struct {
		name string
		env  map[string]string
		ok   bool
	}{
		{name: "AWS_* keys", env: with(base, "AWS_ACCESS_KEY_ID", "AKIDRIGHT", "AWS_SECRET_ACCESS_KEY", "right-secret"), ok: true},
		{name: "AWS_* wrong secret", env: with(base, "AWS_ACCESS_KEY_ID", "AKIDRIGHT", "AWS_SECRET_ACCESS_KEY", "wrong"), ok: false},
		{name: "Airflow keys", env: with(base,
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_ACCESS_KEY_ID", "AKIDRIGHT",
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_SECRET_ACCESS_KEY", "right-secret"), ok: true},
		{name: "Airflow wrong key id", env: with(base,
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_ACCESS_KEY_ID", "AKIDWRONG",
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_SECRET_ACCESS_KEY", "right-secret"), ok: false},
		{name: "AWS_* wins over Airflow", env: with(base,
			"AWS_ACCESS_KEY_ID", "AKIDRIGHT", "AWS_SECRET_ACCESS_KEY", "right-secret",
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_ACCESS_KEY_ID", "AKIDWRONG",
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_SECRET_ACCESS_KEY", "wrong"), ok: true},
		{name: "Airflow not used when AWS_* set", env: with(base,
			"AWS_ACCESS_KEY_ID", "AKIDWRONG", "AWS_SECRET_ACCESS_KEY", "wrong",
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_ACCESS_KEY_ID", "AKIDRIGHT",
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_SECRET_ACCESS_KEY", "right-secret"), ok: false},
		{name: "empty AWS_* falls through to Airflow", env: with(base,
			"AWS_ACCESS_KEY_ID", "", "AWS_SECRET_ACCESS_KEY", "",
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_ACCESS_KEY_ID", "AKIDRIGHT",
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_SECRET_ACCESS_KEY", "right-secret"), ok: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := getSecret(t, srv, tc.env)
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
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": srv.URL(),
		"AWS_ACCESS_KEY_ID":                "ASIATEMP", "AWS_SECRET_ACCESS_KEY": "temp-secret",
	}
	err := getSecret(t, srv, env)
	assert.ErrorIs(t, err, resolver.ErrPermission, "the token is required")
	env["AWS_SESSION_TOKEN"] = "the-session-token"
	assert.NoError(t, getSecret(t, srv, env))
}

// TestAirflowOnly is the end-to-end case of an Airflow deployment
// configured the OpenMetadata way: only the AIRFLOW__ variables (the
// region through the setting cmd fills from its variable), plus a local
// endpoint.
func TestAirflowOnly(t *testing.T) {
	t.Parallel()
	srv := awstest.New(t, awstest.WithRegion("ap-southeast-2"), awstest.WithCredentials("AKIDAIRFLOW", "airflow-secret"))
	srv.PutSecret("/openmetadata/db/password", "airflow-sm-value")
	srv.PutParameter("/openmetadata/db/password", "airflow-ssm-value", true)
	cfg := resolver.StoreConfig{
		Settings: map[string]string{"aws-region": "ap-southeast-2"},
		Env: map[string]string{
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_REGION":            "ap-southeast-2",
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_ACCESS_KEY_ID":     "AKIDAIRFLOW",
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_SECRET_ACCESS_KEY": "airflow-secret",
			"AWS_ENDPOINT_URL": srv.URL(),
		},
	}
	sm, err := awssm.Spec.Open(t.Context(), cfg)
	require.NoError(t, err)
	ssm, err := awsssm.Spec.Open(t.Context(), cfg)
	require.NoError(t, err)

	v, err := sm.Get(t.Context(), "/openmetadata/db/password")
	require.NoError(t, err)
	assert.Equal(t, "airflow-sm-value", v.Value())
	v, err = ssm.Get(t.Context(), "/openmetadata/db/password")
	require.NoError(t, err)
	assert.Equal(t, "airflow-ssm-value", v.Value())
	assert.Equal(t, 1, srv.Calls(awstest.TargetGetSecretValue))
	assert.Equal(t, 1, srv.Calls(awstest.TargetGetParameter))
	assert.Equal(t, "AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_ACCESS_KEY_ID, AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_SECRET_ACCESS_KEY", awsconfig.CredentialSource(cfg.Env))
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
		{name: "token file without role", env: map[string]string{"AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/secrets/lonely-token-path"}, wantNames: []string{"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"}, hideValues: []string{"lonely-token-path"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := awsconfig.Load(t.Context(), "eu-west-1", tc.env)
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
	credsFile := writeFile(t, "credentials", "[omtest]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile-secret\n\n[other]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = other\n")
	configFile := writeFile(t, "config", "[profile omtest]\nregion = us-west-2\n")
	env := map[string]string{
		"AWS_PROFILE":                 "omtest",
		"AWS_CONFIG_FILE":             configFile,
		"AWS_SHARED_CREDENTIALS_FILE": credsFile,
		"AWS_ENDPOINT_URL":            srv.URL(),
	}
	require.NoError(t, getSecret(t, srv, env))
	assert.Equal(t, "SDK default chain, profile from AWS_PROFILE", awsconfig.CredentialSource(env))

	env["AWS_PROFILE"] = "other"
	assert.ErrorIs(t, getSecret(t, srv, env), resolver.ErrPermission)
}

// TestCredentialPrecedence checks the order of the credential sources when
// several are set, by which one the test server sees: the SDK's order,
// static keys before web identity before a profile, with the Airflow keys
// after AWS_*.
func TestCredentialPrecedence(t *testing.T) {
	t.Parallel()
	srv := awstest.New(t, awstest.WithCredentials("AKIDSTATIC", "static-secret"), awstest.WithWebIdentity(role, token))
	srv.PutSecret("s", "config-value")
	tokenPath := writeFile(t, "token", token)
	credsFile := writeFile(t, "credentials", "[other]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile-secret\n")
	base := with(nil, "AWS_ENDPOINT_URL", srv.URL(), "AWS_CONFIG_FILE", writeFile(t, "config", ""), "AWS_SHARED_CREDENTIALS_FILE", credsFile)
	webID := with(base, "AWS_WEB_IDENTITY_TOKEN_FILE", tokenPath, "AWS_ROLE_ARN", role)
	for _, tc := range []struct {
		name      string
		env       map[string]string
		wantKey   string // "issued" for the web identity's
		wantSTS   int
		wantError bool
	}{
		{name: "AWS_* before web identity", env: with(webID, "AWS_ACCESS_KEY_ID", "AKIDSTATIC", "AWS_SECRET_ACCESS_KEY", "static-secret"), wantKey: "AKIDSTATIC"},
		{name: "Airflow before web identity", env: with(webID,
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_ACCESS_KEY_ID", "AKIDSTATIC",
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_SECRET_ACCESS_KEY", "static-secret"), wantKey: "AKIDSTATIC"},
		{name: "web identity before AWS_PROFILE", env: with(webID, "AWS_PROFILE", "other"), wantKey: "issued", wantSTS: 1},
		{name: "a role alone is the chain's", env: with(base, "AWS_ROLE_ARN", role, "AWS_PROFILE", "other"), wantKey: "AKIDPROFILE", wantError: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := open(t, srv.Region, tc.env)
			before := len(srv.WebIdentityCalls())
			_, err := g.Get(t.Context(), "s")
			if tc.wantError {
				assert.ErrorIs(t, err, resolver.ErrPermission, "the profile's key is not the server's")
			} else {
				require.NoError(t, err)
			}
			// Parallel subtests share the server: find this one's call by
			// the key it signs with.
			want := tc.wantKey
			if want == "issued" {
				calls := srv.WebIdentityCalls()
				require.Greater(t, len(calls), before)
				want = calls[len(calls)-1].Issued.AccessKeyID
			}
			assert.True(t, signedWith(srv, awstest.TargetGetSecretValue, want), "no GetSecretValue signed with %s", want)
		})
	}
}

// signedWith reports whether srv received a call of target signed with
// accessKey.
func signedWith(srv *awstest.Server, target, accessKey string) bool {
	for _, c := range srv.CallLog() {
		if c.Target == target && c.AccessKey == accessKey {
			return true
		}
	}
	return false
}

// TestWebIdentitySessionName checks that AWS_ROLE_SESSION_NAME names the
// session, and that without it the session has the SDK's made-up name.
func TestWebIdentitySessionName(t *testing.T) {
	t.Parallel()
	srv := awstest.New(t, awstest.WithWebIdentity(role, token))
	srv.PutSecret("s", "config-value")
	env := map[string]string{"AWS_WEB_IDENTITY_TOKEN_FILE": writeFile(t, "token", token), "AWS_ROLE_ARN": role, "AWS_ENDPOINT_URL": srv.URL()}

	require.NoError(t, getSecret(t, srv, with(env, "AWS_ROLE_SESSION_NAME", "omsecrets-pod-1")))
	require.NoError(t, getSecret(t, srv, env))
	calls := srv.WebIdentityCalls()
	require.Len(t, calls, 2)
	assert.Equal(t, "omsecrets-pod-1", calls[0].RoleSessionName)
	assert.NotEmpty(t, calls[1].RoleSessionName)
	assert.NotEqual(t, "omsecrets-pod-1", calls[1].RoleSessionName)
	assert.Equal(t, "AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN (web identity)", awsconfig.CredentialSource(env))
}

// TestTokenFileHostile checks token files that cannot be used: each fails
// the call with ErrPermission before any STS call, and no error quotes
// what the file holds.
func TestTokenFileHostile(t *testing.T) {
	t.Parallel()
	const planted = "PLANTED-TOKEN-CONTENT-5e2a"
	dir := t.TempDir()
	huge := filepath.Join(dir, "huge")
	require.NoError(t, os.WriteFile(huge, []byte(planted+strings.Repeat("A", 1<<20)), 0o600))
	justOver := filepath.Join(dir, "just-over")
	require.NoError(t, os.WriteFile(justOver, []byte(planted+strings.Repeat("B", awsconfig.MaxTokenSize-len(planted)+1)), 0o600))
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	sub := filepath.Join(dir, "a-directory")
	require.NoError(t, os.Mkdir(sub, 0o700))

	srv := awstest.New(t, awstest.WithWebIdentity(role, planted))
	srv.PutSecret("s", "config-value")
	for _, tc := range []struct{ name, path string }{
		{name: "missing", path: filepath.Join(dir, "missing")},
		{name: "empty", path: empty},
		{name: "huge", path: huge},
		{name: "one byte too many", path: justOver},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := getSecret(t, srv, map[string]string{"AWS_WEB_IDENTITY_TOKEN_FILE": tc.path, "AWS_ROLE_ARN": role, "AWS_ENDPOINT_URL": srv.URL()})
			require.Error(t, err)
			assert.ErrorIs(t, err, resolver.ErrPermission)
			assert.Equal(t, "permission", resolver.Class(err))
			assert.NotContains(t, err.Error(), planted)
			assert.NotContains(t, err.Error(), "AAAA")
			assert.ErrorContains(t, err, "web identity token file", "the error says what failed")
		})
	}
	assert.Empty(t, srv.WebIdentityCalls(), "no token was sent")

	// A FIFO, a device or a directory is refused when the store is
	// opened, naming the variable.
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	for _, path := range []string{fifo, "/dev/zero", sub} {
		_, err := awssm.Spec.Open(t.Context(), resolver.StoreConfig{Settings: map[string]string{"aws-region": srv.Region},
			Env: map[string]string{"AWS_WEB_IDENTITY_TOKEN_FILE": path, "AWS_ROLE_ARN": role, "AWS_ENDPOINT_URL": srv.URL()}})
		require.Error(t, err, path)
		assert.ErrorContains(t, err, "AWS_WEB_IDENTITY_TOKEN_FILE")
		assert.ErrorContains(t, err, "not a regular file")
	}

	// A token file replaced by a FIFO after the store was opened (the
	// read at the credential refresh used to block on it for good): the
	// call fails at once, as a permission fault.
	swapped := writeFile(t, "swapped", planted)
	g := open(t, srv.Region, map[string]string{"AWS_WEB_IDENTITY_TOKEN_FILE": swapped, "AWS_ROLE_ARN": role, "AWS_ENDPOINT_URL": srv.URL()})
	require.NoError(t, os.Remove(swapped))
	require.NoError(t, syscall.Mkfifo(swapped, 0o600))
	_, err := g.Get(t.Context(), "s")
	require.ErrorIs(t, err, resolver.ErrPermission)
	assert.ErrorContains(t, err, "a FIFO")
	assert.Empty(t, srv.WebIdentityCalls(), "no token was sent")

	// A token of the largest size STS takes is read whole.
	big := strings.Repeat("C", awsconfig.MaxTokenSize)
	bigSrv := awstest.New(t, awstest.WithWebIdentity(role, big))
	bigSrv.PutSecret("s", "config-value")
	require.NoError(t, getSecret(t, bigSrv, map[string]string{"AWS_WEB_IDENTITY_TOKEN_FILE": writeFile(t, "big", big), "AWS_ROLE_ARN": role, "AWS_ENDPOINT_URL": bigSrv.URL()}))
}

// closedURL returns an http URL with userinfo on a local port nothing
// listens on.
func closedURL(t *testing.T, userinfo string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return "http://" + userinfo + "@" + addr
}

// TestSTSEndpointUserinfo checks that an STS endpoint with userinfo that
// cannot be reached fails the call as unavailable without the password in
// the error.
func TestSTSEndpointUserinfo(t *testing.T) {
	t.Parallel()
	srv := awstest.New(t)
	srv.PutSecret("s", "config-value")
	err := getSecret(t, srv, map[string]string{
		"AWS_WEB_IDENTITY_TOKEN_FILE":      writeFile(t, "token", token),
		"AWS_ROLE_ARN":                     role,
		"AWS_ENDPOINT_URL_STS":             closedURL(t, "stsuser:hunter2"),
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": srv.URL(),
	})
	require.Error(t, err)
	assert.Equal(t, "unavailable", resolver.Class(err))
	assert.NotContains(t, err.Error(), "hunter2")
	assert.NotContains(t, err.Error(), token)
	assert.Zero(t, srv.TotalCalls(), "no call without credentials")
}

// TestProcessEnvironmentIgnored sets web identity, credential and
// endpoint variables in the process environment and checks that Load
// reads env only: neither the explicit web identity nor the SDK's chain
// uses them. It is not parallel: it sets process variables.
func TestProcessEnvironmentIgnored(t *testing.T) {
	decoy := awstest.New(t, awstest.WithWebIdentity("arn:aws:iam::123456789012:role/decoy", "decoy-token"), awstest.WithCredentials("AKIDDECOY", "decoy-secret"))
	t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", writeFile(t, "decoy-token", "decoy-token"))
	t.Setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/decoy")
	t.Setenv("AWS_ROLE_SESSION_NAME", "decoy-session")
	t.Setenv("AWS_ENDPOINT_URL", decoy.URL())
	t.Setenv("AWS_ENDPOINT_URL_STS", decoy.URL())
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDDECOY")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "decoy-secret")
	t.Setenv("AWS_PROFILE", "decoy")

	srv := awstest.New(t, awstest.WithWebIdentity(role, token), awstest.WithCredentials("AKIDDEFAULT", "default-secret"))
	srv.PutSecret("s", "config-value")

	// Web identity from env: env's file, role and endpoint. (The files
	// have a default profile: see the package documentation for what the
	// SDK reads of the process when there is none.)
	shared := []string{"AWS_CONFIG_FILE", writeFile(t, "config", "[default]\n"), "AWS_SHARED_CREDENTIALS_FILE", writeFile(t, "credentials", "")}
	require.NoError(t, getSecret(t, srv, with(nil, append(shared, "AWS_WEB_IDENTITY_TOKEN_FILE", writeFile(t, "token", token), "AWS_ROLE_ARN", role, "AWS_ENDPOINT_URL", srv.URL())...)))
	calls := srv.WebIdentityCalls()
	require.Len(t, calls, 1)
	assert.NotEqual(t, "decoy-session", calls[0].RoleSessionName)

	// The SDK's chain: the default profile of env's files, not the
	// process's keys, web identity or profile.
	env := with(nil, "AWS_ENDPOINT_URL", srv.URL(),
		"AWS_CONFIG_FILE", writeFile(t, "config", ""),
		"AWS_SHARED_CREDENTIALS_FILE", writeFile(t, "credentials", "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = default-secret\n"))
	require.NoError(t, getSecret(t, srv, env))
	assert.True(t, signedWith(srv, awstest.TargetGetSecretValue, "AKIDDEFAULT"))
	assert.Len(t, srv.WebIdentityCalls(), 1, "no web identity from the process")
	assert.Zero(t, decoy.TotalCalls(), "nothing reached the process's endpoint")
}

// TestProfileWebIdentity checks a profile with web_identity_token_file:
// STS is called at env's endpoint (the SDK alone would call the public
// one, having built the client before reading AWS_ENDPOINT_URL), and the
// token file is read with the same bound as AWS_WEB_IDENTITY_TOKEN_FILE's.
func TestProfileWebIdentity(t *testing.T) {
	t.Parallel()
	srv := awstest.New(t, awstest.WithWebIdentity(role, token))
	srv.PutSecret("s", "config-value")
	profile := func(tokenPath string) map[string]string {
		config := "[profile irsa]\nweb_identity_token_file = " + tokenPath + "\nrole_arn = " + role + "\nrole_session_name = from-profile\n"
		return map[string]string{
			"AWS_PROFILE":                 "irsa",
			"AWS_CONFIG_FILE":             writeFile(t, "config", config),
			"AWS_SHARED_CREDENTIALS_FILE": writeFile(t, "credentials", ""),
			"AWS_ENDPOINT_URL":            srv.URL(),
		}
	}
	require.NoError(t, getSecret(t, srv, profile(writeFile(t, "token", token))))
	calls := srv.WebIdentityCalls()
	require.Len(t, calls, 1)
	assert.Equal(t, "from-profile", calls[0].RoleSessionName)
	assert.Equal(t, token, calls[0].Token)

	err := getSecret(t, srv, profile(writeFile(t, "huge", token+strings.Repeat("A", 1<<20))))
	assert.Equal(t, "permission", resolver.Class(err))
	assert.NotContains(t, err.Error(), token)
	assert.Len(t, srv.WebIdentityCalls(), 1, "the huge token was not sent")
}

// TestProfileAssumeRoleEndpoint checks that a profile's assumed role
// (role_arn with source_profile) is asked of env's STS endpoint, the
// service-specific one first. awstest does not implement AssumeRole: the
// call reaching it is the proof.
func TestProfileAssumeRoleEndpoint(t *testing.T) {
	t.Parallel()
	general := awstest.New(t)
	stsOnly := awstest.New(t)
	general.PutSecret("s", "config-value")
	config := "[profile chained]\nrole_arn = " + role + "\nsource_profile = base\n"
	creds := "[base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = base-secret\n"
	env := map[string]string{
		"AWS_PROFILE":                 "chained",
		"AWS_CONFIG_FILE":             writeFile(t, "config", config),
		"AWS_SHARED_CREDENTIALS_FILE": writeFile(t, "credentials", creds),
		"AWS_ENDPOINT_URL":            general.URL(),
	}
	const assumeRole = "AWSSecurityTokenServiceV20110615.AssumeRole"

	assert.Error(t, getSecret(t, general, env))
	assert.Equal(t, 1, general.Calls(assumeRole), "AssumeRole at AWS_ENDPOINT_URL")

	assert.Error(t, getSecret(t, general, with(env, "AWS_ENDPOINT_URL_STS", stsOnly.URL())))
	assert.Equal(t, 1, stsOnly.Calls(assumeRole), "AssumeRole at AWS_ENDPOINT_URL_STS")
	assert.Equal(t, 1, general.Calls(assumeRole))
}

// TestOneAttempt checks that the config itself does not retry, whoever
// builds a client from it, even when the process environment asks the SDK
// for retries. It is not parallel: it sets process variables.
func TestOneAttempt(t *testing.T) {
	t.Setenv("AWS_MAX_ATTEMPTS", "5")
	t.Setenv("AWS_RETRY_MODE", "adaptive")
	srv := awstest.New(t)
	srv.PutSecret("s", "config-value")
	c, err := awsconfig.Load(t.Context(), srv.Region, map[string]string{"AWS_ACCESS_KEY_ID": srv.AccessKey, "AWS_SECRET_ACCESS_KEY": srv.SecretKey})
	require.NoError(t, err)
	client := secretsmanager.NewFromConfig(c.AWS, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(srv.URL()) })
	srv.FailNext(2, http.StatusInternalServerError)
	_, err = client.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
	require.Error(t, err)
	assert.Equal(t, 1, srv.TotalCalls())
	srv.Throttle(2)
	_, err = client.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
	require.Error(t, err)
	assert.Equal(t, 2, srv.TotalCalls())

	bc, ok := c.AWS.HTTPClient.(*awshttp.BuildableClient)
	require.True(t, ok, "HTTP client %T", c.AWS.HTTPClient)
	assert.Equal(t, awsconfig.DefaultHTTPTimeout, bc.GetTimeout())
}

// TestSTSOneAttempt checks that a failing STS call is made once: the
// resolver retries the store call, and with it the credentials.
func TestSTSOneAttempt(t *testing.T) {
	t.Parallel()
	srv := awstest.New(t, awstest.WithWebIdentity(role, token))
	srv.PutSecret("s", "config-value")
	srv.DropNext(1)
	err := getSecret(t, srv, map[string]string{"AWS_WEB_IDENTITY_TOKEN_FILE": writeFile(t, "token", token), "AWS_ROLE_ARN": role, "AWS_ENDPOINT_URL": srv.URL()})
	assert.Equal(t, "unavailable", resolver.Class(err))
	assert.Equal(t, 1, srv.Calls(awstest.TargetAssumeRoleWithWebIdentity))
}

func TestCredentialSource(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{env: map[string]string{"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}, want: "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY"},
		{env: map[string]string{"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "AWS_SESSION_TOKEN": "c"}, want: "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN"},
		{env: map[string]string{"AWS_WEB_IDENTITY_TOKEN_FILE": "/t", "AWS_ROLE_ARN": "r"}, want: "AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN (web identity)"},
		{env: map[string]string{"AWS_WEB_IDENTITY_TOKEN_FILE": "/t", "AWS_ROLE_ARN": "r", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}, want: "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY"},
		{env: map[string]string{"AWS_PROFILE": "p"}, want: "SDK default chain, profile from AWS_PROFILE"},
		{env: map[string]string{"AWS_REGION": "x"}, want: "SDK default chain"},
	} {
		assert.Equal(t, tc.want, awsconfig.CredentialSource(tc.env))
	}
	src := awsconfig.CredentialSource(map[string]string{"AWS_ACCESS_KEY_ID": "AKIDVALUE", "AWS_SECRET_ACCESS_KEY": "secret-value"})
	assert.False(t, strings.Contains(src, "AKIDVALUE") || strings.Contains(src, "secret-value"))
}

// TestOpenLogs checks Open's one debug line: the region and the credential
// source, no value.
func TestOpenLogs(t *testing.T) {
	t.Parallel()
	var log resolvertest.LogBuffer
	_, err := awsconfig.Open(context.Background(), "aws", resolver.StoreConfig{
		Settings: map[string]string{"aws-region": "eu-west-1"},
		Env:      map[string]string{"AWS_ACCESS_KEY_ID": "AKIDLOGGED", "AWS_SECRET_ACCESS_KEY": "logged-secret"},
		Logger:   slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(log.String()), "\n")
	require.Len(t, lines, 1)
	assert.Contains(t, lines[0], "level=DEBUG")
	assert.Contains(t, lines[0], "region=eu-west-1")
	assert.Contains(t, lines[0], "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY")
	assert.NotContains(t, lines[0], "AKIDLOGGED")
	assert.NotContains(t, lines[0], "logged-secret")
}
