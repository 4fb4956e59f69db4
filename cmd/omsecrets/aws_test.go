package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/awstest"
)

// awsEnv is the whole environment of a CLI run against srv: credentials,
// region and the endpoint override, as an operator would set them.
func awsEnv(srv *awstest.Server, extra ...string) []string {
	return append([]string{
		"AWS_REGION=" + srv.Region,
		"AWS_ACCESS_KEY_ID=" + srv.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + srv.SecretKey,
		"AWS_ENDPOINT_URL=" + srv.URL(),
		"OMSECRETS_ALLOW_DISK=true",
	}, extra...)
}

// awsDefinitions writes n workflow configs sharing one bot JWT and one
// warehouse password, each with a password of its own, with
// secretsManagerProvider aws; it returns their paths.
func awsDefinitions(t *testing.T, dir string, n int) []string {
	t.Helper()
	var paths []string
	for i := range n {
		own := fmt.Sprintf("/openmetadata/database/mysql_%d/authtype/password", i)
		cfg := workflowConfig("secret:"+own, "secret:/openmetadata/bot/ingestion-bot/config/jwttoken")
		cfg = strings.Replace(cfg, "hostPort: db:3306", "hostPort: db:3306\n      databaseSchema: \"secret:/openmetadata/database/warehouse/schema\"", 1)
		p := filepath.Join(dir, fmt.Sprintf("mysql_%d.yaml", i))
		require.NoError(t, os.WriteFile(p, []byte(cfg), 0o600))
		paths = append(paths, p)
	}
	return paths
}

func TestResolveAgainstSecretsManagerOnTheWire(t *testing.T) {
	t.Parallel()
	srv := awstest.New(t)
	srv.PutSecret("/openmetadata/bot/ingestion-bot/config/jwttoken", "PLANTED-jwt")
	srv.PutSecret("/openmetadata/database/warehouse/schema", "PLANTED-schema")
	const n = 30
	for i := range n {
		srv.PutSecret(fmt.Sprintf("/openmetadata/database/mysql_%d/authtype/password", i), fmt.Sprintf("PLANTED-pw-%d", i))
	}
	defs := awsDefinitions(t, t.TempDir(), n)
	out := t.TempDir()

	r := omsecrets(t, awsEnv(srv), append([]string{"resolve", "--out-dir", out}, defs...)...)
	require.Equal(t, 0, r.code, r.stderr)
	for i := range n {
		data, err := os.ReadFile(filepath.Join(out, fmt.Sprintf("mysql_%d.json", i)))
		require.NoError(t, err)
		assert.Contains(t, string(data), fmt.Sprintf(`"password": "PLANTED-pw-%d"`, i))
		assert.Contains(t, string(data), `"jwtToken": "PLANTED-jwt"`)
		assert.Contains(t, string(data), `"secretsManagerProvider": "db"`)
	}
	// 32 unique ids, 20 per BatchGetSecretValue: 2 calls, the minimum.
	assert.Equal(t, 2, srv.Calls(awstest.TargetBatchGetSecretValue))
	assert.Equal(t, 0, srv.Calls(awstest.TargetGetSecretValue))
	assert.NotContains(t, r.stdout+r.stderr, "PLANTED")

	// check reports every reference, prints no value.
	r = omsecrets(t, awsEnv(srv), append([]string{"check"}, defs[:2]...)...)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, 6, strings.Count(r.stdout, " ok"), r.stdout)
	assert.Contains(t, r.stdout, "secret:/openmetadata/database/mysql_1/authtype/password")
	assert.NotContains(t, r.stdout+r.stderr, "PLANTED")
}

func TestResolveFallsBackWhenBatchIsDenied(t *testing.T) {
	t.Parallel()
	srv := awstest.New(t)
	srv.Deny("secretsmanager:BatchGetSecretValue") // a policy allowing GetSecretValue only, as OM documents
	srv.PutSecret("/openmetadata/bot/ingestion-bot/config/jwttoken", "PLANTED-jwt")
	srv.PutSecret("/openmetadata/database/warehouse/schema", "PLANTED-schema")
	srv.PutSecret("/openmetadata/database/mysql_0/authtype/password", "PLANTED-pw-0")
	defs := awsDefinitions(t, t.TempDir(), 1)
	out := t.TempDir()
	r := omsecrets(t, awsEnv(srv), "resolve", "--out-dir", out, defs[0])
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, 1, srv.Calls(awstest.TargetBatchGetSecretValue), "denied once, then remembered")
	assert.Equal(t, 3, srv.Calls(awstest.TargetGetSecretValue))
	assert.Contains(t, r.stderr, "BatchGetSecretValue")
	assert.NotContains(t, r.stdout+r.stderr, "PLANTED")
}

func TestResolveAgainstParameterStoreOnTheWire(t *testing.T) {
	t.Parallel()
	srv := awstest.New(t)
	srv.PutParameter("/openmetadata/bot/ingestion-bot/config/jwttoken", "PLANTED-jwt", true)
	srv.PutParameter("/openmetadata/database/warehouse/schema", "PLANTED-schema", false)
	const n = 12
	for i := range n {
		srv.PutParameter(fmt.Sprintf("/openmetadata/database/mysql_%d/authtype/password", i), fmt.Sprintf("PLANTED-pw-%d", i), true)
	}
	defs := awsDefinitions(t, t.TempDir(), n)
	// The last one names a parameter that does not exist: it alone fails.
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	require.NoError(t, os.WriteFile(missing, []byte(workflowConfig("secret:/openmetadata/database/nope/password", "secret:/openmetadata/bot/ingestion-bot/config/jwttoken")), 0o600))
	out := t.TempDir()
	r := omsecrets(t, awsEnv(srv), append([]string{"resolve", "--provider", "aws-ssm", "--out-dir", out, missing}, defs...)...)
	require.Equal(t, 1, r.code, r.stderr)
	assert.Contains(t, r.stderr, "secret:/openmetadata/database/nope/password")
	assert.Contains(t, r.stderr, "not_found")
	for i := range n {
		data, err := os.ReadFile(filepath.Join(out, fmt.Sprintf("mysql_%d.json", i)))
		require.NoError(t, err)
		assert.Contains(t, string(data), fmt.Sprintf(`"password": "PLANTED-pw-%d"`, i))
	}
	_, err := os.Stat(filepath.Join(out, "missing.json"))
	assert.True(t, os.IsNotExist(err), "fail closed: no output for the broken definition")
	// 15 unique names, 10 per GetParameters: 2 calls.
	assert.Equal(t, 2, srv.Calls(awstest.TargetGetParameters))
	assert.NotContains(t, r.stdout+r.stderr, "PLANTED")
}

// TestThrottlingStorm: every call is throttled for a while; resolution
// completes once throttling stops, and the client never exceeds its
// configured rate meanwhile.
func TestThrottlingStorm(t *testing.T) {
	t.Parallel()
	srv := awstest.New(t)
	srv.PutSecret("/openmetadata/bot/ingestion-bot/config/jwttoken", "PLANTED-jwt")
	srv.PutSecret("/openmetadata/database/warehouse/schema", "PLANTED-schema")
	const n = 60
	for i := range n {
		srv.PutSecret(fmt.Sprintf("/openmetadata/database/mysql_%d/authtype/password", i), fmt.Sprintf("PLANTED-pw-%d", i))
	}
	defs := awsDefinitions(t, t.TempDir(), n)
	out := t.TempDir()
	srv.SetThrottling(true)
	stop := time.AfterFunc(1500*time.Millisecond, func() { srv.SetThrottling(false) })
	defer stop.Stop()

	const rate = 10.0 // calls per second, burst 1
	start := time.Now()
	r := omsecrets(t, awsEnv(srv, "OMSECRETS_RATE_LIMITS=aws=10:1"), append([]string{"resolve", "--out-dir", out}, defs...)...)
	require.Equal(t, 0, r.code, r.stderr)
	assert.GreaterOrEqual(t, time.Since(start), 1500*time.Millisecond, "it waited the storm out")
	outs, err := filepath.Glob(filepath.Join(out, "*.json"))
	require.NoError(t, err)
	assert.Len(t, outs, n)

	// Token bucket, burst 1: the k-th call (from 0) cannot start before
	// k/rate seconds after the first. Allow 50 ms for scheduling.
	times := srv.CallTimes()
	require.Greater(t, len(times), 4, "throttled calls were retried")
	for k, at := range times {
		earliest := times[0].Add(time.Duration(float64(k) / rate * float64(time.Second)))
		assert.False(t, at.Before(earliest.Add(-50*time.Millisecond)), "call %d came %v early", k, earliest.Sub(at))
	}
	assert.NotContains(t, r.stdout+r.stderr, "PLANTED")
}

func TestAWSProviderWithoutRegionIsAUsageError(t *testing.T) {
	t.Parallel()
	def := filepath.Join(t.TempDir(), "a.yaml")
	require.NoError(t, os.WriteFile(def, []byte(workflowConfig("secret:/x", "secret:/y")), 0o600))
	r := omsecrets(t, []string{"OMSECRETS_ALLOW_DISK=true"}, "resolve", "--provider", "aws", "--out-dir", t.TempDir(), def)
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "AWS_REGION")

	// Without --provider, the definition's provider aws fails that
	// definition with the hint.
	r = omsecrets(t, []string{"OMSECRETS_ALLOW_DISK=true"}, "resolve", "--out-dir", t.TempDir(), def)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "AWS_REGION")
}

func TestAirflowSideAWSVariables(t *testing.T) {
	t.Parallel()
	srv := awstest.New(t)
	srv.PutSecret("/openmetadata/bot/ingestion-bot/config/jwttoken", "PLANTED-jwt")
	srv.PutSecret("/openmetadata/database/warehouse/schema", "PLANTED-schema")
	srv.PutSecret("/openmetadata/database/mysql_0/authtype/password", "PLANTED-pw-0")
	defs := awsDefinitions(t, t.TempDir(), 1)
	env := []string{
		"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_REGION=" + srv.Region,
		"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_ACCESS_KEY_ID=" + srv.AccessKey,
		"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_SECRET_ACCESS_KEY=" + srv.SecretKey,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER=" + srv.URL(),
		"OMSECRETS_ALLOW_DISK=true",
	}
	r := omsecrets(t, env, "resolve", "--out", "-", defs[0])
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"password": "PLANTED-pw-0"`)
}
