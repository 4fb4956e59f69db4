package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"omsecrets/resolver/resolvertest"
)

// daemonRun is `omsecrets run` in-process, its HTTP server on a free
// port; startDaemon starts it.
type daemonRun struct {
	base           string // http://host:port
	stdout, stderr *resolvertest.LogBuffer
	cancel         context.CancelFunc
	done           chan int
}

// httpAddrLine finds the address run logs its HTTP server on (JSON logs).
var httpAddrLine = regexp.MustCompile(`"http":"([0-9.:]+)"`)

// startDaemon runs `omsecrets run args... --http-addr 127.0.0.1:0
// --log-format json` with environ until the test ends or stop, and
// returns once its HTTP address is known.
func startDaemon(t *testing.T, environ []string, args ...string) *daemonRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemonRun{stdout: &resolvertest.LogBuffer{}, stderr: &resolvertest.LogBuffer{}, cancel: cancel, done: make(chan int, 1)}
	args = append(append([]string{"run"}, args...), "--http-addr", "127.0.0.1:0", "--log-format", "json")
	go func() { d.done <- run(ctx, args, environ, d.stdout, d.stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-d.done:
		case <-time.After(20 * time.Second):
		}
	})
	require.Eventually(t, func() bool {
		m := httpAddrLine.FindStringSubmatch(d.stderr.String())
		if m != nil {
			d.base = "http://" + m[1]
		}
		return m != nil
	}, 20*time.Second, 10*time.Millisecond, d.stderr.String())
	return d
}

// get asks the daemon's HTTP server for path: its status code and body
// (0 and the error when it did not answer).
func (d *daemonRun) get(path string) (int, string) {
	resp, err := http.Get(d.base + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitReady waits for /readyz to answer 200.
func (d *daemonRun) waitReady(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool { c, _ := d.get("/readyz"); return c == http.StatusOK }, 30*time.Second, 10*time.Millisecond, d.stderr.String())
}

// stop cancels the run, as SIGTERM does, and returns its exit code.
func (d *daemonRun) stop(t *testing.T) int {
	t.Helper()
	d.cancel()
	select {
	case c := <-d.done:
		d.done <- c // for Cleanup
		return c
	case <-time.After(20 * time.Second):
		t.Fatal("run did not stop")
		return -1
	}
}

// result is what one in-process run printed and returned.
type result struct {
	code           int
	stdout, stderr string
}

// omsecrets runs the command in-process with environ as its whole
// environment.
func omsecrets(t *testing.T, environ []string, args ...string) result {
	t.Helper()
	return omsecretsCtx(t, context.Background(), environ, args...)
}

// omsecretsCtx is omsecrets with a context: cancelling it is what SIGTERM
// does to the command.
func omsecretsCtx(t *testing.T, ctx context.Context, environ []string, args ...string) result {
	t.Helper()
	environ = withPolicy(environ)
	var out, errb bytes.Buffer
	code := run(ctx, args, environ, &out, &errb)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// fixtureHost is the OpenMetadata host of the fixtures' workflow configs.
const fixtureHost = "http://om:8585"

// withPolicy adds the trust policy the fixtures need, OMSECRETS_OM_HOSTS
// allowing fixtureHost, unless environ sets one: the tests of the policy
// set their own.
func withPolicy(environ []string) []string {
	for _, kv := range environ {
		if strings.HasPrefix(kv, "OMSECRETS_OM_HOSTS=") {
			return environ
		}
	}
	return append(slices.Clone(environ), "OMSECRETS_OM_HOSTS="+fixtureHost)
}

// writeFiles creates files (relative path → content) under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	}
}

// tmpfsDir returns a fresh directory on tmpfs, or skips the test where
// there is none.
func tmpfsDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "omsecrets-test-")
	if err != nil {
		t.Skipf("no /dev/shm here (%v): this test needs a tmpfs directory", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// workflowConfig is a valid mysql workflow config with the given password
// and bot JWT values (references or text).
func workflowConfig(password, jwt string) string {
	return `source:
  type: mysql
  serviceName: mysql_prod
  serviceConnection:
    config:
      type: Mysql
      username: reader
      authType:
        password: "` + password + `"
      hostPort: db:3306
  sourceConfig:
    config:
      type: DatabaseMetadata
sink:
  type: metadata-rest
  config: {}
workflowConfig:
  openMetadataServerConfig:
    hostPort: http://om:8585/api
    authProvider: openmetadata
    securityConfig:
      jwtToken: "` + jwt + `"
    secretsManagerProvider: aws
`
}

// dirNames lists the names in dir, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names
}

// readFile returns the contents of path.
func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(data)
}
