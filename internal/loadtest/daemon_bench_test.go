package loadtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"omsecrets/internal/testbed/awstest"
	"omsecrets/internal/testbed/omtest"
	"omsecrets/resolver/resolvertest"
)

// buildOnce builds the omsecrets binary the daemon benchmarks run.
var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "omsecrets-load-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "omsecrets")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "omsecrets/cmd/omsecrets")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v: %s", err, out)
	}
	return bin, nil
})

// daemonWorld is an OpenMetadata test server with `services` database
// services, an AWS test server with the bot JWT and their passwords, and
// the omsecrets binary running `run` over a definitions dir and a tmpfs
// output dir.
type daemonWorld struct {
	b        *testing.B
	om       *omtest.Server
	aws      *awstest.Server
	defs     string
	out      string
	cmd      *exec.Cmd
	httpBase string
	stderr   *resolvertest.LogBuffer
}

func newDaemonWorld(b *testing.B, args ...string) *daemonWorld {
	b.Helper()
	bin, err := buildOnce()
	if err != nil {
		b.Fatal(err)
	}
	w := &daemonWorld{b: b, om: omtest.New(b), aws: awstest.New(b), defs: b.TempDir(), stderr: &resolvertest.LogBuffer{}}
	w.aws.PutSecret("/openmetadata/bot/ingestion-bot/config/jwttoken", w.om.BotToken("ingestion-bot"))
	for s := range services {
		name := fmt.Sprintf("svc_%02d", s)
		id := "/openmetadata/database/" + name + "/authtype/password"
		w.aws.PutSecret(id, "pw-"+name)
		w.om.PutService("databaseService", omtest.ServiceEntity(name, "Mysql", map[string]any{
			"username": "reader", "authType": map[string]any{"password": "secret:" + id}, "hostPort": name + ":3306",
		}))
	}
	w.out, err = os.MkdirTemp("/dev/shm", "omsecrets-load-out-")
	if err != nil {
		w.out = b.TempDir() // no tmpfs: --allow-disk below
	} else {
		b.Cleanup(func() { _ = os.RemoveAll(w.out) })
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	w.httpBase = "http://" + addr

	args = append([]string{"run", "--watch-dirs", w.defs, "--out-dir", w.out, "--allow-disk", "--http-addr", addr, "--log-level", "warn"}, args...)
	w.cmd = startBinary(b, bin, args, w.aws, w.om, w.stderr)
	w.waitReady()
	// With no definitions at start the daemon is ready at once, but its
	// workers wait out the start jitter (--start-jitter, default 1s)
	// before the first batch: measure after it, as a sidecar in its
	// steady state.
	time.Sleep(1100 * time.Millisecond)
	b.ResetTimer() // the build and start-up are not what is measured
	return w
}

// startBinary starts bin with args, talking to aws and om, its standard
// error into stderr; it is stopped (SIGINT) when the benchmark ends.
func startBinary(b *testing.B, bin string, args []string, aws *awstest.Server, om *omtest.Server, stderr *resolvertest.LogBuffer) *exec.Cmd {
	b.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{
		"AWS_REGION=" + aws.Region, "AWS_ACCESS_KEY_ID=" + aws.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + aws.SecretKey, "AWS_ENDPOINT_URL=" + aws.URL(),
		"HOME=" + b.TempDir(), "OMSECRETS_OM_HOSTS=" + om.URL(),
	}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	return cmd
}

func (w *daemonWorld) waitReady() {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(w.httpBase + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	w.b.Fatalf("daemon not ready: %s", w.stderr.String())
}

// pipeline is pipeline i's IngestionPipeline JSON, as OpenMetadata deploys it.
func (w *daemonWorld) pipeline(name string, i int) []byte {
	return pipelineJSON(w.om.URL(), name, fmt.Sprintf("svc_%02d", i%services), "aws", true)
}

// pipelineJSON is an IngestionPipeline of service svc as OpenMetadata
// deploys it, its bot JWT a reference in store provider.
func pipelineJSON(omURL, name, svc, provider string, indent bool) []byte {
	p := map[string]any{
		"name": name, "pipelineType": "metadata", "fullyQualifiedName": svc + "." + name,
		"sourceConfig": map[string]any{"config": map[string]any{"type": "DatabaseMetadata"}},
		"openMetadataServerConnection": map[string]any{
			"hostPort": omURL, "authProvider": "openmetadata",
			"securityConfig":         map[string]any{"jwtToken": "secret:/openmetadata/bot/ingestion-bot/config/jwttoken"},
			"secretsManagerProvider": provider,
		},
		"service":     map[string]any{"type": "databaseService", "name": svc, "fullyQualifiedName": svc},
		"loggerLevel": "INFO",
	}
	if indent {
		b, _ := json.MarshalIndent(p, "", "  ")
		return b
	}
	b, _ := json.Marshal(p)
	return b
}

// outputs reports, per output name, when it first appeared.
type outputs struct {
	mu   sync.Mutex
	seen map[string]time.Time
	w    *fsnotify.Watcher
}

func (w *daemonWorld) watchOutputs() *outputs {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		w.b.Fatal(err)
	}
	if err := fw.Add(w.out); err != nil {
		w.b.Fatal(err)
	}
	o := &outputs{seen: map[string]time.Time{}, w: fw}
	go func() {
		for ev := range fw.Events {
			if ev.Has(fsnotify.Create) && !strings.HasPrefix(filepath.Base(ev.Name), ".") {
				now := time.Now()
				o.mu.Lock()
				if _, ok := o.seen[filepath.Base(ev.Name)]; !ok {
					o.seen[filepath.Base(ev.Name)] = now
				}
				o.mu.Unlock()
			}
		}
	}()
	w.b.Cleanup(func() { fw.Close() })
	return o
}

func (o *outputs) at(name string) (time.Time, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	t, ok := o.seen[name]
	return t, ok
}

func (o *outputs) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.seen)
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p)
	return s[i]
}

func reportLatency(b *testing.B, lat []time.Duration) {
	b.ReportMetric(float64(percentile(lat, 0.50))/1e6, "p50-ms")
	b.ReportMetric(float64(percentile(lat, 0.99))/1e6, "p99-ms")
	b.ReportMetric(float64(slices.Max(lat))/1e6, "max-ms")
}

// BenchmarkDaemonLatency1 writes definitions one at a time, each after the
// previous one's output appeared, and reports the latency from the write
// to the output file, with the default 300 ms quiet period (which it
// includes: the watcher waits that long for a writer to finish).
func BenchmarkDaemonLatency1(b *testing.B) {
	latencyOne(b, newDaemonWorld(b))
}

// BenchmarkDaemonLatency1Quiet20ms is BenchmarkDaemonLatency1 with a 20 ms
// quiet period: what the pipeline itself costs.
func BenchmarkDaemonLatency1Quiet20ms(b *testing.B) {
	latencyOne(b, newDaemonWorld(b, "--watch-quiet", "20ms"))
}

func latencyOne(b *testing.B, w *daemonWorld) {
	o := w.watchOutputs()
	const rounds = 30
	var lat []time.Duration
	for k := range rounds {
		name := fmt.Sprintf("single_%03d", k)
		start := time.Now()
		if err := os.WriteFile(filepath.Join(w.defs, name+".json"), w.pipeline(name, k), 0o644); err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			if t, ok := o.at(name + ".json"); ok {
				lat = append(lat, t.Sub(start))
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("no output for %s: %s", name, w.stderr.String())
			}
			time.Sleep(time.Millisecond)
		}
	}
	reportLatency(b, lat)
}

// BenchmarkDaemonLatency500 writes 500 definitions at once and reports the
// latency from each write to its output; then, with the 500 held, the
// daemon's idle CPU over 10 s and its resident memory.
func BenchmarkDaemonLatency500(b *testing.B) {
	w := newDaemonWorld(b)
	o := w.watchOutputs()
	const n = 500
	written := make([]time.Time, n)
	for i := range n {
		name := fmt.Sprintf("p_%03d", i)
		written[i] = time.Now()
		if err := os.WriteFile(filepath.Join(w.defs, name+".json"), w.pipeline(name, i), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	lat := make([]time.Duration, n)
	for i := range n {
		// Each output by name: the directory also gets .status files.
		for {
			if t, ok := o.at(fmt.Sprintf("p_%03d.json", i)); ok {
				lat[i] = t.Sub(written[i])
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("%d files seen, p_%03d.json not among them: %s", o.count(), i, w.stderr.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	reportLatency(b, lat)

	// Idle: nothing changes; the daemon holds 500 definitions. RSS right
	// after the pass, and once the idle daemon has given its binary's
	// pages back (15 s after its last batch; internal/pageout).
	passEnd := time.Now()
	time.Sleep(2 * time.Second)
	pid := w.cmd.Process.Pid
	b.ReportMetric(float64(rssKiB(b, pid))/1024, "rss-after-pass-MiB")
	t0, c0 := time.Now(), cpuTicks(b, pid)
	time.Sleep(10 * time.Second)
	t1, c1 := time.Now(), cpuTicks(b, pid)
	const hz = 100 // USER_HZ on Linux
	b.ReportMetric(float64(c1-c0)/hz/t1.Sub(t0).Seconds()*100, "idle-cpu-%")
	time.Sleep(time.Until(passEnd.Add(20 * time.Second)))
	b.ReportMetric(float64(rssKiB(b, pid))/1024, "rss-MiB")
	if strings.Contains(w.stderr.String(), "level=ERROR") {
		b.Fatalf("daemon reported errors: %s", w.stderr.String())
	}
}

// cpuTicks is utime+stime of pid from /proc/<pid>/stat.
func cpuTicks(b *testing.B, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the ")" that ends the command name; utime and stime
	// are fields 14 and 15 of the whole line.
	rest := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	u, _ := strconv.ParseInt(rest[11], 10, 64)
	s, _ := strconv.ParseInt(rest[12], 10, 64)
	return u + s
}

// rssKiB is VmRSS of pid from /proc/<pid>/status.
func rssKiB(b *testing.B, pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
