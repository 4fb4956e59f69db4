package chaos

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/kubetest"
)

// churn is a namespace of a real kube-apiserver and a directory of
// pipeline definitions whose one secret reference (the connection's
// password) resolves in the Kubernetes store: pipeline <name> is
// <name>.json, reading the Secret chaos-<name>-pw, as OpenMetadata names a
// pipeline's secrets after it. Pipelines are created, renamed (a new file
// and a new Secret, the old ones deleted) and deleted; their Secrets are
// rotated, deleted and created again.
type churn struct {
	t          *testing.T
	c          *kubetest.Cluster
	ns         string
	defs, out  string
	mu         sync.Mutex
	next       int
	live       []string          // pipeline names
	value      map[string]string // name -> current value of its Secret; absent: Secret deleted
	rotatedAt  map[string]time.Time
	latencies  []time.Duration
	ops        map[string]int
	lost       []string // rotations that did not reach their output within the bound
	superseded int
}

func newChurn(t *testing.T, c *kubetest.Cluster, ns string) *churn {
	out, _ := tmpfsDir(t)
	return &churn{t: t, c: c, ns: ns, defs: t.TempDir(), out: out, value: make(map[string]string),
		rotatedAt: make(map[string]time.Time), ops: make(map[string]int)}
}

func secretName(name string) string { return "chaos-" + name + "-pw" }

func (w *churn) definition(name string) []byte {
	doc := map[string]any{
		"source": map[string]any{
			"type": "mysql", "serviceName": "churn_" + name,
			"serviceConnection": map[string]any{"config": map[string]any{
				"type": "Mysql", "username": "churn", "hostPort": "db-" + name + ":3306",
				"authType": map[string]any{"password": "secret:" + secretName(name)},
			}},
			"sourceConfig": map[string]any{"config": map[string]any{"type": "DatabaseMetadata"}},
		},
		"sink": map[string]any{"type": "metadata-rest", "config": map[string]any{}},
		"workflowConfig": map[string]any{
			"loggerLevel": "INFO",
			"openMetadataServerConfig": map[string]any{
				"hostPort": worldOMHost + "/api", "authProvider": "openmetadata",
				"securityConfig":         map[string]any{"jwtToken": "secret:chaos-bot-jwt"},
				"secretsManagerProvider": "kubernetes",
			},
		},
	}
	b, err := json.Marshal(doc)
	require.NoError(w.t, err)
	return b
}

// setSecret writes a new value of name's Secret. w.mu is held.
func (w *churn) setSecret(name string) {
	v := fmt.Sprintf("%s-%s-%s", marker, name, randomHex(4))
	w.c.PutValue(w.t, w.ns, secretName(name), v)
	w.value[name] = v
	w.rotatedAt[name] = time.Now()
}

// create adds a pipeline: its Secret, then its definition. w.mu is held.
func (w *churn) create() {
	name := fmt.Sprintf("p%d", w.next)
	w.next++
	w.setSecret(name)
	require.NoError(w.t, writeAtomic(filepath.Join(w.defs, name+".json"), w.definition(name)))
	w.live = append(w.live, name)
}

// remove deletes pipeline i: its definition, then its Secret. w.mu is
// held.
func (w *churn) remove(i int) {
	name := w.live[i]
	require.NoError(w.t, os.Remove(filepath.Join(w.defs, name+".json")))
	if _, ok := w.value[name]; ok {
		w.c.DeleteSecret(w.t, w.ns, secretName(name))
	}
	delete(w.value, name)
	delete(w.rotatedAt, name)
	w.live = slices.Delete(w.live, i, i+1)
}

// step makes one random change, keeping about n pipelines.
func (w *churn) step(r *rand.Rand, n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch k := r.IntN(10); {
	case len(w.live) < n/2 || k == 0:
		w.create()
		w.ops["create"]++
	case len(w.live) > 2*n || k == 1:
		w.remove(r.IntN(len(w.live)))
		w.ops["delete"]++
	case k == 2: // rename: a new pipeline (file and Secret), the old one gone
		i := r.IntN(len(w.live))
		w.create()
		w.remove(i)
		w.ops["rename"]++
	case k == 3: // a Secret deleted, its output keeps the last good value
		name := w.live[r.IntN(len(w.live))]
		if _, ok := w.value[name]; ok {
			w.c.DeleteSecret(w.t, w.ns, secretName(name))
			delete(w.value, name)
			delete(w.rotatedAt, name)
			w.ops["secret_delete"]++
		}
	default: // rotation (or re-creation of a deleted Secret)
		name := w.live[r.IntN(len(w.live))]
		if _, pending := w.rotatedAt[name]; pending {
			w.superseded++
		}
		w.setSecret(name)
		w.ops["rotate"]++
	}
}

// settle makes exactly n pipelines live, each with its Secret.
func (w *churn) settle(n int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.live) > n {
		w.remove(len(w.live) - 1)
	}
	for len(w.live) < n {
		w.create()
	}
	for _, name := range w.live {
		if _, ok := w.value[name]; !ok {
			w.setSecret(name)
		}
	}
}

// password reads the password of an output, "" if none.
func (w *churn) password(name string) string {
	b, err := os.ReadFile(filepath.Join(w.out, name+".json"))
	if err != nil {
		return ""
	}
	v, _ := outputPassword(b)
	return v
}

// check looks at the outputs of the pipelines with a rotation not seen
// yet: one that arrived records its latency, one older than bound is
// lost.
func (w *churn) check(bound time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for name, at := range w.rotatedAt {
		switch {
		case w.password(name) == w.value[name]:
			w.latencies = append(w.latencies, time.Since(at))
			delete(w.rotatedAt, name)
		case time.Since(at) > bound:
			w.lost = append(w.lost, fmt.Sprintf("%s: rotated %v ago, not in its output", name, time.Since(at).Round(time.Millisecond)))
			delete(w.rotatedAt, name)
		}
	}
}

// verify lists what is wrong with the outputs now: each live pipeline's
// output holds its Secret's value, and no other output is there.
func (w *churn) verify() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var problems []string
	want := make(map[string]bool)
	for _, name := range w.live {
		want[name+".json"] = true
		if got := w.password(name); got != w.value[name] {
			problems = append(problems, fmt.Sprintf("%s: output password %q, want the Secret's", name, strings.TrimPrefix(got, marker)))
		}
	}
	entries, err := os.ReadDir(w.out)
	require.NoError(w.t, err)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") && !want[e.Name()] {
			problems = append(problems, "output of a removed pipeline: "+e.Name())
		}
	}
	return problems
}

// state is what the churn soak compares before and after: the process's
// resources, the API server's open watches and the sizes of the state the
// sidecar keeps (omsecrets_state_entries).
type state struct {
	sample
	watches int
	entries map[string]int
}

func (w *churn) state(p *proc, proxy *kubetest.Proxy, since time.Time) state {
	s, err := p.Sample(since)
	require.NoError(w.t, err)
	st := state{sample: s, watches: proxy.Watches(), entries: make(map[string]int)}
	for _, kind := range []string{"resolver_cache", "definitions_indexed", "secrets_in_use", "pending"} {
		st.entries[kind] = int(sumMetric(p.Metrics(), "omsecrets_state_entries", `kind="`+kind+`"`))
	}
	return st
}

// TestChaosChurn runs `omsecrets run` with the Kubernetes store and a
// refresh of an hour (only the watches bring changes in time) while
// pipelines are created, renamed and deleted and their Secrets created,
// rotated and deleted, thousands of changes compressed in time. Every
// rotation must reach its output within a few seconds (one watch event,
// not the refresh). At the end, with as many pipelines as at the start,
// every output is right and the open watches, the sizes of the state the
// sidecar keeps, its goroutines and its RSS are back at the baseline.
func TestChaosChurn(t *testing.T) {
	t.Parallel()
	n := size(10, 100)
	ops := size(600, 20000)
	rate := size(60, 100) // changes per second
	const bound = 10 * time.Second

	c := kubetest.Start(t)
	ns := c.Namespace(t)
	user := c.User("alice")
	c.Grant(t, ns, user, []string{"get", "watch"})
	proxy := c.Proxy(t)
	w := newChurn(t, c, ns)
	c.PutValue(t, ns, "chaos-bot-jwt", marker+jwtValueSuffix)
	w.settle(n)
	env := []string{"KUBECONFIG=" + c.Kubeconfig(t, user, ns, proxy.Config(user).Host), "KUBERNETES_NAMESPACE=" + ns}
	p := newProc(t, env, "run", "--watch-dirs", w.defs, "--out-dir", w.out, "--allow-disk", "--log-format", "json",
		"--allow-ids", "chaos-*", "--om-hosts", worldOMHost, "--refresh-interval", "1h", "--watch-quiet", "20ms")
	leaks := newLeakCheck(user.Token)
	p.Start()
	p.WaitReady(2 * time.Minute)
	if _, ok := eventually(time.Minute, func() bool { return len(w.verify()) == 0 }); !ok {
		t.Fatalf("before the churn: %v\n%s", w.verify(), p.tail())
	}
	w.mu.Lock()
	clear(w.rotatedAt)
	w.mu.Unlock()
	time.Sleep(2 * time.Second)
	start := time.Now()
	base := w.state(p, proxy, start)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	every(&wg, stop, 50*time.Millisecond, func() { w.check(bound) }) // the outputs
	var peak state
	every(&wg, stop, time.Second, func() { // resources
		if s, err := p.Sample(start); err == nil {
			peak.rssKiB = max(peak.rssKiB, s.rssKiB)
			peak.goroutines = max(peak.goroutines, s.goroutines)
		}
		peak.watches = max(peak.watches, proxy.Watches())
	})
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 22))
	tick := time.NewTicker(time.Second / time.Duration(rate))
	for range ops {
		<-tick.C
		w.step(r, n)
	}
	tick.Stop()
	churned := time.Since(start)
	w.settle(n)
	var problems []string
	converged, ok := eventually(2*time.Minute, func() bool {
		w.check(bound)
		problems = w.verify()
		return len(problems) == 0
	})
	close(stop)
	wg.Wait()
	assert.True(t, ok, "after the churn, outputs are wrong: %v", problems)
	assert.Empty(t, w.lost, "rotations that did not reach their output within %v (one watch event; the refresh is an hour)", bound)

	var end state
	_, settled := eventually(time.Minute, func() bool {
		end = w.state(p, proxy, start)
		return end.watches == base.watches && end.entries["definitions_indexed"] == base.entries["definitions_indexed"] &&
			end.entries["secrets_in_use"] == base.entries["secrets_in_use"] && end.entries["pending"] == 0
	})
	assert.True(t, settled, "state not back at the baseline")
	assert.Equal(t, n+1, end.watches, "one watch per Secret in use (the pipelines' and the bot JWT)")
	assert.Equal(t, base.watches, end.watches, "watches")
	for _, kind := range []string{"definitions_indexed", "secrets_in_use"} {
		assert.Equal(t, base.entries[kind], end.entries[kind], kind)
	}
	assert.Zero(t, end.entries["pending"])
	assert.LessOrEqual(t, end.entries["resolver_cache"], base.entries["resolver_cache"], "cached values of pipelines gone stay")
	assert.LessOrEqual(t, end.goroutines, base.goroutines+10, "goroutines back near the baseline")
	assert.LessOrEqual(t, end.rssKiB, base.rssKiB*3/2+16<<10, "RSS back near the baseline")
	leaks.snapshot(t, p, w.out)
	p.Stop()
	scanned := leaks.Check(t, p)

	w.mu.Lock()
	defer w.mu.Unlock()
	slices.Sort(w.latencies)
	p50, p99, maxLat := time.Duration(0), time.Duration(0), time.Duration(0)
	if k := len(w.latencies); k > 0 {
		p50, p99, maxLat = w.latencies[k/2], w.latencies[k*99/100], w.latencies[k-1]
	}
	t.Logf("CHAOS churn pipelines=%d changes=%d in %v (%v) rotations_seen=%d superseded=%d latency p50=%v p99=%v max=%v converged_after=%v "+
		"watches base=%d peak=%d end=%d goroutines base=%d peak=%d end=%d rss_kib base=%d peak=%d end=%d "+
		"cache base=%d end=%d defs_indexed base=%d end=%d secrets_in_use base=%d end=%d pending end=%d leak_scan_bytes=%d",
		n, ops, churned.Round(time.Millisecond), w.ops, len(w.latencies), w.superseded,
		p50.Round(time.Millisecond), p99.Round(time.Millisecond), maxLat.Round(time.Millisecond), converged.Round(time.Millisecond),
		base.watches, peak.watches, end.watches, base.goroutines, peak.goroutines, end.goroutines, base.rssKiB, peak.rssKiB, end.rssKiB,
		base.entries["resolver_cache"], end.entries["resolver_cache"], base.entries["definitions_indexed"], end.entries["definitions_indexed"],
		base.entries["secrets_in_use"], end.entries["secrets_in_use"], end.entries["pending"], scanned)
}
