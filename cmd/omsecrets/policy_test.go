package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPlantedDefinitionsGetNothing: definitions planted in the watched
// directory that reference another service's password, another bot's JWT,
// or send the bot JWT to a listener of their own get no output, make no
// request to that listener, are refused once each in the log, and leave
// the other definition alone.
func TestPlantedDefinitionsGetNothing(t *testing.T) {
	t.Parallel()
	om, srv := omWorld(t)
	srv.PutSecret("/openmetadata/database/other_prod/authtype/password", "PLANTED-other-service")
	srv.PutSecret("/openmetadata/bot/admin-bot/config/jwttoken", "PLANTED-admin-jwt")
	var stolen atomic.Int64
	thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		stolen.Add(1)
		w.WriteHeader(http.StatusNotFound)
	}))
	t.Cleanup(thief.Close)

	defs, out := t.TempDir(), t.TempDir()
	write := func(name string, edit func(string) string) {
		data := edit(string(pipelineJSON(t, om, name, "mysql_prod")))
		require.NoError(t, os.WriteFile(filepath.Join(defs, name+".json"), []byte(data), 0o644))
	}
	write("good", func(s string) string { return s })
	write("other_service", func(s string) string {
		return strings.Replace(s, `"sourceConfig":{"config":{"type":"DatabaseMetadata"}}`,
			`"sourceConfig":{"config":{"type":"DatabaseMetadata","dbtConfigSource":{"dbtConfigType":"s3","dbtSecurityConfig":{"awsSecretAccessKey":"secret:/openmetadata/database/other_prod/authtype/password"}}}}`, 1)
	})
	write("other_bot", func(s string) string {
		return strings.Replace(s, "/openmetadata/bot/ingestion-bot/config/jwttoken", "/openmetadata/bot/admin-bot/config/jwttoken", 1)
	})
	write("other_host", func(s string) string { return strings.Replace(s, om.URL(), thief.URL+"/api", 1) })

	r := omsecrets(t, omEnv(om, srv), "run", "--once", "--out-dir", out, defs)
	assert.Equal(t, 1, r.code, r.stderr)
	// Not even a report file: the bot's JWT goes only to a definition the
	// policy admits.
	assert.Equal(t, []string{"good.json", "good.report.json", "good.status", "other_bot.status", "other_host.status", "other_service.status"}, dirNames(t, out))
	assert.Zero(t, stolen.Load(), "the planted host got a request")
	for name, want := range map[string]string{
		"other_service": `class=forbidden_ref`,
		"other_bot":     `bot JWT secret:/openmetadata/bot/admin-bot/config/jwttoken: reference not allowed`,
		"other_host":    `class=forbidden_host`,
	} {
		var lines []string
		for _, l := range strings.Split(r.stderr, "\n") {
			if strings.Contains(l, filepath.Join(defs, name+".json")) && strings.Contains(l, "level=ERROR") {
				lines = append(lines, l)
			}
		}
		require.Len(t, lines, 1, "%s is refused once: %s", name, r.stderr)
		assert.Contains(t, lines[0], want)
		assert.Contains(t, readFile(t, filepath.Join(out, name+".status")), `"state": "failed"`)
	}
	assert.NotContains(t, r.stdout+r.stderr, "PLANTED")
	for _, target := range []string{"secretsmanager.BatchGetSecretValue", "secretsmanager.GetSecretValue"} {
		for _, ids := range srv.Requested(target) {
			for _, id := range ids {
				assert.NotContains(t, []string{"/openmetadata/database/other_prod/authtype/password", "/openmetadata/bot/admin-bot/config/jwttoken"}, id, "a forbidden id reached the store")
			}
		}
	}
}

func TestPolicyUsageErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--om-hosts", "om:8585"}, "--om-hosts / OMSECRETS_OM_HOSTS"},
		{[]string{"--om-hosts", "ftp://om"}, "--om-hosts / OMSECRETS_OM_HOSTS"},
		{[]string{"--allow-ids", "a,\x01b"}, "--allow-ids / OMSECRETS_ALLOW_IDS"},
	} {
		r := omsecrets(t, nil, append(append([]string{"check", "--provider", "file", "--file-dir", f.store}, tt.args...), f.def)...)
		assert.Equal(t, 2, r.code, r.stderr)
		first, _, _ := strings.Cut(r.stderr, "\n")
		assert.Contains(t, first, tt.want, "the first line names the setting")
	}
}

// TestRoutesInCheckAndResolve: a route sends one reference to another
// store; check's STORE column says where each went, and resolve writes
// values from both stores.
func TestRoutesInCheckAndResolve(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	writeFiles(t, filepath.Dir(f.def), map[string]string{filepath.Base(f.def): workflowConfig("secret:/platform/db/password", "secret:/bot/jwt")})
	environ := []string{"OMSECRETS_SECRET_PLATFORM_DB_PASSWORD=routed-env-value"}
	r := omsecrets(t, environ, "check", "--provider", "file", "--file-dir", f.store, "--routes", "/platform/=env", f.def)
	require.Equal(t, 0, r.code, r.stderr)
	var platform, bot string
	for _, l := range strings.Split(r.stdout, "\n") {
		switch {
		case strings.Contains(l, "secret:/platform/db/password"):
			platform = l
		case strings.Contains(l, "secret:/bot/jwt"):
			bot = l
		}
	}
	assert.Regexp(t, `\benv\s+ok\s*$`, platform)
	assert.Regexp(t, `\bfile\s+ok\s*$`, bot)

	r = omsecrets(t, environ, append(f.args("--routes", "/platform/=env"), f.def)...)
	require.Equal(t, 0, r.code, r.stderr)
	got := readFile(t, filepath.Join(f.out, "mysql_prod.json"))
	assert.Contains(t, got, `"password": "routed-env-value"`)
	assert.Contains(t, got, `"jwtToken": "jwt-value"`)
	assert.NotContains(t, r.stderr, "routed-env-value")

	for _, tt := range []struct{ routes, want string }{
		{"/platform/=consul", `unknown store "consul"`},
		{"/platform/=vault", "the vault store is not configured (set --vault-addr"},
		{"/platform/=aws", "the aws store is not configured"},
		{"/platform/=db", "cannot be routed to"},
		{"/a/=env,/a/=file", "routed twice"},
	} {
		r := omsecrets(t, environ, "check", "--provider", "file", "--file-dir", f.store, "--routes", tt.routes, f.def)
		assert.Equal(t, 2, r.code, r.stderr)
		first, _, _ := strings.Cut(r.stderr, "\n")
		assert.Contains(t, first, "--routes / OMSECRETS_ROUTES")
		assert.Contains(t, first, tt.want)
	}
}
