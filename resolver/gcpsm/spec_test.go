package gcpsm_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/gcptest"
	"omsecrets/resolver"
	"omsecrets/resolver/gcpsm"
)

func TestSpec(t *testing.T) {
	t.Parallel()
	s := gcpsm.Spec
	assert.Equal(t, "gcp", s.Name)
	assert.Equal(t, gcpsm.Name, s.Name)
	assert.Equal(t, []string{"gcp"}, s.Providers)
	assert.NotEmpty(t, s.Summary)
	require.Equal(t, []resolver.Setting{gcpsm.ProjectID, gcpsm.Endpoint}, s.Settings)
	assert.Equal(t, "gcp-project-id", gcpsm.ProjectID.Name)
	assert.Equal(t, []string{
		"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__PROJECT_ID",
		"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__GCP_PROJECT_ID",
		"GOOGLE_CLOUD_PROJECT",
	}, gcpsm.ProjectID.Env, "OpenMetadata's code, its docs, then the Google libraries' and env loader's")
	assert.Equal(t, "OMSECRETS_GCP_PROJECT_ID", gcpsm.ProjectID.Twin("OMSECRETS_"))
	assert.Equal(t, "gcp-endpoint", gcpsm.Endpoint.Name)
	assert.Equal(t, gcptest.EnvEndpoint, gcpsm.Endpoint.Twin("OMSECRETS_"), "gcptest.Env names the twin")
	assert.Equal(t, resolver.Limit{Rate: 1500, Burst: 1500}, s.Limit, "90,000 access requests per minute per project")
	assert.Equal(t, 1, s.BatchSize, "no batch call")
	require.NotNil(t, s.Open)
}

// settingValue applies cmd's rule for a setting (resolver.Setting): the
// OMSECRETS_ twin, then Env in order; the first non-empty value wins.
func settingValue(set resolver.Setting, env map[string]string) string {
	for _, name := range append([]string{set.Twin("OMSECRETS_")}, set.Env...) {
		if v := strings.TrimSpace(env[name]); v != "" {
			return v
		}
	}
	return set.Default
}

// TestProjectPrecedence sets the project variables in every combination
// that matters and checks, by the project the Server is asked for, which
// one the store reads.
func TestProjectPrecedence(t *testing.T) {
	t.Parallel()
	srv := gcptest.New(t)
	projects := map[string]string{
		"OMSECRETS_GCP_PROJECT_ID":   "twin-project",
		gcpsm.EnvAirflowProjectID:    "airflow-project",
		gcpsm.EnvAirflowGCPProjectID: "airflow-docs-project",
		gcpsm.EnvCloudProject:        "cloud-project",
	}
	for _, p := range projects {
		srv.PutSecretIn(p, "which", "from-"+p)
	}
	srv.PutSecret("which", "from-key-file")
	for _, tc := range []struct {
		name string
		set  []string
		want string
	}{
		{"GOOGLE_CLOUD_PROJECT alone", []string{gcpsm.EnvCloudProject}, "cloud-project"},
		{"docs key over GOOGLE_CLOUD_PROJECT", []string{gcpsm.EnvAirflowGCPProjectID, gcpsm.EnvCloudProject}, "airflow-docs-project"},
		{"code key over docs key", []string{gcpsm.EnvAirflowProjectID, gcpsm.EnvAirflowGCPProjectID, gcpsm.EnvCloudProject}, "airflow-project"},
		{"twin over all", []string{"OMSECRETS_GCP_PROJECT_ID", gcpsm.EnvAirflowProjectID, gcpsm.EnvAirflowGCPProjectID, gcpsm.EnvCloudProject}, "twin-project"},
		{"none: the key file's project_id", nil, srv.Project},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := envMap(srv.Env())
			delete(env, gcptest.EnvProject)
			for _, name := range tc.set {
				env[name] = projects[name]
			}
			settings := map[string]string{
				gcpsm.ProjectID.Name: settingValue(gcpsm.ProjectID, env),
				gcpsm.Endpoint.Name:  settingValue(gcpsm.Endpoint, env),
			}
			p, log := open(t, settings, env)
			v, err := p.Get(t.Context(), "which")
			require.NoError(t, err)
			want := "from-" + tc.want
			if tc.want == srv.Project {
				want = "from-key-file"
			}
			assert.Equal(t, want, v.Value())
			assert.Contains(t, log.String(), "project="+tc.want)
		})
	}
}

// TestProjectFromCredentials: without a project setting, the credentials
// file's project_id, else its quota_project_id; the store is off with
// neither.
func TestProjectFromCredentials(t *testing.T) {
	t.Parallel()
	srv := gcptest.New(t)
	srv.PutSecretIn("quota-project", "q", "from-quota-project")
	env := envMap(srv.Env())
	settings := map[string]string{gcpsm.Endpoint.Name: srv.Endpoint()}

	env[gcptest.EnvCredentials] = srv.WriteKeyFile(map[string]any{"project_id": nil, "quota_project_id": "quota-project"})
	p, log := open(t, settings, env)
	v, err := p.Get(t.Context(), "q")
	require.NoError(t, err)
	assert.Equal(t, "from-quota-project", v.Value())
	assert.Contains(t, log.String(), "project=quota-project project_from=GOOGLE_APPLICATION_CREDENTIALS")
	calls := srv.CallLog()
	assert.Equal(t, "quota-project", calls[len(calls)-1].QuotaProject, "quota_project_id is the quota project")

	env[gcptest.EnvCredentials] = srv.WriteKeyFile(map[string]any{"project_id": nil})
	g, err := gcpsm.Spec.Open(t.Context(), resolver.StoreConfig{Settings: settings, Env: env})
	assert.Nil(t, g)
	var nc *resolver.NotConfiguredError
	require.ErrorAs(t, err, &nc)
	assert.Equal(t, &resolver.NotConfiguredError{Store: "gcp", Need: []string{"gcp-project-id"}}, nc)

	env[gcptest.EnvCredentials] = srv.WriteKeyFile(map[string]any{"project_id": "Not_A_Project"})
	_, err = gcpsm.Spec.Open(t.Context(), resolver.StoreConfig{Settings: settings, Env: env})
	require.Error(t, err)
	assert.NotErrorIs(t, err, resolver.ErrNotConfigured)
	assert.ErrorContains(t, err, "GOOGLE_APPLICATION_CREDENTIALS: not a GCP project id")
}

// TestQuotaProject: GOOGLE_CLOUD_QUOTA_PROJECT of the map is sent as
// x-goog-user-project.
func TestQuotaProject(t *testing.T) {
	t.Parallel()
	srv := gcptest.New(t)
	srv.PutSecret("qp", "quota-value")
	env := envMap(srv.Env())
	env[gcpsm.EnvQuotaProject] = "billing-project"
	p, _ := open(t, settingsFor(srv), env)
	_, err := p.Get(t.Context(), "qp")
	require.NoError(t, err)
	calls := srv.CallLog()
	assert.Equal(t, "billing-project", calls[len(calls)-1].QuotaProject)
}

func TestSpecNotConfigured(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notJSON := filepath.Join(dir, "broken.json")
	require.NoError(t, os.WriteFile(notJSON, []byte("hunter2 is not json"), 0o600))
	for _, env := range []map[string]string{
		nil,
		{"AWS_REGION": "eu-west-1"},
		// A credentials file there for something else (a BigQuery
		// connector) that does not load must not stop omsecrets.
		{"GOOGLE_APPLICATION_CREDENTIALS": filepath.Join(dir, "missing.json")},
		{"GOOGLE_APPLICATION_CREDENTIALS": notJSON},
		{"GCE_METADATA_HOST": "169.254.169.254"},
	} {
		g, err := gcpsm.Spec.Open(t.Context(), resolver.StoreConfig{Settings: map[string]string{}, Env: env})
		assert.Nil(t, g)
		require.ErrorIs(t, err, resolver.ErrNotConfigured, "env %v", env)
		var nc *resolver.NotConfiguredError
		require.ErrorAs(t, err, &nc)
		assert.Equal(t, &resolver.NotConfiguredError{Store: "gcp", Need: []string{"gcp-project-id"}}, nc)
	}
}

// TestSpecBadSetting checks that a wrong setting is an error of Open (not
// "not configured") that names it, does not name OMSECRETS_ variables
// (cmd adds those) and quotes no value.
func TestSpecBadSetting(t *testing.T) {
	t.Parallel()
	srv := gcptest.New(t)
	dir := t.TempDir()
	notJSON := filepath.Join(dir, "broken.json")
	require.NoError(t, os.WriteFile(notJSON, []byte("hunter2 is not json"), 0o600))
	badPEM := filepath.Join(dir, "bad.pem")
	require.NoError(t, os.WriteFile(badPEM, []byte("hunter2"), 0o600))
	base := envMap(srv.Env())
	with := func(k, v string) map[string]string {
		m := envMap(srv.Env())
		m[k] = v
		return m
	}
	for _, tc := range []struct {
		name     string
		settings map[string]string
		env      map[string]string
		want     string
	}{
		{"project upper case", map[string]string{"gcp-project-id": "Hunter2-Project"}, base, "gcp-project-id: not a GCP project id"},
		{"project with slash", map[string]string{"gcp-project-id": "hunter2/x"}, base, "gcp-project-id: not a GCP project id"},
		{"endpoint with scheme", map[string]string{"gcp-project-id": "my-project", "gcp-endpoint": "https://hunter2.example:443"}, base, "gcp-endpoint: want host or host:port"},
		{"endpoint bad port", map[string]string{"gcp-project-id": "my-project", "gcp-endpoint": "hunter2.example:99999"}, base, "gcp-endpoint: port is not a number"},
		{"credentials not JSON", map[string]string{"gcp-project-id": "my-project"}, with("GOOGLE_APPLICATION_CREDENTIALS", notJSON), fmt.Sprintf("GOOGLE_APPLICATION_CREDENTIALS %q: not a credentials JSON file", notJSON)},
		{"credentials missing", map[string]string{"gcp-project-id": "my-project"}, with("GOOGLE_APPLICATION_CREDENTIALS", filepath.Join(dir, "nope")), "no such file or directory"},
		{"credentials a directory", map[string]string{"gcp-project-id": "my-project"}, with("GOOGLE_APPLICATION_CREDENTIALS", dir), "not a regular file"},
		{"metadata host with scheme", map[string]string{"gcp-project-id": "my-project"}, map[string]string{"GCE_METADATA_HOST": "http://hunter2"}, "GCE_METADATA_HOST: want host or host:port"},
		{"SSL_CERT_FILE not PEM", map[string]string{"gcp-project-id": "my-project"}, with("SSL_CERT_FILE", badPEM), "SSL_CERT_FILE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g, err := gcpsm.Spec.Open(t.Context(), resolver.StoreConfig{Settings: tc.settings, Env: tc.env})
			assert.Nil(t, g)
			require.Error(t, err)
			assert.NotErrorIs(t, err, resolver.ErrNotConfigured)
			assert.ErrorContains(t, err, tc.want)
			assert.NotContains(t, err.Error(), "OMSECRETS_")
			assert.NotContains(t, err.Error(), "hunter2")
			assert.NotContains(t, err.Error(), "\n")
		})
	}
}

// alnum keeps the ASCII letters and digits of s (a URL's password made of
// key material, without the characters that would end the userinfo).
func alnum(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

// TestKeyFileChecks checks the key file at Open: a broken key, a missing
// email, a token_uri that is not https, another universe, an unsupported
// type. Messages name the file and never quote the key.
func TestKeyFileChecks(t *testing.T) {
	t.Parallel()
	srv := gcptest.New(t)
	keyBody := strings.Split(srv.PrivateKeyPEM(), "\n")[3]
	for _, tc := range []struct {
		fields map[string]any
		want   string
	}{
		{map[string]any{"private_key": "-----BEGIN PRIVATE KEY-----\n" + keyBody + "\n-----END PRIVATE KEY-----\n"}, "private_key does not parse"},
		{map[string]any{"private_key": keyBody}, "private_key is not a PEM block"},
		{map[string]any{"client_email": nil}, "the service account key has no client_email"},
		{map[string]any{"token_uri": "http://127.0.0.1/token"}, "token_uri is not an https URL"},
		{map[string]any{"token_uri": "https://user:" + alnum(keyBody)[:8] + "@127.0.0.1/token"}, "token_uri is not an https URL"},
		{map[string]any{"universe_domain": "example.com"}, `universe_domain "example.com" is not supported`},
		{map[string]any{"type": "gdch_service_account"}, `credentials of type "gdch_service_account" are not supported`},
		{map[string]any{"type": nil}, `the file has no "type"`},
	} {
		t.Run(tc.want, func(t *testing.T) {
			t.Parallel()
			path := srv.WriteKeyFile(tc.fields)
			env := envMap(srv.Env())
			env[gcptest.EnvCredentials] = path
			_, err := gcpsm.Spec.Open(t.Context(), resolver.StoreConfig{Settings: settingsFor(srv), Env: env})
			require.Error(t, err)
			assert.NotErrorIs(t, err, resolver.ErrNotConfigured)
			assert.ErrorContains(t, err, fmt.Sprintf("GOOGLE_APPLICATION_CREDENTIALS %q: ", path))
			assert.ErrorContains(t, err, tc.want)
			assert.NotContains(t, err.Error(), keyBody[:16])
		})
	}
}

// TestOtherCredentialTypes: the library's flows (authorized_user here)
// are accepted, and their quota_project_id is the project.
func TestOtherCredentialTypes(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "adc.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"type":"authorized_user","client_id":"x.apps.googleusercontent.com","client_secret":"d-FL95Q19q7MQmFpd7hHD0Ty","refresh_token":"1//refresh-token-value","quota_project_id":"user-project"}`), 0o600))
	_, log := open(t, map[string]string{}, map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": path})
	assert.Contains(t, log.String(), "project=user-project project_from=GOOGLE_APPLICATION_CREDENTIALS")
	assert.Contains(t, log.String(), "(authorized_user)")
	assert.NotContains(t, log.String(), "refresh-token-value")
	assert.NotContains(t, log.String(), "d-FL95Q19q7MQmFpd7hHD0Ty")
}

// TestUntrustedCA: without SSL_CERT_FILE, the Server's certificate is not
// trusted: the token endpoint (the first TLS connection) fails as
// unavailable and no call reaches Secret Manager.
func TestUntrustedCA(t *testing.T) {
	t.Parallel()
	srv := gcptest.New(t)
	srv.PutSecret("tls", "tls-value")
	env := envMap(srv.Env())
	delete(env, gcptest.EnvSSLCertFile)
	p, _ := open(t, settingsFor(srv), env)
	_, err := p.Get(t.Context(), "tls")
	require.Error(t, err)
	assert.Equal(t, "unavailable", resolver.Class(err), "%v", err)
	assert.ErrorContains(t, err, "certificate signed by unknown authority")
	assert.Zero(t, srv.TotalCalls())
}

// TestNew builds a Provider with New, as the benchmarks do.
func TestNew(t *testing.T) {
	t.Parallel()
	srv := gcptest.New(t)
	srv.PutSecret("n", "new-value")
	p, err := gcpsm.New(t.Context(), gcpsm.Options{Project: srv.Project, Endpoint: srv.Endpoint(), Env: envMap(srv.Env())})
	require.NoError(t, err)
	defer p.Close()
	v, err := p.Get(t.Context(), "n")
	require.NoError(t, err)
	assert.Equal(t, "new-value", v.Value())

	_, err = gcpsm.New(t.Context(), gcpsm.Options{Project: "", Env: envMap(srv.Env())})
	assert.ErrorContains(t, err, "project: not a GCP project id")
}
