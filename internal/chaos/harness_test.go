package chaos

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"omsecrets/internal/daemon"
	"omsecrets/internal/status"
	"omsecrets/resolver/resolvertest"
)

// full is set by OMSECRETS_CHAOS=full (make chaos): full-size runs.
var full = os.Getenv("OMSECRETS_CHAOS") == "full"

// size returns short in the default mode and long in full mode.
func size[T any](short, long T) T {
	if full {
		return long
	}
	return short
}

// marker is in every secret value the tests plant, and nowhere else: not
// in ids, names or definitions. Finding it in anything omsecrets prints
// or serves is a leak.
var marker = "ZQXLEAK" + randomHex(6)

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// buildDir holds the binary; TestMain removes it.
var buildDir string

// buildOnce builds the omsecrets binary once per test binary, unless
// OMSECRETS_CHAOS_BIN names one to test instead (a release build, or a
// snapshot of a tree that is being edited).
var buildOnce = sync.OnceValues(func() (string, error) {
	if bin := os.Getenv("OMSECRETS_CHAOS_BIN"); bin != "" {
		return bin, nil
	}
	dir, err := os.MkdirTemp("", "omsecrets-chaos-")
	if err != nil {
		return "", err
	}
	buildDir = dir
	bin := filepath.Join(dir, "omsecrets")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "omsecrets/cmd/omsecrets")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v: %s", err, out)
	}
	return bin, nil
})

// TestMain raises -test.parallel, unless it was given, to 16: the tests
// spend their time waiting on subprocesses and timers, not on CPU, and at
// the default (GOMAXPROCS) the short mode would take minutes instead of
// about one.
func TestMain(m *testing.M) {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given {
		_ = flag.Set("test.parallel", "16")
	}
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// binary returns the omsecrets binary, building it on first use.
func binary(t *testing.T) string {
	t.Helper()
	bin, err := buildOnce()
	require.NoError(t, err)
	return bin
}

// tmpfsDir returns a new directory on tmpfs (/dev/shm), removed when the
// test ends, or a temporary directory on disk (with allowDisk true) where
// there is no /dev/shm.
func tmpfsDir(t *testing.T) (dir string, allowDisk bool) {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "omsecrets-chaos-")
	if err != nil {
		return t.TempDir(), true
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir, false
}

// freeAddr returns a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// proc is one omsecrets binary run as a subprocess, restartable: Start
// runs it again with the same arguments (and a new HTTP port), Kill sends
// SIGKILL. Everything every run printed is kept for the leak scan.
type proc struct {
	t    *testing.T
	args []string
	env  []string
	// wrap is a command prefix the binary runs under (e.g. unshare),
	// which must exec it so that the pid is the binary's.
	wrap []string

	stdout, stderr resolvertest.LogBuffer

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
	addr    string
	starts  int
	errMark int // length of stderr when the current run started
}

// newProc prepares `omsecrets <args> --http-addr <free port>`; it does not
// start it. The process is stopped when the test ends.
func newProc(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, args: args, env: append([]string{"HOME=" + t.TempDir()}, env...)}
	t.Cleanup(func() {
		if p.running() {
			_ = p.signal(syscall.SIGKILL)
			<-p.doneC()
		}
	})
	return p
}

// Start starts the binary; it must not be running.
func (p *proc) Start() {
	p.t.Helper()
	bin := binary(p.t)
	p.mu.Lock()
	defer p.mu.Unlock()
	require.Nil(p.t, p.cmd, "proc: Start while running")
	p.addr = freeAddr(p.t)
	p.errMark = len(p.stderr.String())
	argv := append(append(append([]string{}, p.wrap...), bin), p.args...)
	argv = append(argv, "--http-addr", p.addr)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = p.env
	cmd.Stdout = &p.stdout
	cmd.Stderr = &p.stderr
	require.NoError(p.t, cmd.Start())
	p.cmd = cmd
	p.starts++
	done := make(chan struct{})
	p.done = done
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		close(done)
	}()
}

func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *proc) doneC() chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

func (p *proc) signal(sig os.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return errors.New("not started")
	}
	return p.cmd.Process.Signal(sig)
}

// Pid is the running binary's pid, or -1 if it is not running.
func (p *proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return -1
	}
	return p.cmd.Process.Pid
}

// Kill sends SIGKILL and waits for the process to end.
func (p *proc) Kill() {
	p.t.Helper()
	require.NoError(p.t, p.signal(syscall.SIGKILL))
	<-p.doneC()
	p.mu.Lock()
	p.cmd = nil
	p.mu.Unlock()
}

// Stop sends SIGTERM and requires a clean exit (code 0) within 20 s.
func (p *proc) Stop() {
	p.t.Helper()
	require.NoError(p.t, p.signal(syscall.SIGTERM))
	select {
	case <-p.doneC():
	case <-time.After(20 * time.Second):
		p.t.Fatalf("omsecrets did not stop within 20 s of SIGTERM:\n%s", p.tail())
	}
	p.mu.Lock()
	err := p.waitErr
	p.cmd = nil
	p.mu.Unlock()
	require.NoError(p.t, err, "exit status after SIGTERM:\n%s", p.tail())
}

// exited reports whether the process ended on its own, and how.
func (p *proc) exited() (bool, error) {
	select {
	case <-p.doneC():
		p.mu.Lock()
		defer p.mu.Unlock()
		return true, p.waitErr
	default:
		return false, nil
	}
}

// tail is the end of standard error, for failure messages.
func (p *proc) tail() string {
	s := p.stderr.String()
	if len(s) > 4000 {
		s = "..." + s[len(s)-4000:]
	}
	return s
}

var httpClient = &http.Client{Timeout: 3 * time.Second}

func (p *proc) base() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return "http://" + p.addr
}

// get fetches path from the process's HTTP server.
func (p *proc) get(path string) (int, []byte, error) {
	resp, err := httpClient.Get(p.base() + path)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// WaitReady waits until /readyz answers 200, failing after d or if the
// process exits.
func (p *proc) WaitReady(d time.Duration) time.Duration {
	p.t.Helper()
	start := time.Now()
	for time.Since(start) < d {
		if ended, err := p.exited(); ended {
			p.mu.Lock()
			out := p.stderr.String()[p.errMark:]
			p.cmd = nil
			p.mu.Unlock()
			// freeAddr's port can be taken by another test's listener
			// before the binary binds it: start again on another.
			if strings.Contains(out, "address already in use") {
				p.Start()
				continue
			}
			p.t.Fatalf("omsecrets exited before ready (%v):\n%s", err, p.tail())
		}
		if code, _, err := p.get("/readyz"); err == nil && code == http.StatusOK {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatalf("omsecrets not ready within %v:\n%s", d, p.tail())
	return 0
}

// Status returns /status.
func (p *proc) Status() status.Snapshot {
	p.t.Helper()
	code, body, err := p.get("/status")
	require.NoError(p.t, err)
	require.Equal(p.t, http.StatusOK, code)
	var s status.Snapshot
	require.NoError(p.t, json.Unmarshal(body, &s))
	return s
}

// Metrics returns /metrics as a map from "name{labels}" (labels as
// printed) to value.
func (p *proc) Metrics() map[string]float64 {
	p.t.Helper()
	code, body, err := p.get("/metrics")
	require.NoError(p.t, err)
	require.Equal(p.t, http.StatusOK, code)
	return parseMetrics(body)
}

func parseMetrics(body []byte) map[string]float64 {
	m := make(map[string]float64)
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			m[line[:i]] = v
		}
	}
	return m
}

// sumMetric adds up every series of name whose labels contain all of
// labels (each as `key="value"`), e.g. sumMetric(m,
// "omsecrets_resolutions_total", `result="write_failed"`).
func sumMetric(m map[string]float64, name string, labels ...string) float64 {
	total := 0.0
	for k, v := range m {
		n, l, _ := strings.Cut(k, "{")
		if n != name {
			continue
		}
		ok := true
		for _, want := range labels {
			if !strings.Contains(l, want) {
				ok = false
			}
		}
		if ok {
			total += v
		}
	}
	return total
}

// procStatusKiB reads a "Name: N kB" field of /proc/<pid>/status.
func procStatusKiB(pid int, field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// openFDs counts /proc/<pid>/fd.
func openFDs(pid int) (int, error) {
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(entries), err
}

// sample is one reading of a process's resources.
type sample struct {
	at         time.Duration
	rssKiB     int64
	fds        int
	goroutines int
}

// Sample reads VmRSS, the open descriptors and go_goroutines (from
// /metrics).
func (p *proc) Sample(since time.Time) (sample, error) {
	pid := p.Pid()
	rss, err := procStatusKiB(pid, "VmRSS")
	if err != nil {
		return sample{}, err
	}
	fds, err := openFDs(pid)
	if err != nil {
		return sample{}, err
	}
	code, body, err := p.get("/metrics")
	if err != nil || code != http.StatusOK {
		return sample{}, fmt.Errorf("metrics: %d %v", code, err)
	}
	g, ok := parseMetrics(body)["go_goroutines"]
	if !ok {
		return sample{}, errors.New("metrics: no go_goroutines")
	}
	return sample{at: time.Since(since), rssKiB: rss, fds: fds, goroutines: int(g)}, nil
}

// freshness reads a <dag_id>.status file; ok is false if there is none.
func readFreshness(t *testing.T, path string) (daemon.Freshness, bool) {
	t.Helper()
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return daemon.Freshness{}, false
	}
	require.NoError(t, err)
	var f daemon.Freshness
	require.NoError(t, json.Unmarshal(data, &f), "status file %s: %s", path, data)
	return f, true
}

// tempFileName matches the sink's temporary files, ".<name>.tmp-<16 hex>"
// (sink.tempName).
var tempFileName = regexp.MustCompile(`^\..+\.tmp-[0-9a-f]{16}$`)

// tempFiles lists the sink's temporary files in dir with their ages.
func tempFiles(t *testing.T, dir string) map[string]time.Duration {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	out := make(map[string]time.Duration)
	for _, e := range entries {
		if !tempFileName.MatchString(e.Name()) {
			continue
		}
		if info, err := e.Info(); err == nil {
			out[e.Name()] = time.Since(info.ModTime())
		}
	}
	return out
}

// leakCheck scans what a process printed and served for planted values:
// the marker every planted value holds, and extra secrets (bot JWTs) that
// the test servers issued. Add every body fetched from the process with
// add; Check scans them with standard output and error.
type leakCheck struct {
	mu      sync.Mutex
	secrets []string
	bodies  map[string][]byte
}

func newLeakCheck(secrets ...string) *leakCheck {
	return &leakCheck{secrets: append([]string{marker}, secrets...), bodies: make(map[string][]byte)}
}

// add keeps body (the last one of each kind) for the scan.
func (l *leakCheck) add(what string, body []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bodies[what] = append(l.bodies[what][:0:0], body...)
}

// snapshot fetches /status and /metrics from p and keeps them, and every
// status file in outDir.
func (l *leakCheck) snapshot(t *testing.T, p *proc, outDir string) {
	t.Helper()
	for _, path := range []string{"/status", "/metrics"} {
		if _, body, err := p.get(path); err == nil {
			l.add(path, body)
		}
	}
	l.statusFiles(t, outDir)
}

// statusFiles keeps every status file in dir.
func (l *leakCheck) statusFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), daemon.StatusExt) {
			if data, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil {
				l.add("status file "+e.Name(), data)
			}
		}
	}
}

// Check fails the test if any secret is in what p printed or in a kept
// body, and returns how many bytes it scanned.
func (l *leakCheck) Check(t *testing.T, procs ...*proc) int {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	scanned := 0
	scan := func(what string, data []byte) {
		scanned += len(data)
		for _, s := range l.secrets {
			if i := bytes.Index(data, []byte(s)); i >= 0 {
				lo, hi := max(i-200, 0), min(i+200, len(data))
				t.Errorf("LEAK: a planted secret is in %s: ...%s...", what, strings.ReplaceAll(string(data[lo:hi]), s, "<SECRET>"))
			}
		}
	}
	for i, p := range procs {
		scan(fmt.Sprintf("stdout of proc %d", i), []byte(p.stdout.String()))
		scan(fmt.Sprintf("stderr of proc %d", i), []byte(p.stderr.String()))
	}
	for what, body := range l.bodies {
		scan(what, body)
	}
	return scanned
}

// waitFor polls cond every 50 ms until it returns true, and fails the test
// with msg after d.
func waitFor(t *testing.T, d time.Duration, msg string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if cond() {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("after %v: %s", d, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// eventually polls cond every 50 ms for up to d, and reports how long it
// took and whether cond became true.
func eventually(d time.Duration, cond func() bool) (time.Duration, bool) {
	start := time.Now()
	for {
		if cond() {
			return time.Since(start), true
		}
		if time.Since(start) > d {
			return time.Since(start), false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// writeAtomic writes data to path through a hidden temp file and a
// rename, as Kubernetes and editors do.
func writeAtomic(path string, data []byte) error {
	tmp := filepath.Join(filepath.Dir(path), ".chaos-"+randomHex(4)+"-"+filepath.Base(path))
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// logLines parses the JSON log lines in s; lines that are not JSON are
// skipped.
func logLines(s string) []map[string]any {
	var out []map[string]any
	for line := range strings.SplitSeq(s, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// mountNS returns a command prefix that runs a command in a private mount
// namespace after running setup (sh code; "$1".. are setupArgs), then
// execs it: `unshare -m` as root, else `unshare -r -m` (a user namespace).
func mountNS(t *testing.T, setup string, setupArgs ...string) []string {
	t.Helper()
	flags := []string{"-m"}
	if os.Geteuid() != 0 {
		flags = []string{"-r", "-m"}
	}
	// Probe once: the sandbox may refuse namespaces.
	probe := exec.Command("unshare", append(flags, "--", "true")...)
	out, err := probe.CombinedOutput()
	require.NoError(t, err, "unshare %v: %s: this test needs a private mount namespace (root, or unprivileged user namespaces)", flags, out)
	script := setup + ` && shift ` + strconv.Itoa(len(setupArgs)) + ` && exec "$@"`
	return append(append(append([]string{"unshare"}, flags...), "--", "sh", "-c", script, "sh"), setupArgs...)
}
