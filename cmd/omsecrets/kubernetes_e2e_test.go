package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"omsecrets/internal/testbed/kubetest"
	"omsecrets/internal/testbed/omtest"
	"omsecrets/resolver/resolvertest"
)

const (
	k8sJWT = "openmetadata-bot-ingestion-bot-config-jwttoken"
	k8sPW  = "openmetadata-database-mysql-prod-authtype-password"
)

// k8sWorld is a namespace of a real kube-apiserver holding the bot JWT
// and the service password as OpenMetadata's kubernetes secrets manager
// names them, a user allowed get and watch on exactly those two Secrets,
// and an OpenMetadata whose pipeline uses the kubernetes provider.
type k8sWorld struct {
	c    *kubetest.Cluster
	ns   string
	om   *omtest.Server
	env  []string
	defs string
}

func newK8sWorld(t *testing.T, c *kubetest.Cluster) *k8sWorld {
	t.Helper()
	w := &k8sWorld{c: c, ns: c.Namespace(t), om: omtest.New(t), defs: t.TempDir()}
	c.PutValue(t, w.ns, k8sJWT, w.om.BotToken("ingestion-bot"))
	c.PutValue(t, w.ns, k8sPW, "PLANTED-k8s-pw-0")
	alice := c.User("alice")
	c.Grant(t, w.ns, alice, []string{"get", "watch"}, k8sJWT, k8sPW)
	w.om.PutService("databaseService", omtest.ServiceEntity("mysql_prod", "Mysql", map[string]any{
		"username": "reader", "authType": map[string]any{"password": "secret:" + k8sPW}, "hostPort": "mysql:3306",
	}))
	w.env = append(c.Env(t, alice, w.ns), "OMSECRETS_OM_HOSTS="+w.om.URL())
	def := strings.NewReplacer(
		"/openmetadata/bot/ingestion-bot/config/jwttoken", k8sJWT,
		`"secretsManagerProvider":"aws"`, `"secretsManagerProvider":"kubernetes"`,
	).Replace(string(pipelineJSON(t, w.om, "mysql_prod_metadata", "mysql_prod")))
	require.NoError(t, os.WriteFile(filepath.Join(w.defs, "mysql_prod_metadata.json"), []byte(def), 0o644))
	return w
}

// daemon runs omsecrets run in-process over w with a one-hour refresh, so
// that only the Secrets' watches can bring changes in time.
type k8sDaemon struct {
	cancel         context.CancelFunc
	done           chan int
	stdout, stderr *resolvertest.LogBuffer
	base, output   string
}

func (w *k8sWorld) run(t *testing.T) *k8sDaemon {
	t.Helper()
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	d := &k8sDaemon{cancel: cancel, done: make(chan int, 1), stdout: &resolvertest.LogBuffer{}, stderr: &resolvertest.LogBuffer{},
		output: filepath.Join(out, "mysql_prod_metadata.json")}
	go func() {
		d.done <- run(ctx, []string{"run", "--watch-dirs", w.defs, "--out-dir", out, "--allow-disk", "--http-addr", "127.0.0.1:0",
			"--refresh-interval", "1h", "--watch-quiet", "20ms", "--log-format", "json"}, withPolicy(w.env), d.stdout, d.stderr)
	}()
	t.Cleanup(d.stop)
	addr := regexp.MustCompile(`"http":"([0-9.:]+)"`)
	require.Eventually(t, func() bool {
		if m := addr.FindStringSubmatch(d.stderr.String()); m != nil {
			d.base = "http://" + m[1]
		}
		return d.base != ""
	}, 20*time.Second, 10*time.Millisecond)
	return d
}

func (d *k8sDaemon) stop() {
	d.cancel()
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
	}
}

func (d *k8sDaemon) password(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(d.output)
	if err != nil {
		return ""
	}
	return outputPassword(b)
}

func outputPassword(b []byte) string {
	var doc struct {
		Source struct {
			ServiceConnection struct {
				Config struct {
					AuthType struct{ Password string } `json:"authType"`
				}
			} `json:"serviceConnection"`
		}
	}
	if json.Unmarshal(b, &doc) != nil {
		return ""
	}
	return doc.Source.ServiceConnection.Config.AuthType.Password
}

func (d *k8sDaemon) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := http.Get(d.base + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestKubernetesEndToEnd: resolve, check and run --once read the
// pipeline's Secrets; run with a one-hour refresh follows Secret updates
// through its watches (p99 under 2 s), keeps the last good output marked
// stale when the Secret is deleted, and prints no value anywhere.
func TestKubernetesEndToEnd(t *testing.T) {
	t.Parallel()
	c := kubetest.Shared(t)
	w := newK8sWorld(t, c)
	def := filepath.Join(w.defs, "mysql_prod_metadata.json")
	var printed strings.Builder

	out := t.TempDir()
	r := omsecrets(t, w.env, "resolve", "--allow-disk", "--out-dir", out, def)
	require.Equal(t, 0, r.code, r.stderr)
	printed.WriteString(r.stdout + r.stderr)
	assert.Equal(t, "PLANTED-k8s-pw-0", outputPassword([]byte(readFile(t, filepath.Join(out, "mysql_prod_metadata.json")))))
	r = omsecrets(t, w.env, "check", def)
	require.Equal(t, 0, r.code, r.stderr)
	printed.WriteString(r.stdout + r.stderr)
	assert.Regexp(t, `secret:`+k8sPW+`\s+kubernetes\s+ok`, r.stdout)
	r = omsecrets(t, w.env, "run", "--once", "--allow-disk", "--out-dir", t.TempDir(), w.defs)
	require.Equal(t, 0, r.code, r.stderr)
	printed.WriteString(r.stdout + r.stderr)
	for _, req := range c.Requests(t, w.ns) {
		assert.NotEqual(t, "watch", req.Verb, "one-shot commands open no watch: %+v", req)
	}

	d := w.run(t)
	require.Eventually(t, func() bool { return d.password(t) == "PLANTED-k8s-pw-0" }, 30*time.Second, 20*time.Millisecond, d.stderr.String())
	var lat []time.Duration
	for i := 1; i <= 20; i++ {
		want := "PLANTED-k8s-pw-" + string(rune('a'+i))
		start := time.Now()
		c.PutValue(t, w.ns, k8sPW, want)
		require.Eventually(t, func() bool { return d.password(t) == want }, 10*time.Second, 5*time.Millisecond, "update %d", i)
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[len(lat)-1]
	t.Logf("kubernetes: Secret update to output, 20 updates, refresh 1h: p50 %s, p99 (max) %s", p50.Round(time.Millisecond), p99.Round(time.Millisecond))
	assert.Less(t, p99, 2*time.Second)
	assert.GreaterOrEqual(t, c.Count(t, w.ns, "watch", k8sPW, "alice"), 1, "the store watches the Secret it read")

	// Deleted: the last good output stays, marked stale.
	last := d.password(t)
	c.DeleteSecret(t, w.ns, k8sPW)
	require.Eventually(t, func() bool {
		return strings.Contains(readFile(t, strings.TrimSuffix(d.output, ".json")+".status"), `"state": "stale"`)
	}, 10*time.Second, 20*time.Millisecond, "the deletion reaches the status file")
	assert.Equal(t, last, d.password(t), "the last good output stays")
	status := d.get(t, "/status")
	assert.Contains(t, status, `"class": "not_found"`)
	printed.WriteString(status + d.get(t, "/metrics"))
	d.stop()
	printed.WriteString(d.stdout.String() + d.stderr.String())
	for _, v := range []string{"PLANTED", w.om.BotToken("ingestion-bot"), c.User("alice").Token} {
		assert.NotContains(t, printed.String(), v)
	}
}

// TestKubernetesAPIServerRestart: the API server restarts while run holds
// outputs; a Secret changed while it was down reaches the output after it
// is back, through the resumed watch, with a one-hour refresh.
func TestKubernetesAPIServerRestart(t *testing.T) {
	c := kubetest.Start(t) // its own: Restart stops the server under it
	w := newK8sWorld(t, c)
	d := w.run(t)
	require.Eventually(t, func() bool { return d.password(t) == "PLANTED-k8s-pw-0" }, 30*time.Second, 20*time.Millisecond, d.stderr.String())
	c.Restart(t, func(admin kubernetes.Interface) {
		_, err := admin.CoreV1().Secrets(w.ns).Update(context.Background(), &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: k8sPW, Namespace: w.ns},
			Data:       map[string][]byte{"value": []byte("PLANTED-k8s-pw-while-down")},
		}, metav1.UpdateOptions{})
		require.NoError(t, err)
	})
	back := time.Now()
	require.Eventually(t, func() bool { return d.password(t) == "PLANTED-k8s-pw-while-down" }, 60*time.Second, 20*time.Millisecond, d.stderr.String())
	t.Logf("kubernetes: a change made while the API server was down reached the output %s after it was back", time.Since(back).Round(time.Millisecond))
	c.PutValue(t, w.ns, k8sPW, "PLANTED-k8s-pw-after")
	require.Eventually(t, func() bool { return d.password(t) == "PLANTED-k8s-pw-after" }, 10*time.Second, 10*time.Millisecond, "the watch works after the restart")
	d.stop()
	assert.NotContains(t, d.stdout.String()+d.stderr.String(), "PLANTED")
}
