package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/awstest"
	"omsecrets/internal/testbed/omtest"
	"omsecrets/internal/testbed/schematest"
	"omsecrets/resolver/resolvertest"
)

// pipelineJSON is an IngestionPipeline as OpenMetadata deploys it to
// dag_generated_configs, pointing at om, with its bot JWT a reference in
// AWS Secrets Manager.
func pipelineJSON(t *testing.T, om *omtest.Server, name, service string) []byte {
	t.Helper()
	p := map[string]any{
		"name":               name,
		"pipelineType":       "metadata",
		"fullyQualifiedName": service + "." + name,
		"sourceConfig":       map[string]any{"config": map[string]any{"type": "DatabaseMetadata"}},
		"openMetadataServerConnection": map[string]any{
			"hostPort":               om.URL(),
			"authProvider":           "openmetadata",
			"securityConfig":         map[string]any{"jwtToken": "secret:/openmetadata/bot/ingestion-bot/config/jwttoken"},
			"secretsManagerProvider": "aws",
			"secretsManagerLoader":   "airflow",
		},
		"service":       map[string]any{"type": "databaseService", "name": service, "fullyQualifiedName": service},
		"loggerLevel":   "INFO",
		"airflowConfig": map[string]any{"scheduleInterval": "0 * * * *"},
	}
	b, err := json.Marshal(p)
	require.NoError(t, err)
	return b
}

// omWorld is an OpenMetadata server and an AWS Secrets Manager holding the
// bot JWT and the service's password.
func omWorld(t *testing.T) (*omtest.Server, *awstest.Server) {
	t.Helper()
	om := omtest.New(t)
	srv := awstest.New(t)
	srv.PutSecret("/openmetadata/bot/ingestion-bot/config/jwttoken", om.BotToken("ingestion-bot"))
	srv.PutSecret("/openmetadata/database/mysql_prod/authtype/password", "PLANTED-pw")
	om.PutService("databaseService", omtest.ServiceEntity("mysql_prod", "Mysql", map[string]any{
		"username": "reader",
		"authType": map[string]any{"password": "secret:/openmetadata/database/mysql_prod/authtype/password"},
		"hostPort": "mysql:3306",
	}))
	return om, srv
}

func TestRunOnce(t *testing.T) {
	t.Parallel()
	om, srv := omWorld(t)
	defs, out := t.TempDir(), t.TempDir()
	for _, name := range []string{"mysql_prod_metadata", "mysql_prod_metadata_2"} {
		require.NoError(t, os.WriteFile(filepath.Join(defs, name+".json"), pipelineJSON(t, om, name, "mysql_prod"), 0o644))
	}
	r := omsecrets(t, omEnv(om, srv), "run", "--once", "--watch-dirs", defs, "--out-dir", out)
	require.Equal(t, 0, r.code, r.stderr)
	data, err := os.ReadFile(filepath.Join(out, "mysql_prod_metadata.json"))
	require.NoError(t, err)
	schematest.RequireValid(t, "run --once output", data)
	assert.Contains(t, string(data), `"password": "PLANTED-pw"`)
	_, err = os.Stat(filepath.Join(out, "mysql_prod_metadata_2.json"))
	assert.NoError(t, err)
	assert.NotContains(t, r.stdout+r.stderr, "PLANTED")

	// A file names just that definition (a KubernetesExecutor pod's own DAG).
	single := t.TempDir()
	r = omsecrets(t, omEnv(om, srv), "run", "--once", "--out-dir", single, filepath.Join(defs, "mysql_prod_metadata_2.json"))
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, []string{"mysql_prod_metadata_2.json", "mysql_prod_metadata_2.report.json", "mysql_prod_metadata_2.status"}, dirNames(t, single), "that definition's output, report and freshness files only")
	report := readFile(t, filepath.Join(single, "mysql_prod_metadata_2.report.json"))
	assert.Contains(t, report, `"omsecretsReport": 1`)
	assert.NotContains(t, report, "PLANTED-pw", "the report file holds the bot's connection only")
	assert.Contains(t, readFile(t, filepath.Join(single, "mysql_prod_metadata_2.status")), `"mode": "once"`)

	// One definition failing makes --once exit 1; the other is written.
	require.NoError(t, os.WriteFile(filepath.Join(defs, "gone.json"), pipelineJSON(t, om, "gone", "no_such_service"), 0o644))
	r = omsecrets(t, omEnv(om, srv), "run", "--once", "--out-dir", t.TempDir(), defs)
	assert.Equal(t, 1, r.code, r.stderr)
	assert.Contains(t, r.stderr, "no_such_service")
}

func TestRunUsageErrors(t *testing.T) {
	t.Parallel()
	r := omsecrets(t, nil, "run", "--out-dir", t.TempDir())
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "WATCH_DIRS")
	dir := t.TempDir()
	r = omsecrets(t, []string{"OMSECRETS_ALLOW_DISK=true"}, "run", "--watch-dirs", dir, "--out-dir", dir)
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "also a watch dir")
	r = omsecrets(t, []string{"OMSECRETS_ALLOW_DISK=true"}, "run", "--watch-dirs", dir)
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "OUTPUT_DIR")
	f := filepath.Join(dir, "a.json")
	require.NoError(t, os.WriteFile(f, []byte("{}"), 0o600))
	r = omsecrets(t, []string{"OMSECRETS_ALLOW_DISK=true", "OMSECRETS_HTTP_ADDR=off"}, "run", "--out-dir", t.TempDir(), f)
	assert.Equal(t, 2, r.code)
	assert.Contains(t, r.stderr, "is a file")
	r = omsecrets(t, nil, "probe", "bogus")
	assert.Equal(t, 2, r.code)
	r = omsecrets(t, []string{"OMSECRETS_HTTP_ADDR=off"}, "probe")
	assert.Equal(t, 2, r.code)
}

// TestRunDaemon runs the sidecar in-process: it becomes ready, serves its
// HTTP endpoints, follows a new definition, and exits 0 when stopped.
func TestRunDaemon(t *testing.T) {
	t.Parallel()
	om, srv := omWorld(t)
	defs, out := t.TempDir(), t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(defs, "a.json"), pipelineJSON(t, om, "a", "mysql_prod"), 0o644))

	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr resolvertest.LogBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"run", "--watch-dirs", defs, "--out-dir", out, "--http-addr", "127.0.0.1:0",
			"--watch-quiet", "20ms", "--log-format", "json"}, omEnv(om, srv), &stdout, &stderr)
	}()

	addr := regexp.MustCompile(`"http":"([0-9.:]+)"`)
	var base string
	require.Eventually(t, func() bool {
		m := addr.FindStringSubmatch(stderr.String())
		if m != nil {
			base = "http://" + m[1]
		}
		return m != nil
	}, 20*time.Second, 10*time.Millisecond, stderr.String())

	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	require.Eventually(t, func() bool { c, _ := get("/readyz"); return c == http.StatusOK }, 20*time.Second, 10*time.Millisecond)
	_, err := os.Stat(filepath.Join(out, "a.json"))
	require.NoError(t, err, "ready means the first pass is written")

	require.NoError(t, os.WriteFile(filepath.Join(defs, "b.json"), pipelineJSON(t, om, "b", "mysql_prod"), 0o644))
	require.Eventually(t, func() bool { _, err := os.Stat(filepath.Join(out, "b.json")); return err == nil }, 20*time.Second, 10*time.Millisecond)

	// b's status is recorded just after its output is written.
	var body string
	require.Eventually(t, func() bool {
		var code int
		code, body = get("/status")
		return code == http.StatusOK && strings.Contains(body, filepath.Join(defs, "b.json"))
	}, 20*time.Second, 10*time.Millisecond)
	var snap struct {
		Definitions []struct {
			Path string
			OK   bool
			Refs []struct{ Ref, Outcome string }
		}
	}
	require.NoError(t, json.Unmarshal([]byte(body), &snap))
	require.Len(t, snap.Definitions, 2)
	for _, d := range snap.Definitions {
		assert.True(t, d.OK, d.Path)
		assert.Len(t, d.Refs, 2, "password and bot JWT")
	}
	assert.Contains(t, body, "secret:/openmetadata/database/mysql_prod/authtype/password")
	// probe, the healthcheck for images without curl.
	hostPort := strings.TrimPrefix(base, "http://")
	pr := omsecrets(t, nil, "probe", "--http-addr", hostPort)
	assert.Equal(t, 0, pr.code, pr.stderr)
	assert.Contains(t, pr.stdout, "/readyz 200")
	pr = omsecrets(t, []string{"OMSECRETS_HTTP_ADDR=" + hostPort}, "probe", "live")
	assert.Equal(t, 0, pr.code, pr.stderr)
	code, metrics := get("/metrics")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, metrics, `omsecrets_store_calls_total{operation="batch",result="ok",store="aws"}`)
	assert.Contains(t, metrics, "omsecrets_ready 1")
	code, _ = get("/healthz")
	assert.Equal(t, http.StatusOK, code)

	cancel() // what SIGTERM does through signal.NotifyContext
	select {
	case c := <-done:
		assert.Equal(t, 0, c, stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatal("run did not stop")
	}
	pr = omsecrets(t, nil, "probe", "--http-addr", hostPort)
	assert.Equal(t, 1, pr.code, "nothing listens any more")
	printed := stdout.String() + stderr.String() + body + metrics
	assert.NotContains(t, printed, "PLANTED")
	assert.Contains(t, stderr.String(), "omsecrets stopped")
}

// TestCheckPipelines: check resolves IngestionPipelines the way run does
// (bot JWT, the service from OpenMetadata, assembly, every reference) and
// prints a line per reference; it writes nothing and prints no value.
func TestCheckPipelines(t *testing.T) {
	t.Parallel()
	om, srv := omWorld(t)
	defs := t.TempDir()
	good := filepath.Join(defs, "mysql_prod_metadata.json")
	gone := filepath.Join(defs, "gone.json")
	require.NoError(t, os.WriteFile(good, pipelineJSON(t, om, "mysql_prod_metadata", "mysql_prod"), 0o644))
	require.NoError(t, os.WriteFile(gone, pipelineJSON(t, om, "gone", "no_such_service"), 0o644))

	r := omsecrets(t, omEnv(om, srv), "check", good, gone)
	assert.Equal(t, 1, r.code, r.stderr)
	assert.Regexp(t, `mysql_prod_metadata\.json\s+source\.serviceConnection\.config\.authType\.password\s+secret:/openmetadata/database/mysql_prod/authtype/password\s+aws\s+ok`, r.stdout)
	assert.Regexp(t, `mysql_prod_metadata\.json\s+workflowConfig\.openMetadataServerConfig\.securityConfig\.jwtToken\s+secret:/openmetadata/bot/ingestion-bot/config/jwttoken\s+aws\s+ok`, r.stdout)
	assert.Regexp(t, `gone\.json\s+-\s+-\s+-\s+om_not_found`, r.stdout)
	assert.Contains(t, r.stderr, "no_such_service")
	assert.NotContains(t, r.stdout+r.stderr, "PLANTED")
	entries, err := os.ReadDir(defs)
	require.NoError(t, err)
	assert.Len(t, entries, 2, "check writes nothing")

	r = omsecrets(t, omEnv(om, srv), "check", good)
	assert.Equal(t, 0, r.code, r.stderr)
}

// TestResolveTakesPipelines: resolve takes IngestionPipelines and resolves
// them the way run --once does, into --out-dir (named after the pipeline's
// dag_id) or one --out file, with the OpenMetadata flags check takes too.
func TestResolveTakesPipelines(t *testing.T) {
	t.Parallel()
	om, srv := omWorld(t)
	defs := t.TempDir()
	def := filepath.Join(defs, "deployed-file-name.json")
	require.NoError(t, os.WriteFile(def, pipelineJSON(t, om, "mysql prod.metadata", "mysql_prod"), 0o644))

	out := t.TempDir()
	r := omsecrets(t, omEnv(om, srv), "resolve", "--out-dir", out, def)
	require.Equal(t, 0, r.code, r.stderr)
	data := readFile(t, filepath.Join(out, "mysql_prod_metadata.json"))
	assert.Contains(t, data, `"password": "PLANTED-pw"`)
	assert.Contains(t, data, `"ingestionPipelineFQN": "mysql_prod.mysql prod.metadata"`)
	schematest.RequireValid(t, "resolve of a pipeline", []byte(data))

	single := filepath.Join(t.TempDir(), "task.json")
	r = omsecrets(t, omEnv(om, srv), "resolve", "--out", single, "--om-timeout", "5s", def)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, data, readFile(t, single), "the same config, whichever way it is named")

	r = omsecrets(t, omEnv(om, srv), "resolve", "--redact", "--out", "-", def)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"password": "[redacted]"`)
	assert.NotContains(t, r.stdout+r.stderr, "PLANTED")
}

// omEnv is awsEnv with om allowed as the OpenMetadata host.
func omEnv(om *omtest.Server, srv *awstest.Server) []string {
	return append(awsEnv(srv), "OMSECRETS_OM_HOSTS="+om.URL())
}
