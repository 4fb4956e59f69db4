package chaos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/daemon"
	"omsecrets/internal/testbed/awstest"
	"omsecrets/internal/testbed/omtest"
)

// Host names the faults world resolves through its own /etc/hosts, bound
// over the real one in the process's mount namespace: removing a line is
// a DNS failure (the bound resolv.conf names a resolver that is not there).
const (
	omHostName  = "om.chaos.test"
	awsHostName = "aws.chaos.test"
)

// faultWorld is IngestionPipeline definitions whose services come from an
// OpenMetadata test server (plain HTTP behind a proxy, by host name, or
// HTTPS behind a proxy) and whose secrets (bot JWT, service passwords) are
// in an AWS test server behind a proxy, by host name, with `omsecrets run`
// over them in a mount namespace of its own.
type faultWorld struct {
	t        *testing.T
	om       *omtest.Server
	aws      *awstest.Server
	omProxy  *proxy
	awsProxy *proxy
	hosts    string // the hosts file bound over /etc/hosts
	defs     string
	out      string
	p        *proc
	leaks    *leakCheck
	tls      bool
	hostPort string

	mu        sync.Mutex
	pipelines []string          // pipeline names (= output names without .json)
	service   map[string]string // pipeline -> service
	password  map[string]string // service -> current password
	gen       int
}

// newFaultWorld builds the world with n pipelines; with tls, OpenMetadata
// serves HTTPS with a CA given to omsecrets by --om-ca-file, reached at
// 127.0.0.1 (its certificate's name).
func newFaultWorld(t *testing.T, n int, tls bool, refresh string) *faultWorld {
	t.Helper()
	var opts []omtest.Option
	if tls {
		opts = append(opts, omtest.TLS())
	}
	fw := &faultWorld{
		t: t, om: omtest.New(t, opts...), aws: awstest.New(t), defs: t.TempDir(), tls: tls,
		service: map[string]string{}, password: map[string]string{},
	}
	fw.out, _ = tmpfsDir(t)
	fw.omProxy = newProxy(t, strings.TrimPrefix(strings.TrimPrefix(strings.TrimSuffix(fw.om.URL(), "/api"), "http://"), "https://"))
	fw.awsProxy = newProxy(t, strings.TrimPrefix(fw.aws.URL(), "http://"))
	_, port, _ := strings.Cut(fw.omProxy.addr, ":")
	if tls {
		fw.hostPort = "https://127.0.0.1:" + port
	} else {
		fw.hostPort = "http://" + omHostName + ":" + port
	}
	bot := fw.om.BotToken("ingestion-bot")
	fw.leaks = newLeakCheck(bot, fw.aws.SecretKey)
	fw.aws.PutSecret("/chaos/bot/jwt", bot)

	fw.add(n)

	dir := t.TempDir()
	fw.hosts = filepath.Join(dir, "hosts")
	fw.setHosts(true, true)
	resolv := filepath.Join(dir, "resolv.conf")
	require.NoError(t, os.WriteFile(resolv, []byte("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"), 0o644))
	_, awsPort, _ := strings.Cut(fw.awsProxy.addr, ":")
	args := append([]string{"run", "--watch-dirs", fw.defs, "--out-dir", fw.out, "--log-format", "json",
		"--refresh-interval", refresh, "--timeout", "2s", "--om-timeout", "1s", "--watch-quiet", "20ms"},
		policyArgs(fw.hostPort)...)
	if !strings.HasPrefix(fw.out, "/dev/shm") {
		args = append(args, "--allow-disk")
	}
	if tls {
		ca := filepath.Join(dir, "ca.pem")
		require.NoError(t, os.WriteFile(ca, fw.om.CAPEM(), 0o644))
		args = append(args, "--om-ca-file", ca)
	}
	fw.p = newProc(t, awsEnv(fw.aws, "http://"+awsHostName+":"+awsPort), args...)
	fw.p.wrap = mountNS(t, `mount --bind "$1" /etc/hosts && mount --bind "$2" /etc/resolv.conf`, fw.hosts, resolv)
	return fw
}

// add adds n pipelines, each with a service of its own whose password is
// in AWS.
func (fw *faultWorld) add(n int) {
	var added []string
	for range n {
		k := len(fw.pipelines)
		name := fmt.Sprintf("pipe_%04d", k)
		svc := fmt.Sprintf("svc_%04d", k)
		fw.om.PutService("databaseService", omtest.ServiceEntity(svc, "Mysql", map[string]any{
			"username": "reader", "hostPort": svc + ".internal:3306",
			"authType": map[string]any{"password": "secret:/chaos/svc/" + svc + "/password"},
		}))
		fw.mu.Lock()
		fw.pipelines = append(fw.pipelines, name)
		fw.service[name] = svc
		fw.mu.Unlock()
		added = append(added, name)
	}
	fw.rotate(added)
	for _, name := range added {
		require.NoError(fw.t, os.WriteFile(filepath.Join(fw.defs, name+".json"), fw.pipeline(name, fw.service[name]), 0o644))
	}
}

// setHosts writes the hosts file with or without each name, in place
// (the bind mount holds the inode). Go's resolver rereads it within 5 s.
func (fw *faultWorld) setHosts(om, aws bool) {
	var b strings.Builder
	b.WriteString("127.0.0.1 localhost\n")
	if om {
		b.WriteString("127.0.0.1 " + omHostName + "\n")
	}
	if aws {
		b.WriteString("127.0.0.1 " + awsHostName + "\n")
	}
	require.NoError(fw.t, os.WriteFile(fw.hosts, []byte(b.String()), 0o644))
}

func (fw *faultWorld) pipeline(name, svc string) []byte {
	p := map[string]any{
		"name": name, "pipelineType": "metadata", "fullyQualifiedName": svc + "." + name,
		"sourceConfig": map[string]any{"config": map[string]any{"type": "DatabaseMetadata"}},
		"openMetadataServerConnection": map[string]any{
			"hostPort": fw.hostPort + "/api", "authProvider": "openmetadata",
			"securityConfig":         map[string]any{"jwtToken": "secret:/chaos/bot/jwt"},
			"secretsManagerProvider": "aws",
		},
		"service":     map[string]any{"type": "databaseService", "name": svc, "fullyQualifiedName": svc},
		"loggerLevel": "INFO",
	}
	b, err := json.MarshalIndent(p, "", "  ")
	require.NoError(fw.t, err)
	return b
}

// rotate stores a new password for the services of pipelines, directly in
// the AWS server (whatever faults its front is answering with).
func (fw *faultWorld) rotate(pipelines []string) {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	fw.gen++
	for _, name := range pipelines {
		svc := fw.service[name]
		v := fmt.Sprintf("%s-pw-%s-g%d", marker, svc, fw.gen)
		fw.password[svc] = v
		fw.aws.PutSecret("/chaos/svc/"+svc+"/password", v)
	}
}

// outputPassword reads the password in a pipeline's output.
func outputPassword(data []byte) (string, error) {
	var doc struct {
		Source struct {
			ServiceConnection struct {
				Config struct {
					AuthType struct {
						Password string `json:"password"`
					} `json:"authType"`
				} `json:"config"`
			} `json:"serviceConnection"`
		} `json:"source"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return "", err
	}
	return doc.Source.ServiceConnection.Config.AuthType.Password, nil
}

// currentSince reports whether every pipeline's output holds its current
// password and its status file says current, resolved at or after since.
func (fw *faultWorld) currentSince(since time.Time) (bool, string) {
	for _, name := range fw.pipelines {
		data, err := os.ReadFile(filepath.Join(fw.out, name+".json"))
		if err != nil {
			return false, fmt.Sprintf("%s: %v", name, err)
		}
		pw, err := outputPassword(data)
		if err != nil {
			return false, fmt.Sprintf("%s: output does not parse: %v", name, err)
		}
		fw.mu.Lock()
		want := fw.password[fw.service[name]]
		fw.mu.Unlock()
		if pw != want {
			return false, name + ": output holds an older password"
		}
		st, ok := readFreshness(fw.t, filepath.Join(fw.out, name+daemon.StatusExt))
		if !ok || st.State != daemon.StateCurrent || st.ResolvedAt == nil || st.ResolvedAt.Before(since) {
			return false, fmt.Sprintf("%s: status %+v", name, st)
		}
	}
	return true, ""
}

// dnsSettle waits until omsecrets' resolver has reread the hosts file
// (Go's resolver caches it for 5 s), then resets the connections its pool
// holds, which do not need a lookup: keep-alive would hide the failure
// for as long as they are reused, and servers do close idle connections.
func dnsSettle(px *proxy) {
	time.Sleep(5500 * time.Millisecond)
	px.dropAll()
}

// faultResult is one row of the summary table.
type faultResult struct {
	scenario, target string
	rounds           int
	injected         int // faulty answers or connections the injector made (-1: not countable there)
	seen             int // failed OpenMetadata requests or store calls omsecrets counted
	classes          []string
	toStale          time.Duration
	recovered        time.Duration
	ok               bool
}

// scenario is one fault: inject and heal it, and count what it did at its
// end (injected: -1 when the injector cannot count).
type scenario struct {
	name, target string
	inject, heal func()
	count        func() int
	classes      []string // outcome classes allowed while it lasts
}

// run injects sc, requires every output to stay as it was while marked
// stale with an allowed class, rotates the passwords meanwhile, heals, and
// requires every output to carry the new passwords, current, without a
// restart.
func (fw *faultWorld) run(sc scenario, rounds int) faultResult {
	t := fw.t
	t.Helper()
	res := faultResult{scenario: sc.name, target: sc.target, rounds: rounds, ok: true}
	var toStale, recovered []time.Duration
	classes := map[string]bool{}
	for range rounds {
		if _, ok := eventually(20*time.Second, func() bool { ok, _ := fw.currentSince(time.Time{}); return ok }); !ok {
			_, msg := fw.currentSince(time.Time{})
			t.Fatalf("%s: not all current before the fault: %s\n%s", sc.name, msg, fw.p.tail())
		}
		kept := map[string][]byte{}
		for _, name := range fw.pipelines {
			kept[name], _ = os.ReadFile(filepath.Join(fw.out, name+".json"))
		}
		before := fw.p.Metrics()
		before0 := 0
		if sc.count != nil {
			before0 = sc.count()
		}
		sc.inject()
		took, ok := eventually(30*time.Second, func() bool {
			for _, name := range fw.pipelines {
				st, ok := readFreshness(t, filepath.Join(fw.out, name+daemon.StatusExt))
				if !ok || st.State != daemon.StateStale {
					return false
				}
			}
			return true
		})
		if !assert.True(t, ok, "%s: outputs not marked stale within 30 s of the fault:\n%s", sc.name, fw.p.tail()) {
			res.ok = false
			sc.heal()
			continue
		}
		toStale = append(toStale, took)
		fw.rotate(fw.pipelines)             // must not reach the outputs while the fault lasts
		time.Sleep(1200 * time.Millisecond) // a refresh
		code, _, err := fw.p.get("/healthz")
		res.ok = assert.True(t, err == nil && code == http.StatusOK, "%s: /healthz while the fault lasts: %d %v", sc.name, code, err) && res.ok
		snap := fw.p.Status()
		stale := 0
		for _, d := range snap.Definitions {
			if d.Stale && !d.OK {
				stale++
			}
		}
		res.ok = assert.Equal(t, len(fw.pipelines), stale, "%s: /status stale definitions", sc.name) && res.ok
		res.ok = assert.EqualValues(t, len(fw.pipelines), fw.p.Metrics()["omsecrets_stale_outputs"], "%s: omsecrets_stale_outputs", sc.name) && res.ok
		for _, name := range fw.pipelines {
			data, err := os.ReadFile(filepath.Join(fw.out, name+".json"))
			res.ok = assert.NoError(t, err, "%s: %s: output gone during the fault", sc.name, name) && res.ok
			res.ok = assert.True(t, bytes.Equal(kept[name], data), "%s: %s: output changed during the fault", sc.name, name) && res.ok
			st, _ := readFreshness(t, filepath.Join(fw.out, name+daemon.StatusExt))
			classes[st.Outcome] = true
			res.ok = assert.Equal(t, daemon.StateStale, st.State, "%s: %s: status file", sc.name, name) && res.ok
			res.ok = assert.Contains(t, sc.classes, st.Outcome, "%s: %s: outcome class while failing (error %q)", sc.name, name, st.Error) && res.ok
			res.ok = assert.Equal(t, name+".json", st.Output, "%s: %s: the status file must name the kept output", sc.name, name) && res.ok
		}
		fw.leaks.snapshot(t, fw.p, fw.out)
		if sc.count != nil {
			res.injected += sc.count() - before0
		} else {
			res.injected = -1
		}
		healed := time.Now()
		sc.heal()
		took, ok = eventually(30*time.Second, func() bool { ok, _ := fw.currentSince(healed); return ok })
		if !ok {
			_, msg := fw.currentSince(healed)
			res.ok = false
			t.Errorf("%s: no recovery within 30 s of healing, without a restart: %s\n%s", sc.name, msg, fw.p.tail())
			continue
		}
		recovered = append(recovered, took)
		after := fw.p.Metrics()
		res.seen += failedCalls(after, sc.target) - failedCalls(before, sc.target)
	}
	res.toStale, res.recovered = maxDuration(toStale), maxDuration(recovered)
	res.classes = slices.Sorted(maps.Keys(classes))
	return res
}

// failedCalls counts the failed OpenMetadata requests (om: every code but
// 200) or AWS store calls (aws: every result but ok) omsecrets reported.
func failedCalls(m map[string]float64, target string) int {
	n := 0.0
	if target == "aws" {
		n = sumMetric(m, "omsecrets_store_calls_total", `store="aws"`) - sumMetric(m, "omsecrets_store_calls_total", `store="aws"`, `result="ok"`)
	} else {
		n = sumMetric(m, "omsecrets_om_requests_total") - sumMetric(m, "omsecrets_om_requests_total", `code="200"`)
	}
	return int(n)
}

func maxDuration(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return slices.Max(d)
}

// untrustedTLS is an HTTPS server whose certificate no client here trusts
// (httptest's own): what omsecrets meets when OpenMetadata's certificate
// is replaced by one its CA did not sign.
func untrustedTLS(t *testing.T) string {
	s := httptest.NewUnstartedServer(http.NotFoundHandler())
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.StartTLS()
	t.Cleanup(s.Close)
	return s.Listener.Addr().String()
}

var (
	omClasses  = []string{"om_unavailable", "om_error"}
	awsClasses = []string{"unavailable", "throttled"}
)

// TestChaosFaults breaks OpenMetadata and the AWS store in every way the
// issue lists, one at a time, against a running `omsecrets run` that
// refreshes every second: down (connection refused), slower than the
// timeout, 5xx and 429 storms, TLS errors (an untrusted certificate), DNS
// failure (the host name stops resolving) and connections reset by a
// proxy. For each: outputs keep their last good bytes, their status files
// say stale (with an OpenMetadata or store class) and name the kept
// output, /status and omsecrets_stale_outputs agree, /healthz answers; a
// password rotated during the fault reaches every output, current, within
// seconds of healing, without a restart. Then omsecrets is killed and
// restarted while OpenMetadata is down: /readyz still returns and the old
// outputs are kept, stale. Each world runs in parallel with the others.
func TestChaosFaults(t *testing.T) {
	t.Parallel()
	rounds := size(1, 5)
	n := size(4, 20)
	var mu sync.Mutex
	var results []faultResult
	t.Cleanup(func() {
		var b strings.Builder
		b.WriteString("CHAOS faults table\n")
		fmt.Fprintf(&b, "%-22s %-6s %6s %9s %6s %9s %10s %-28s %s\n", "scenario", "target", "rounds", "injected", "seen", "to_stale", "recovered", "classes", "survived")
		survived, injected, seen := 0, 0, 0
		slices.SortFunc(results, func(a, b faultResult) int { return strings.Compare(a.target+a.scenario, b.target+b.scenario) })
		for _, r := range results {
			inj := fmt.Sprint(r.injected)
			if r.injected < 0 {
				inj = "n/a"
			} else {
				injected += r.injected
			}
			seen += r.seen
			if r.ok {
				survived++
			}
			fmt.Fprintf(&b, "%-22s %-6s %6d %9s %6d %9v %10v %-28s %v\n", r.scenario, r.target, r.rounds, inj, r.seen,
				r.toStale.Round(10*time.Millisecond), r.recovered.Round(10*time.Millisecond), strings.Join(r.classes, ","), r.ok)
		}
		fmt.Fprintf(&b, "CHAOS faults scenarios=%d survived=%d rounds_each=%d pipelines_each=%d injected_countable=%d failed_calls_seen=%d",
			len(results), survived, rounds, n, injected, seen)
		t.Log(b.String())
	})
	record := func(r faultResult) {
		mu.Lock()
		defer mu.Unlock()
		results = append(results, r)
	}

	// world runs scenarios, built for its world, in a world of its own,
	// in parallel with the other worlds.
	world := func(name string, tls bool, scenarios func(fw *faultWorld) []scenario, after func(t *testing.T, fw *faultWorld)) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fw := newFaultWorld(t, n, tls, "1s")
			fw.p.Start()
			fw.p.WaitReady(30 * time.Second)
			for _, sc := range scenarios(fw) {
				record(fw.run(sc, rounds))
			}
			if after != nil {
				after(t, fw)
			}
			fw.leaks.snapshot(t, fw.p, fw.out)
			fw.p.Stop()
			fw.leaks.Check(t, fw.p)
		})
	}
	heal := func(px *proxy) func() { return func() { px.set(forward, 0, "") } }
	answers := func(px *proxy) func() int { return func() int { _, a := px.counts(); return a } }
	resets := func(px *proxy) func() int { return func() int { r, _ := px.counts(); return r } }

	world("openmetadata-1", false, func(fw *faultWorld) []scenario {
		om, px := fw.om, fw.omProxy
		return []scenario{
			{name: "down", target: "om", inject: func() { px.set(refuse, 0, "") }, heal: heal(px), classes: omClasses},
			{name: "slower-than-timeout", target: "om", inject: func() { om.SetLatency(2500 * time.Millisecond); px.dropAll() },
				heal: func() { om.SetLatency(0) }, count: func() int { return len(om.Requests()) }, classes: omClasses},
			{name: "5xx-storm", target: "om", inject: func() { px.set(answer, 502, "") }, heal: heal(px), count: answers(px), classes: omClasses},
		}
	}, func(t *testing.T, fw *faultWorld) {
		// Killed and restarted while OpenMetadata is down: ready anyway,
		// the old outputs adopted as the last good ones, stale.
		px := fw.omProxy
		px.set(refuse, 0, "")
		fw.p.Kill()
		fw.p.Start()
		ready := fw.p.WaitReady(30 * time.Second)
		res := faultResult{scenario: "restart-while-down", target: "om", rounds: 1, injected: -1, ok: true, toStale: ready}
		classes := map[string]bool{}
		for _, name := range fw.pipelines {
			st, ok := readFreshness(t, filepath.Join(fw.out, name+daemon.StatusExt))
			res.ok = assert.True(t, ok && st.State == daemon.StateStale && st.Output == name+".json",
				"restart while OpenMetadata is down: %s: status %+v", name, st) && res.ok
			res.ok = assert.Contains(t, omClasses, st.Outcome) && res.ok
			res.ok = assert.FileExists(t, filepath.Join(fw.out, name+".json")) && res.ok
			classes[st.Outcome] = true
		}
		res.classes = slices.Sorted(maps.Keys(classes))
		fw.rotate(fw.pipelines)
		healed := time.Now()
		px.set(forward, 0, "")
		took, ok := eventually(30*time.Second, func() bool { ok, _ := fw.currentSince(healed); return ok })
		res.ok = assert.True(t, ok, "no recovery after a restart while OpenMetadata was down:\n%s", fw.p.tail()) && res.ok
		res.recovered = took
		res.seen = failedCalls(fw.p.Metrics(), "om")
		record(res)
	})
	world("openmetadata-2", false, func(fw *faultWorld) []scenario {
		px := fw.omProxy
		return []scenario{
			{name: "503-retry-after-storm", target: "om", inject: func() { px.set(answer, 503, "1") }, heal: heal(px), count: answers(px), classes: omClasses},
			{name: "429-storm", target: "om", inject: func() { px.set(answer, 429, "1") }, heal: heal(px), count: answers(px), classes: omClasses},
		}
	}, nil)
	world("openmetadata-3", false, func(fw *faultWorld) []scenario {
		px := fw.omProxy
		return []scenario{
			{name: "connection-reset", target: "om", inject: func() { px.set(reset, 0, "") }, heal: heal(px), count: resets(px), classes: omClasses},
			{name: "dns-failure", target: "om", inject: func() { fw.setHosts(false, true); dnsSettle(px) }, heal: func() { fw.setHosts(true, true) }, classes: omClasses},
		}
	}, nil)
	world("openmetadata-tls", true, func(fw *faultWorld) []scenario {
		px := fw.omProxy
		good, bad := px.backend, untrustedTLS(t)
		return []scenario{
			{name: "tls-untrusted-cert", target: "om", inject: func() { px.setBackend(bad) }, heal: func() { px.setBackend(good) }, classes: omClasses},
			{name: "tls-not-tls", target: "om", inject: func() { px.set(answer, 200, "") }, heal: heal(px), classes: omClasses},
		}
	}, nil)
	world("aws-1", false, func(fw *faultWorld) []scenario {
		aws, px := fw.aws, fw.awsProxy
		calls := func() int { return aws.TotalCalls() }
		return []scenario{
			{name: "down", target: "aws", inject: func() { px.set(refuse, 0, "") }, heal: heal(px), classes: awsClasses},
			{name: "slower-than-timeout", target: "aws", inject: func() { aws.SetLatency(4 * time.Second); px.dropAll() },
				heal: func() { aws.SetLatency(0) }, count: calls, classes: awsClasses},
			{name: "500-storm", target: "aws", inject: func() { aws.FailNext(1<<30, 500) }, heal: func() { aws.FailNext(0, 500) }, count: calls, classes: awsClasses},
			{name: "503-storm", target: "aws", inject: func() { aws.FailNext(1<<30, 503) }, heal: func() { aws.FailNext(0, 503) }, count: calls, classes: awsClasses},
		}
	}, nil)
	world("aws-2", false, func(fw *faultWorld) []scenario {
		aws, px := fw.aws, fw.awsProxy
		calls := func() int { return aws.TotalCalls() }
		return []scenario{
			{name: "429-storm", target: "aws", inject: func() { aws.SetRetryAfter(time.Second); aws.FailNext(1<<30, 429) },
				heal: func() { aws.FailNext(0, 429); aws.SetRetryAfter(0) }, count: calls, classes: awsClasses},
			{name: "throttling-storm", target: "aws", inject: func() { aws.SetThrottling(true) }, heal: func() { aws.SetThrottling(false) }, count: calls, classes: awsClasses},
			{name: "connection-reset", target: "aws", inject: func() { px.set(reset, 0, "") }, heal: heal(px), count: resets(px), classes: awsClasses},
			{name: "dns-failure", target: "aws", inject: func() { fw.setHosts(true, false); dnsSettle(px) }, heal: func() { fw.setHosts(true, true) }, classes: awsClasses},
		}
	}, nil)
}
