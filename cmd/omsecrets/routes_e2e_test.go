package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/awstest"
	"omsecrets/internal/testbed/vaulttest"
)

// routedConfig is a workflow config with the given password reference and
// extra references in its source config.
func routedConfig(password string, extra ...string) string {
	var b strings.Builder
	b.WriteString(workflowConfig(password, "secret:/bot/jwt"))
	b.WriteString("extra:\n")
	for i, r := range extra {
		fmt.Fprintf(&b, "  r%d: %q\n", i, r)
	}
	return b.String()
}

// TestRoutesAcrossRealStores: one definition whose references span Vault,
// AWS Secrets Manager and the file store resolves in one pass, each store
// on its wire with its fewest calls: one BatchGetSecretValue for three
// AWS ids, one KV read per Vault path however many fields, and the file
// store's reads.
func TestRoutesAcrossRealStores(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	aws := awstest.New(t)
	for _, id := range []string{"/openmetadata/a", "/openmetadata/b", "/openmetadata/c"} {
		aws.PutSecret(id, "PLANTED-aws"+id)
	}
	vault := vaulttest.New(t)
	vault.Put("platform/dbt", map[string]any{"key": "PLANTED-vault-key", "secret": "PLANTED-vault-secret"})
	vault.Put("platform/other", map[string]any{"value": "PLANTED-vault-other"})
	env := append(awsEnv(aws), vault.Env()...)
	writeFiles(t, filepath.Dir(f.def), map[string]string{filepath.Base(f.def): routedConfig("secret:/db/password",
		"secret:/openmetadata/a", "secret:/openmetadata/b", "secret:/openmetadata/c",
		"secret:/platform/dbt#key", "secret:/platform/dbt#secret", "secret:/platform/other")})
	routes := "/platform/=vault,/openmetadata/=aws"

	r := omsecrets(t, env, append(f.args("--routes", routes), f.def)...)
	require.Equal(t, 0, r.code, r.stderr)
	got := readFile(t, filepath.Join(f.out, "mysql_prod.json"))
	for _, v := range []string{"PLANTED-aws/openmetadata/a", "PLANTED-aws/openmetadata/c", "PLANTED-vault-key", "PLANTED-vault-secret", "PLANTED-vault-other", "pw-value", "jwt-value"} {
		assert.Contains(t, got, v)
	}
	assert.Equal(t, 1, len(aws.Requested(awstest.TargetBatchGetSecretValue)), "one batch for three AWS ids")
	assert.Equal(t, 1, vault.Calls("secret/data/platform/dbt"), "two fields of one path: one read")
	assert.Equal(t, 1, vault.Calls("secret/data/platform/other"))
	assert.NotContains(t, r.stdout+r.stderr, "PLANTED")

	r = omsecrets(t, env, "check", "--provider", "file", "--file-dir", f.store, "--routes", routes, f.def)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Regexp(t, `secret:/platform/dbt#key\s+vault\s+ok`, r.stdout)
	assert.Regexp(t, `secret:/openmetadata/a\s+aws\s+ok`, r.stdout)
	assert.Regexp(t, `secret:/db/password\s+file\s+ok`, r.stdout)
}

// TestRoutesMigrationAndOutage: a fallback route reads what has not moved
// yet from the old store; a store that is down fails only the definitions
// with references routed there, which keep their last good output, and
// the others go on.
func TestRoutesMigrationAndOutage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	aws := awstest.New(t)
	aws.PutSecret("/openmetadata/moved", "PLANTED-new-home")
	vault := vaulttest.New(t)
	vault.Put("openmetadata/not-yet", map[string]any{"value": "PLANTED-old-home"})
	vault.Put("openmetadata/moved", map[string]any{"value": "PLANTED-stale"})
	vault.Put("platform/x", map[string]any{"value": "PLANTED-vault-x"})
	env := append(awsEnv(aws), vault.Env()...)
	migrating := filepath.Join(filepath.Dir(f.def), "migrating.yaml")
	routed := filepath.Join(filepath.Dir(f.def), "routed.yaml")
	writeFiles(t, filepath.Dir(f.def), map[string]string{
		"migrating.yaml": routedConfig("secret:/db/password", "secret:/openmetadata/moved", "secret:/openmetadata/not-yet"),
		"routed.yaml":    routedConfig("secret:/db/password", "secret:/platform/x"),
	})
	require.NoError(t, os.Remove(f.def))
	routes := "/openmetadata/=aws|vault,/platform/=vault"

	r := omsecrets(t, env, append(f.args("--routes", routes), migrating, routed)...)
	require.Equal(t, 0, r.code, r.stderr)
	got := readFile(t, filepath.Join(f.out, "migrating.json"))
	assert.Contains(t, got, "PLANTED-new-home")
	assert.Contains(t, got, "PLANTED-old-home")
	assert.NotContains(t, got, "PLANTED-stale", "what moved is read from the new store")
	assert.Zero(t, vault.Calls("secret/data/openmetadata/moved"), "the old store is not asked for what the new one has")
	before := readFile(t, filepath.Join(f.out, "routed.json"))

	vault.Seal(true)
	r = omsecrets(t, env, append(f.args("--routes", routes), routed)...)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "secret:/platform/x (store vault)")
	assert.Contains(t, r.stderr, "class=unavailable")
	assert.Equal(t, before, readFile(t, filepath.Join(f.out, "routed.json")), "the last good output stays")
	writeFiles(t, filepath.Dir(f.def), map[string]string{"plain.yaml": workflowConfig("secret:/db/password", "secret:/bot/jwt")})
	r = omsecrets(t, env, append(f.args("--routes", routes), routed, filepath.Join(filepath.Dir(f.def), "plain.yaml"))...)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, readFile(t, filepath.Join(f.out, "plain.json")), "pw-value", "a definition not routed to the sealed store is written")
	assert.NotContains(t, r.stdout+r.stderr, "PLANTED")
}
