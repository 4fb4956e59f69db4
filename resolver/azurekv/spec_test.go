package azurekv_test

import (
	"maps"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/azuretest"
	"omsecrets/resolver"
	"omsecrets/resolver/azurekv"
	"omsecrets/resolver/resolvertest"
)

func TestSpec(t *testing.T) {
	t.Parallel()
	s := azurekv.Spec
	assert.Equal(t, "azure-kv", s.Name)
	assert.Equal(t, []string{"azure-kv", "managed-azure-kv"}, s.Providers)
	assert.NotEmpty(t, s.Summary)
	assert.Equal(t, resolver.Limit{Rate: 360, Burst: 400}, s.Limit, "4,000 transactions in 10 s per vault")
	assert.LessOrEqual(t, 10*s.Limit.Rate+float64(s.Limit.Burst), 4000.0)
	assert.Equal(t, 1, s.BatchSize, "Key Vault has no batch read")
	require.NotNil(t, s.Open)

	env := map[string][]string{}
	for _, set := range s.Settings {
		assert.NotEmpty(t, set.Usage, set.Name)
		assert.NotContains(t, set.Name, "secret", "the client secret is never a flag")
		env[set.Name] = set.Env
	}
	assert.Equal(t, map[string][]string{
		"azure-key-vault-name": {"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AZURE_KEY_VAULT_NAME", "AZURE_KEY_VAULT_NAME"},
		"azure-key-vault-url":  nil,
		"azure-tenant-id":      {"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AZURE_TENANT_ID", "AZURE_TENANT_ID"},
		"azure-client-id":      {"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AZURE_CLIENT_ID", "AZURE_CLIENT_ID"},
	}, env)

	// The test server's Env names the settings by their twins.
	assert.Equal(t, azuretest.EnvVaultURL, azurekv.VaultURL.Twin("OMSECRETS_"))
}

func TestSpecNotConfigured(t *testing.T) {
	t.Parallel()
	for _, env := range []map[string]string{
		nil,
		{"AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "s"},
		{"AZURE_KEY_VAULT_NAME": "  "},
	} {
		g, err := openEnv(t, env, nil)
		assert.Nil(t, g)
		require.ErrorIs(t, err, resolver.ErrNotConfigured)
		var nc *resolver.NotConfiguredError
		require.ErrorAs(t, err, &nc)
		assert.Equal(t, &resolver.NotConfiguredError{Store: "azure-kv", Need: []string{"azure-key-vault-name", "azure-key-vault-url"}}, nc)
	}
}

// TestSettingsPrecedence checks, on the wire, which variable wins for
// each credential input: only the right value reads the secret.
func TestSettingsPrecedence(t *testing.T) {
	t.Parallel()
	srv := azuretest.New(t)
	srv.PutSecret("x", "precedence-value")
	const (
		wrongSecret = "not-the-client-secret"
		wrongTenant = "00000000-1111-2222-3333-444444444444"
		wrongClient = "55555555-6666-7777-8888-999999999999"
	)
	base := srv.EnvMap()
	for _, k := range []string{"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"} {
		delete(base, k)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		ok   bool
	}{
		{"SDK names", map[string]string{"AZURE_TENANT_ID": srv.TenantID, "AZURE_CLIENT_ID": srv.ClientID, "AZURE_CLIENT_SECRET": srv.ClientSecret}, true},
		{"Airflow names", map[string]string{
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AZURE_TENANT_ID":     srv.TenantID,
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AZURE_CLIENT_ID":     srv.ClientID,
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AZURE_CLIENT_SECRET": srv.ClientSecret,
		}, true},
		{"Airflow over SDK", map[string]string{
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AZURE_TENANT_ID":     srv.TenantID,
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AZURE_CLIENT_ID":     srv.ClientID,
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AZURE_CLIENT_SECRET": srv.ClientSecret,
			"AZURE_TENANT_ID": wrongTenant, "AZURE_CLIENT_ID": wrongClient, "AZURE_CLIENT_SECRET": wrongSecret,
		}, true},
		{"SDK under Airflow", map[string]string{
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AZURE_CLIENT_SECRET": wrongSecret,
			"AZURE_TENANT_ID": srv.TenantID, "AZURE_CLIENT_ID": srv.ClientID, "AZURE_CLIENT_SECRET": srv.ClientSecret,
		}, false},
		{"twins over all", map[string]string{
			"OMSECRETS_AZURE_TENANT_ID":                                  srv.TenantID,
			"OMSECRETS_AZURE_CLIENT_ID":                                  srv.ClientID,
			"OMSECRETS_AZURE_CLIENT_SECRET":                              srv.ClientSecret,
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AZURE_TENANT_ID":     wrongTenant,
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AZURE_CLIENT_ID":     wrongClient,
			"AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AZURE_CLIENT_SECRET": wrongSecret,
			"AZURE_CLIENT_SECRET":                                        wrongSecret,
		}, true},
		{"wrong twin", map[string]string{
			"OMSECRETS_AZURE_CLIENT_SECRET": wrongSecret,
			"AZURE_TENANT_ID":               srv.TenantID, "AZURE_CLIENT_ID": srv.ClientID, "AZURE_CLIENT_SECRET": srv.ClientSecret,
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := maps.Clone(base)
			maps.Copy(env, tc.env)
			g, err := openEnv(t, env, nil)
			require.NoError(t, err)
			v, err := g.Get(t.Context(), "x")
			if !tc.ok {
				require.Error(t, err)
				assert.Equal(t, "permission", resolver.Class(err))
				assert.NotContains(t, err.Error(), wrongSecret)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "precedence-value", v.Value())
		})
	}

	// The vault URL wins over a vault name naming another host; the name
	// alone means <name>.vault.azure.net.
	env := srv.EnvMap()
	env["AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AZURE_KEY_VAULT_NAME"] = "om-vault"
	env["AZURE_KEY_VAULT_NAME"] = "other-vault"
	s := settingsFrom(env)
	assert.Equal(t, "om-vault", s["azure-key-vault-name"], "Airflow's name over the env loader's")
	g, err := openEnv(t, env, nil)
	require.NoError(t, err)
	_, err = g.Get(t.Context(), "x")
	require.NoError(t, err)
	delete(env, "OMSECRETS_AZURE_KEY_VAULT_URL")
	log := &resolvertest.LogBuffer{}
	g, err = openEnv(t, env, log)
	require.NoError(t, err)
	assert.Contains(t, log.String(), "vault=om-vault.vault.azure.net")
	assert.Contains(t, log.String(), "challenge_resource_verification=true")
	_ = g
}

// TestBadSettings is the hostile-input table of the settings: each is an
// error of Open (not "not configured") in one line that names the setting
// or variable and quotes no value.
func TestBadSettings(t *testing.T) {
	t.Parallel()
	srv := azuretest.New(t)
	good := srv.EnvMap()
	const secretish = "hunter2-Zq9"
	for _, tc := range []struct {
		name   string
		change map[string]string
		names  string // what the message must name
	}{
		{"vault name too short", map[string]string{"OMSECRETS_AZURE_KEY_VAULT_URL": "", "AZURE_KEY_VAULT_NAME": "kv"}, "azure-key-vault-name"},
		{"vault name too long", map[string]string{"AZURE_KEY_VAULT_NAME": strings.Repeat("v", 25)}, "azure-key-vault-name"},
		{"vault name huge", map[string]string{"AZURE_KEY_VAULT_NAME": strings.Repeat("v", 1<<16)}, "azure-key-vault-name"},
		{"vault name underscore", map[string]string{"AZURE_KEY_VAULT_NAME": "om_" + secretish}, "azure-key-vault-name"},
		{"vault name dot", map[string]string{"AZURE_KEY_VAULT_NAME": "evil.example.com"}, "azure-key-vault-name"},
		{"vault name path", map[string]string{"AZURE_KEY_VAULT_NAME": "om/../x"}, "azure-key-vault-name"},
		{"vault name control", map[string]string{"AZURE_KEY_VAULT_NAME": "om\x00vault"}, "azure-key-vault-name"},
		{"vault name unicode", map[string]string{"AZURE_KEY_VAULT_NAME": "ömvault"}, "azure-key-vault-name"},
		{"vault name double hyphen", map[string]string{"AZURE_KEY_VAULT_NAME": "om--vault"}, "azure-key-vault-name"},
		{"vault name trailing hyphen", map[string]string{"AZURE_KEY_VAULT_NAME": "omvault-"}, "azure-key-vault-name"},
		{"vault name leading digit", map[string]string{"AZURE_KEY_VAULT_NAME": "1omvault"}, "azure-key-vault-name"},
		{"vault URL http", map[string]string{"OMSECRETS_AZURE_KEY_VAULT_URL": "http://om.vault.azure.net/"}, "azure-key-vault-url"},
		{"vault URL userinfo", map[string]string{"OMSECRETS_AZURE_KEY_VAULT_URL": "https://user:" + secretish + "@om.vault.azure.net/"}, "azure-key-vault-url"},
		{"vault URL path", map[string]string{"OMSECRETS_AZURE_KEY_VAULT_URL": "https://om.vault.azure.net/secrets/" + secretish}, "azure-key-vault-url"},
		{"vault URL query", map[string]string{"OMSECRETS_AZURE_KEY_VAULT_URL": "https://om.vault.azure.net/?x=" + secretish}, "azure-key-vault-url"},
		{"vault URL no host", map[string]string{"OMSECRETS_AZURE_KEY_VAULT_URL": "https:///" + secretish}, "azure-key-vault-url"},
		{"vault URL garbage", map[string]string{"OMSECRETS_AZURE_KEY_VAULT_URL": "%zz" + secretish}, "azure-key-vault-url"},
		{"vault URL and name disagree", map[string]string{"OMSECRETS_AZURE_KEY_VAULT_URL": "https://one.vault.azure.net/", "AZURE_KEY_VAULT_NAME": "two"}, "azure-key-vault-url and azure-key-vault-name"},
		{"tenant with space", map[string]string{"AZURE_TENANT_ID": "a " + secretish}, "azure-tenant-id"},
		{"tenant huge", map[string]string{"AZURE_TENANT_ID": strings.Repeat("t", 300)}, "azure-tenant-id"},
		{"tenant path", map[string]string{"AZURE_TENANT_ID": "../" + secretish}, "azure-tenant-id"},
		{"client control", map[string]string{"AZURE_CLIENT_ID": "c\n" + secretish}, "azure-client-id"},
		{"authority http", map[string]string{"AZURE_AUTHORITY_HOST": "http://login." + secretish + "/"}, "AZURE_AUTHORITY_HOST"},
		{"authority userinfo", map[string]string{"AZURE_AUTHORITY_HOST": "https://u:" + secretish + "@login.microsoftonline.com/"}, "AZURE_AUTHORITY_HOST"},
		{"allowed tenants", map[string]string{"AZURE_ADDITIONALLY_ALLOWED_TENANTS": "ok;bad " + secretish}, "AZURE_ADDITIONALLY_ALLOWED_TENANTS"},
		{"secret without tenant", map[string]string{"AZURE_TENANT_ID": ""}, "AZURE_CLIENT_SECRET is set but azure-tenant-id is not"},
		{"secret without ids", map[string]string{"AZURE_TENANT_ID": "", "AZURE_CLIENT_ID": "", "AZURE_CLIENT_SECRET": "", "OMSECRETS_AZURE_CLIENT_SECRET": secretish}, "OMSECRETS_AZURE_CLIENT_SECRET is set but azure-tenant-id and azure-client-id are not"},
		{"token file without client", map[string]string{"AZURE_CLIENT_SECRET": "", "AZURE_CLIENT_ID": "", "AZURE_FEDERATED_TOKEN_FILE": "/var/run/secrets/azure/tokens/azure-identity-token"}, "AZURE_FEDERATED_TOKEN_FILE is set but azure-client-id is not"},
		{"CA bundle missing", map[string]string{"SSL_CERT_FILE": filepath.Join(t.TempDir(), "missing.pem")}, "SSL_CERT_FILE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := maps.Clone(good)
			maps.Copy(env, tc.change)
			maps.DeleteFunc(env, func(_, v string) bool { return v == "" })
			g, err := openEnv(t, env, nil)
			assert.Nil(t, g)
			require.Error(t, err)
			assert.NotErrorIs(t, err, resolver.ErrNotConfigured)
			msg := err.Error()
			assert.Contains(t, msg, tc.names)
			assert.NotContains(t, msg, "\n")
			assert.NotContains(t, msg, secretish)
			assert.NotContains(t, msg, srv.ClientSecret)
			assert.Less(t, len(msg), 300)
		})
	}
}
