package loadtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"omsecrets/internal/reconcile"
	"omsecrets/internal/testbed/kubetest"
	"omsecrets/resolver/k8s"
)

// The Kubernetes fleet is the AWS one's 8 references per pipeline, with
// the values that belong together as data keys of one Secret, as
// operators write Kubernetes Secrets:
//
//	openmetadata-bot-ingestion-bot-config-jwttoken (value)  shared by all 100
//	warehouse#password                                       shared by all 100
//	svc-NN#password, svc-NN#sslkey                           one Secret per service (25)
//	dbt-team-N#awsaccesskeyid, #awssecretaccesskey           one Secret per team (10)
//	p-NNN#token, p-NNN#apikey                                one Secret per pipeline (100)
//
// 800 reference occurrences, 272 distinct references, 137 Secrets.
const k8sSecrets = 2 + services + teams + pipelines

// k8sFleetRefs returns pipeline i's 8 references (Secret name, key).
func k8sFleetRefs(i int) [][2]string {
	svc, team := fmt.Sprintf("svc-%02d", i%services), fmt.Sprintf("dbt-team-%d", i%teams)
	p := fmt.Sprintf("p-%03d", i)
	return [][2]string{
		{"openmetadata-bot-ingestion-bot-config-jwttoken", ""},
		{"warehouse", "password"},
		{svc, "password"}, {svc, "sslkey"},
		{team, "awsaccesskeyid"}, {team, "awssecretaccesskey"},
		{p, "token"}, {p, "apikey"},
	}
}

func k8sRef(r [2]string) string {
	if r[1] == "" {
		return "secret:" + r[0]
	}
	return "secret:" + r[0] + "#" + r[1]
}

func k8sFleetConfig(i int) string {
	var opts []string
	for j, r := range k8sFleetRefs(i)[1:] {
		opts = append(opts, fmt.Sprintf("ref_%d: %q", j, k8sRef(r)))
	}
	return fmt.Sprintf(`source:
  type: mysql
  serviceName: svc_%02d
  serviceConnection:
    config:
      type: Mysql
      username: reader
      hostPort: db:3306
      connectionOptions: {%s}
  sourceConfig:
    config:
      type: DatabaseMetadata
sink: {type: metadata-rest, config: {}}
workflowConfig:
  openMetadataServerConfig:
    hostPort: http://om:8585/api
    authProvider: openmetadata
    securityConfig: {jwtToken: %q}
    secretsManagerProvider: kubernetes
`, i%services, strings.Join(opts, ", "), k8sRef(k8sFleetRefs(i)[0]))
}

// k8sFleet is a namespace of a real kube-apiserver holding the fleet's
// Secrets, read by a service account with get and watch on them.
type k8sFleet struct {
	c    *kubetest.Cluster
	ns   string
	user kubetest.User
	defs []reconcile.Job
}

func newK8sFleet(b *testing.B) *k8sFleet {
	b.Helper()
	c := kubetest.Start(b)
	b.Logf("etcd and kube-apiserver started in %v", c.Startup.Round(time.Millisecond))
	f := &k8sFleet{c: c, ns: c.Namespace(b)}
	data := map[string]map[string][]byte{}
	for i := range pipelines {
		for _, r := range k8sFleetRefs(i) {
			key := r[1]
			if key == "" {
				key = k8s.DefaultKey
			}
			if data[r[0]] == nil {
				data[r[0]] = map[string][]byte{}
			}
			data[r[0]][key] = []byte("v-" + r[0] + "-" + key)
		}
	}
	names := make([]string, 0, len(data))
	for name, d := range data {
		c.PutSecret(b, f.ns, name, d)
		names = append(names, name)
	}
	if len(names) != k8sSecrets {
		b.Fatalf("fleet has %d Secrets, want %d", len(names), k8sSecrets)
	}
	f.user = c.ServiceAccount(b, f.ns, "omsecrets")
	c.Grant(b, f.ns, f.user, []string{"get", "watch"}, names...)
	dir := b.TempDir()
	f.defs = make([]reconcile.Job, pipelines)
	for i := range f.defs {
		f.defs[i].Path = filepath.Join(dir, fmt.Sprintf("p_%03d.yaml", i))
		if err := os.WriteFile(f.defs[i].Path, []byte(k8sFleetConfig(i)), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	return f
}

// gets is how many GETs of Secrets the fleet's user made so far (the API
// server's audit log).
func (f *k8sFleet) gets(b *testing.B) int {
	b.Helper()
	return f.c.Count(b, f.ns, "get", "", f.user.Name)
}

// reconciler is what cmd builds for the kubernetes store: its default
// rate limit, its watches until the benchmark ends.
func (f *k8sFleet) reconciler(b *testing.B) *reconcile.Reconciler {
	b.Helper()
	store, err := k8s.New(b.Context(), f.c.Config(f.user), k8s.Options{Namespace: f.ns})
	if err != nil {
		b.Fatal(err)
	}
	return storeReconciler(b, k8s.Spec, store, true)
}

// BenchmarkK8s100x8 compares, against a real kube-apiserver, omsecrets
// cold (a: a new store and resolver; one GET per Secret, several
// references to the keys of one Secret sharing it), warm within the TTL
// (b) and the way OpenMetadata's Python client reads (c: one
// read_namespaced_secret per reference occurrence, no cache, one after
// the other).
func BenchmarkK8s100x8(b *testing.B) {
	f := newK8sFleet(b)

	b.Run("a_cold", func(b *testing.B) {
		gets := 0
		for b.Loop() {
			r := f.reconciler(b)
			b.StopTimer()
			before := f.gets(b)
			b.StartTimer()
			resolveFleet(b, r, f.defs)
			b.StopTimer()
			gets = f.gets(b) - before
			b.StartTimer()
		}
		b.ReportMetric(float64(gets), "gets/op")
		b.ReportMetric(float64(k8sSecrets), "secrets")
		b.ReportMetric(float64(uniqueIDs), "distinct-refs")
	})

	b.Run("b_warm", func(b *testing.B) {
		r := f.reconciler(b)
		resolveFleet(b, r, f.defs) // fill the cache
		gets := 0
		for b.Loop() {
			b.StopTimer()
			before := f.gets(b)
			b.StartTimer()
			resolveFleet(b, r, f.defs)
			b.StopTimer()
			gets = f.gets(b) - before
			b.StartTimer()
		}
		b.ReportMetric(float64(gets), "gets/op")
	})

	b.Run("c_python_baseline", func(b *testing.B) {
		cfg := f.c.Config(f.user)
		cfg.QPS = -1 // the Python client has no client-side rate limit
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		gets := 0
		for b.Loop() {
			b.StopTimer()
			before := f.gets(b)
			b.StartTimer()
			for i := range pipelines {
				for _, r := range k8sFleetRefs(i) {
					if _, err := cs.CoreV1().Secrets(f.ns).Get(ctx, r[0], metav1.GetOptions{}); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			gets = f.gets(b) - before
			b.StartTimer()
		}
		b.ReportMetric(float64(gets), "gets/op")
	})
}

// BenchmarkK8sWatchNotify measures, at the store, how long an update of a
// Secret takes to reach the Notify function through its watch: 50
// watched Secrets, each updated in turn, the clock started before the
// update call.
func BenchmarkK8sWatchNotify(b *testing.B) {
	c := kubetest.Start(b)
	ns := c.Namespace(b)
	const n = 50
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("watched-%02d", i)
		c.PutValue(b, ns, names[i], "v0")
	}
	u := c.ServiceAccount(b, ns, "omsecrets")
	c.Grant(b, ns, u, []string{"get", "watch"}, names...)
	store, err := k8s.New(b.Context(), c.Config(u), k8s.Options{Namespace: ns})
	if err != nil {
		b.Fatal(err)
	}
	notes := make(chan string, 4*n)
	store.Notify(func(ids []string) {
		for _, id := range ids {
			select {
			case notes <- id:
			default:
			}
		}
	})
	for _, name := range names {
		if _, err := store.Get(b.Context(), name); err != nil {
			b.Fatal(err)
		}
	}
	// The watches open a moment after the reads.
	deadline := time.Now().Add(30 * time.Second)
	for c.Count(b, ns, "watch", "", u.Name) < n {
		if time.Now().After(deadline) {
			b.Fatal("watches not open after 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	secrets := c.Admin().CoreV1().Secrets(ns)
	var lat []time.Duration
	round := 0
	for b.Loop() {
		round++
		lat = lat[:0]
		for i, name := range names {
			sec, err := secrets.Get(b.Context(), name, metav1.GetOptions{})
			if err != nil {
				b.Fatal(err)
			}
			// A new value: an update that changes nothing is not
			// written, and no watch hears of it.
			sec.Data["value"] = fmt.Appendf(nil, "v%d-%d", round, i)
			start := time.Now()
			if _, err := secrets.Update(b.Context(), sec, metav1.UpdateOptions{}); err != nil {
				b.Fatal(err)
			}
			for got := ""; got != name; {
				select {
				case got = <-notes:
				case <-time.After(10 * time.Second):
					b.Fatalf("no notification of %s", name)
				}
			}
			lat = append(lat, time.Since(start))
		}
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
}
