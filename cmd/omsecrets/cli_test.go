package main

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/config"
	"omsecrets/internal/testbed/schematest"
)

// fixture is a file store and one definition that references it.
type fixture struct {
	store, def, out string
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	dir := t.TempDir()
	f := fixture{store: filepath.Join(dir, "store"), def: filepath.Join(dir, "defs", "mysql prod.yaml"), out: filepath.Join(dir, "out")}
	writeFiles(t, f.store, map[string]string{
		"db/password": "pw-value\n",
		"bot/jwt":     "jwt-value",
	})
	writeFiles(t, filepath.Dir(f.def), map[string]string{filepath.Base(f.def): workflowConfig("secret:/db/password", "secret:/bot/jwt")})
	require.NoError(t, os.Mkdir(f.out, 0o755))
	return f
}

func (f fixture) args(extra ...string) []string {
	return append([]string{"resolve", "--provider", "file", "--file-dir", f.store, "--out-dir", f.out, "--allow-disk"}, extra...)
}

func TestResolveWritesDagIDNamedOutput(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := omsecrets(t, nil, f.args(f.def)...)
	require.Equal(t, 0, r.code, r.stderr)
	got, err := os.ReadFile(filepath.Join(f.out, "mysql_prod.json")) // "mysql prod" cleaned by OM's dag_id rule
	require.NoError(t, err)
	assert.Contains(t, string(got), `"password": "pw-value"`)
	assert.Contains(t, string(got), `"jwtToken": "jwt-value"`)
	assert.Contains(t, string(got), `"secretsManagerProvider": "db"`)
	st, err := os.Stat(filepath.Join(f.out, "mysql_prod.json"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	assert.Contains(t, r.stderr, `msg="output written"`)

	// Same inputs again: nothing to write.
	r = omsecrets(t, nil, f.args(f.def)...)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, `msg="output unchanged"`)
}

func TestResolveFailsClosedAndKeepsLastGoodOutput(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	require.Equal(t, 0, omsecrets(t, nil, f.args(f.def)...).code)
	out := filepath.Join(f.out, "mysql_prod.json")
	before, err := os.ReadFile(out)
	require.NoError(t, err)

	// The password disappears from the store and the JWT id goes bad.
	require.NoError(t, os.Remove(filepath.Join(f.store, "db", "password")))
	writeFiles(t, filepath.Dir(f.def), map[string]string{filepath.Base(f.def): workflowConfig("secret:/db/password", "secret:/../etc/passwd")})
	r := omsecrets(t, nil, f.args(f.def)...)
	assert.Equal(t, 1, r.code)
	after, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, before, after, "the last good output stays byte for byte")
	assert.Contains(t, r.stderr, "secret:/db/password")
	assert.Contains(t, r.stderr, "class=not_found")
	assert.Contains(t, r.stderr, "secret:/../etc/passwd")
	assert.Contains(t, r.stderr, "class=bad_ref")
	assert.Contains(t, r.stderr, "mysql prod.yaml")
	assert.Equal(t, []string{"mysql_prod.json", "mysql_prod.status"}, dirNames(t, f.out), "no temporary or partial file left behind")
	assert.Contains(t, readFile(t, filepath.Join(f.out, "mysql_prod.status")), `"state": "stale"`, "the kept output is marked stale")
}

func TestResolveOtherDefinitionsKeepWorking(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	broken := filepath.Join(filepath.Dir(f.def), "broken.json")
	missing := filepath.Join(filepath.Dir(f.def), "missing.yaml")
	writeFiles(t, filepath.Dir(f.def), map[string]string{
		"broken.json":  `{"source": {`,
		"missing.yaml": workflowConfig("secret:/nope", "secret:/bot/jwt"),
	})
	r := omsecrets(t, nil, f.args(broken, f.def, missing)...)
	assert.Equal(t, 1, r.code)
	_, err := os.Stat(filepath.Join(f.out, "mysql_prod.json"))
	assert.NoError(t, err, "the good definition is written")
	for _, name := range []string{"broken.json", "missing.json"} {
		_, err := os.Stat(filepath.Join(f.out, name))
		assert.ErrorIs(t, err, os.ErrNotExist, name)
	}
	assert.Contains(t, r.stderr, "broken.json: syntax error")
	assert.Contains(t, r.stderr, "secret:/nope")
}

func TestResolveOutputFormsAndStdout(t *testing.T) {
	t.Parallel()
	f := newFixture(t)

	r := omsecrets(t, nil, "resolve", "--provider", "file", "--file-dir", f.store, "--out", "-", f.def)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"password": "pw-value"`, "--out - writes the values to stdout")
	schematest.RequireValid(t, "stdout json", []byte(r.stdout))

	yamlOut := filepath.Join(f.out, "conf.yml")
	r = omsecrets(t, nil, "resolve", "--provider", "file", "--file-dir", f.store, "--out", yamlOut, "--allow-disk", f.def)
	require.Equal(t, 0, r.code, r.stderr)
	got, err := os.ReadFile(yamlOut)
	require.NoError(t, err)
	assert.Contains(t, string(got), `password: "pw-value"`, "an output name ending in .yml means YAML")
	schematest.RequireValid(t, "yaml output", got)

	r = omsecrets(t, nil, f.args("--format", "yaml", f.def)...)
	require.Equal(t, 0, r.code, r.stderr)
	_, err = os.Stat(filepath.Join(f.out, "mysql_prod.yaml"))
	assert.NoError(t, err, "--out-dir with --format yaml names the file .yaml")

	r = omsecrets(t, nil, "resolve", "--provider", "file", "--file-dir", f.store, "--redact", "--out", "-", f.def)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"password": "[redacted]"`)
	assert.NotContains(t, r.stdout, "pw-value")
}

func TestResolveRefusesDiskUnlessAllowed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := omsecrets(t, nil, "resolve", "--provider", "file", "--file-dir", f.store, "--out-dir", f.out, f.def)
	if r.code == 0 {
		t.Skipf("%s is on tmpfs here; the refusal cannot be shown", f.out)
	}
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "allow-disk")
	entries, err := os.ReadDir(f.out)
	require.NoError(t, err)
	assert.Empty(t, entries)

	// On tmpfs no flag is needed.
	shm := tmpfsDir(t)
	r = omsecrets(t, nil, "resolve", "--provider", "file", "--file-dir", f.store, "--out-dir", shm, f.def)
	require.Equal(t, 0, r.code, r.stderr)
	_, err = os.Stat(filepath.Join(shm, "mysql_prod.json"))
	assert.NoError(t, err)
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tests := []struct {
		name string
		args []string
		env  []string
		code int
		want string
	}{
		{name: "no arguments", code: 2, want: "Usage"},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, want: `unknown command "frobnicate"`},
		{name: "unknown flag", args: []string{"resolve", "--nope"}, code: 2, want: "flag provided but not defined"},
		{name: "no definition", args: []string{"resolve", "--out", "-"}, code: 2, want: "at least one DEFINITION"},
		{name: "no output", args: []string{"resolve", f.def}, code: 2, want: "--out -"},
		{name: "both outputs", args: []string{"resolve", "--out", "x", "--out-dir", "y", f.def}, code: 2, want: "only one"},
		{name: "--out with two definitions", args: []string{"resolve", "--out", "-", f.def, f.def}, code: 2, want: "--out takes one"},
		{name: "bad format", args: []string{"resolve", "--format", "toml", "--out", "-", f.def}, code: 2, want: "must be json or yaml"},
		{name: "bad log level", args: []string{"check", "--log-level", "loud", f.def}, code: 2, want: "LOG_LEVEL"},
		{name: "bad env value", args: []string{"check", f.def}, env: []string{"OMSECRETS_TIMEOUT=soon"}, code: 2, want: "TIMEOUT"},
		{name: "unknown provider", args: []string{"check", "--provider", "consul", f.def}, code: 2, want: `unknown secrets manager provider "consul"`},
		{name: "file provider without dir", args: []string{"check", "--provider", "file", f.def}, code: 2, want: "--file-dir"},
		{name: "missing file store dir", args: []string{"check", "--provider", "file", "--file-dir", "/nonexistent/store", f.def}, code: 2, want: "FILE_DIR"},
		{name: "unknown group", args: []string{"resolve", "--group", "no-such-group-xyz", "--out", "-", f.def}, code: 2, want: "no such group"},
		{name: "missing output directory", args: []string{"resolve", "--out-dir", "/nonexistent/out", f.def}, code: 2, want: "/nonexistent/out"},
		{name: "provider without a store yet", args: []string{"check", "--file-dir", f.store, f.def}, code: 1, want: `no store for provider \"aws\": the aws store is not configured (set --aws-region / OMSECRETS_AWS_REGION, AWS_REGION`},
		{name: "missing definition file", args: []string{"check", "/nonexistent.yaml"}, code: 1, want: "/nonexistent.yaml"},
		{name: "check ok", args: []string{"check", "--provider", "file", "--file-dir", f.store, f.def}, code: 0},
		{name: "help", args: []string{"resolve", "-h"}, code: 0, want: "OMSECRETS_OUTPUT_DIR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := omsecrets(t, tt.env, tt.args...)
			assert.Equal(t, tt.code, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
			assert.Contains(t, r.stdout+r.stderr, tt.want)
		})
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	r := omsecrets(t, nil, "version")
	require.Equal(t, 0, r.code)
	assert.Regexp(t, `^omsecrets \S+ \(go1\.\d+`, r.stdout)
}

func TestCheckReportsEveryReference(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	writeFiles(t, filepath.Dir(f.def), map[string]string{"two.yaml": workflowConfig("secret:/db/password#user", "secret:/absent")})
	two := filepath.Join(filepath.Dir(f.def), "two.yaml")
	r := omsecrets(t, nil, "check", "--provider", "file", "--file-dir", f.store, f.def, two)
	assert.Equal(t, 1, r.code)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 5, r.stdout) // header + 2 references × 2 definitions
	assert.Regexp(t, `mysql prod.yaml\s+source.serviceConnection.config.authType.password\s+secret:/db/password\s+file\s+ok`, r.stdout)
	assert.Regexp(t, `two.yaml\s+source.serviceConnection.config.authType.password\s+secret:/db/password#user\s+file\s+bad_ref`, r.stdout)
	assert.Regexp(t, `two.yaml\s+workflowConfig.openMetadataServerConfig.securityConfig.jwtToken\s+secret:/absent\s+file\s+not_found`, r.stdout)
	entries, err := os.ReadDir(f.out)
	require.NoError(t, err)
	assert.Empty(t, entries, "check writes nothing")
}

func TestMaskedDocumentIsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	writeFiles(t, filepath.Dir(f.def), map[string]string{"masked.yaml": workflowConfig("*********", "secret:/bot/jwt")})
	r := omsecrets(t, nil, f.args(filepath.Join(filepath.Dir(f.def), "masked.yaml"))...)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "not a bot's")
	assert.Contains(t, r.stderr, "field=source.serviceConnection.config.authType.password")
}

// TestDuplicateOutputNamesFirstWins: resolve --out-dir follows run's one
// policy: of two definitions with one output name, the first named keeps
// it and the other fails with output_conflict.
func TestDuplicateOutputNamesFirstWins(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	dir := filepath.Dir(f.def)
	second := filepath.Join(dir, "mysql_prod.json")
	writeFiles(t, dir, map[string]string{"mysql_prod.json": mustJSON(t, strings.Replace(workflowConfig("secret:/db/password", "secret:/bot/jwt"), "reader", "second-user", 1))})
	r := omsecrets(t, nil, f.args(f.def, second)...)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "class=output_conflict")
	assert.Contains(t, r.stderr, "is already written for "+f.def)
	data, err := os.ReadFile(filepath.Join(f.out, "mysql_prod.json"))
	require.NoError(t, err, "the first keeps the name")
	assert.NotContains(t, string(data), "second-user")
}

func mustJSON(t *testing.T, yamlDoc string) string {
	t.Helper()
	r := omsecrets(t, nil, "resolve", "--provider", "db", "--out", "-", "--log-level", "error", writeTemp(t, yamlDoc))
	require.Equal(t, 0, r.code, r.stderr)
	return r.stdout
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "doc.yaml")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

// TestEveryFlagHasAnEnvironmentTwin checks the flag table against the
// Config struct, then that the environment drives a whole run and that
// flags win over it.
func TestEveryFlagHasAnEnvironmentTwin(t *testing.T) {
	t.Parallel()
	tags := map[string]bool{}
	ct := reflect.TypeFor[config.Config]()
	for i := range ct.NumField() {
		name, _, _ := strings.Cut(ct.Field(i).Tag.Get("env"), ",")
		tags[name] = true
	}
	for _, s := range slices.Concat(commonFlags, outputFlags, runFlags, omFlags) {
		assert.True(t, tags[s.env], "flag --%s: no Config field with env:%q", s.name, s.env)
	}

	f := newFixture(t)
	environ := []string{
		"OMSECRETS_PROVIDER=file",
		"OMSECRETS_FILE_DIR=" + f.store,
		"OMSECRETS_OUTPUT_DIR=" + f.out,
		"OMSECRETS_ALLOW_DISK=true",
		"OMSECRETS_FORMAT=yaml",
		"OMSECRETS_LOG_FORMAT=json",
	}
	r := omsecrets(t, environ, "resolve", f.def)
	require.Equal(t, 0, r.code, r.stderr)
	_, err := os.Stat(filepath.Join(f.out, "mysql_prod.yaml"))
	assert.NoError(t, err)
	assert.Contains(t, r.stderr, `"msg":"output written"`, "OMSECRETS_LOG_FORMAT=json")

	r = omsecrets(t, environ, "resolve", "--format", "json", f.def)
	require.Equal(t, 0, r.code, r.stderr)
	_, err = os.Stat(filepath.Join(f.out, "mysql_prod.json"))
	assert.NoError(t, err, "--format wins over OMSECRETS_FORMAT")

	r = omsecrets(t, append(environ, "OMSECRETS_OUTPUT_DIR=", "OMSECRETS_OUTPUT_FILE=-"), "resolve", "--allow-disk=false", f.def)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `password: "pw-value"`, "OMSECRETS_OUTPUT_FILE=- is the explicit stdout")
}

func TestEnvStore(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	environ := []string{
		"OMSECRETS_SECRET_DB_PASSWORD=env-pw",
		"OMSECRETS_SECRET_BOT_JWT=env-jwt",
		"PATH=/usr/bin",
	}
	r := omsecrets(t, environ, "resolve", "--provider", "env", "--out", "-", f.def)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"password": "env-pw"`)

	writeFiles(t, filepath.Dir(f.def), map[string]string{"path.yaml": workflowConfig("secret:PATH", "secret:/bot/jwt")})
	r = omsecrets(t, environ, "check", "--provider", "env", filepath.Join(filepath.Dir(f.def), "path.yaml"))
	assert.Equal(t, 1, r.code, "only prefixed variables are secrets")
	assert.Contains(t, r.stdout, "not_found")
}

func TestCheckListsProblemsFoundBeforeAnyStoreCall(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	writeFiles(t, filepath.Dir(f.def), map[string]string{"bad.yaml": workflowConfig("secret:", "*********")})
	r := omsecrets(t, nil, "check", "--provider", "file", "--file-dir", f.store, filepath.Join(filepath.Dir(f.def), "bad.yaml"))
	assert.Equal(t, 1, r.code)
	assert.Regexp(t, `bad.yaml\s+source.serviceConnection.config.authType.password\s+-\s+file\s+bad_ref`, r.stdout)
	assert.Regexp(t, `bad.yaml\s+workflowConfig.openMetadataServerConfig.securityConfig.jwtToken\s+-\s+file\s+masked`, r.stdout)
}

// TestDBProviderNeverPrintsIDs: with db, "secret:<id>" resolves to <id>,
// so the id is a value and is printed only as [redacted].
func TestDBProviderNeverPrintsIDs(t *testing.T) {
	t.Parallel()
	def := writeTemp(t, workflowConfig("secret:db-"+marker+"-pw", "secret:db-"+marker+"-jwt#k"))
	r := omsecrets(t, nil, "check", "--provider", "db", "--log-level", "debug", def)
	assert.Equal(t, 1, r.code, "the #k on a non-JSON value fails")
	assert.Contains(t, r.stdout, "secret:[redacted]")
	assert.Contains(t, r.stdout, "secret:[redacted]#k")
	assert.NotContains(t, r.stdout+r.stderr, marker)
}

func TestResolveSweepsStaleTempFiles(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	stale := filepath.Join(f.out, ".mysql_prod.json.tmp-00112233445566ff")
	require.NoError(t, os.WriteFile(stale, []byte("half-written-"+marker), 0o600))
	old := time.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(stale, old, old))
	r := omsecrets(t, nil, f.args(f.def)...)
	require.Equal(t, 0, r.code, r.stderr)
	_, err := os.Stat(stale)
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.Contains(t, r.stderr, "removed temporary files left by an interrupted write")
	assert.NotContains(t, r.stderr, marker)
}

// TestResolveOutTakesADirectoryOfOne: --out takes a directory holding
// one definition, as it takes that file, and refuses one holding more
// before any store call.
func TestResolveOutTakesADirectoryOfOne(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	dir := filepath.Dir(f.def)
	r := omsecrets(t, nil, "resolve", "--provider", "file", "--file-dir", f.store, "--out", "-", dir)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"password": "pw-value"`)

	writeFiles(t, dir, map[string]string{"second.yaml": workflowConfig("secret:/db/password", "secret:/bot/jwt")})
	r = omsecrets(t, nil, "resolve", "--provider", "file", "--file-dir", f.store, "--out", "-", dir)
	assert.Equal(t, 2, r.code, r.stderr)
	assert.Contains(t, r.stderr, "--out takes one DEFINITION, and "+dir+" holds 2: use --out-dir")
	assert.Empty(t, r.stdout)
}
