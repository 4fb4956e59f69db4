package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "omsecrets"

// Recorder records omsecrets' metrics. A nil *Recorder records nothing, so
// packages can take one optionally. It is safe for concurrent use.
type Recorder struct {
	reg *prometheus.Registry

	resolutions     *prometheus.CounterVec
	resolveDuration prometheus.Histogram
	storeCalls      *prometheus.CounterVec
	storeDuration   *prometheus.HistogramVec
	storeRetries    *prometheus.CounterVec
	cacheLookups    *prometheus.CounterVec
	writes          *prometheus.CounterVec
	outputs         prometheus.Gauge
	staleOutputs    prometheus.Gauge
	definitions     prometheus.Gauge
	watchEvents     *prometheus.CounterVec
	omRequests      *prometheus.CounterVec
	omDuration      *prometheus.HistogramVec
	ready           prometheus.Gauge
	lastPass        prometheus.Gauge
	storeRate       *prometheus.GaugeVec
	storeQuota      *prometheus.GaugeVec
	changeCheck     *prometheus.GaugeVec
	refreshIDs      *prometheus.CounterVec
	state           *prometheus.GaugeVec
	refreshDuration prometheus.Histogram
	defLatency      prometheus.Histogram
}

// New returns a Recorder on a new Registry, with the Go runtime and
// process collectors registered beside omsecrets' own.
func New() *Recorder {
	r := &Recorder{reg: prometheus.NewRegistry()}
	f := func(c prometheus.Collector) { r.reg.MustRegister(c) }
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	r.resolutions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "resolutions_total",
		Help: "Definitions resolved, by result: ok, or the outcome class of the failure.",
	}, []string{"result"})
	r.resolveDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Name: "resolution_duration_seconds",
		Help:    "Time from picking up a batch of definitions to their outputs being written.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
	})
	r.storeCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "store_calls_total",
		Help: "Calls to secret stores, by store, operation (get, batch) and result class.",
	}, []string{"store", "operation", "result"})
	r.storeDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "store_call_duration_seconds",
		Help:    "Duration of one secret store call.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12),
	}, []string{"store", "operation"})
	r.storeRetries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "store_retries_total",
		Help: "Store calls retried, by store and the class of the error that caused the retry.",
	}, []string{"store", "result"})
	r.cacheLookups = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "cache_lookups_total",
		Help: "Secret cache lookups, by store and result (hit, miss).",
	}, []string{"store", "result"})
	r.writes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "output_writes_total",
		Help: "Output writes, by whether the bytes changed (unchanged outputs are not rewritten).",
	}, []string{"changed"})
	r.outputs = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "outputs",
		Help: "Output files currently kept.",
	})
	r.staleOutputs = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "stale_outputs",
		Help: "Outputs whose last resolution failed; the last good file is kept.",
	})
	r.definitions = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "definitions",
		Help: "Definition files currently known.",
	})
	r.watchEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "watch_events_total",
		Help: "Watcher events, by kind.",
	}, []string{"kind"})
	r.omRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "om_requests_total",
		Help: "OpenMetadata API requests, by operation and HTTP status (0: no response).",
	}, []string{"operation", "code"})
	r.omDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "om_request_duration_seconds",
		Help:    "Duration of one OpenMetadata API request.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
	}, []string{"operation"})
	r.ready = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "ready",
		Help: "1 once the first full pass over the definitions has finished.",
	})
	r.lastPass = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "last_full_pass_timestamp_seconds",
		Help: "Unix time the last full pass (start-up or refresh) finished.",
	})
	r.storeRate = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "store_rate_limit_calls_per_second",
		Help: "The client-side rate limit of calls to a store now: it falls on throttling and climbs back slowly (0: unlimited).",
	}, []string{"store"})
	r.storeQuota = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "store_quota_calls_per_second",
		Help: "The store's published quota for the calls omsecrets makes, shared by every client of the account (or vault, or project); absent when none is published.",
	}, []string{"store"})
	r.changeCheck = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "store_change_detection",
		Help: "1 while refreshes of a store ask it which secrets changed and fetch only those; 0 once it refused the listing (full refreshes).",
	}, []string{"store"})
	r.refreshIDs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "refresh_ids_total",
		Help: "Secret ids refreshed, by store and outcome: unchanged (vouched for by the store's change listing, not fetched) or fetched.",
	}, []string{"store", "outcome"})
	r.state = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "state_entries",
		Help: "Entries the sidecar keeps, by kind (resolver_cache: cached values; secrets_in_use and definitions_indexed: the index of which definition reads which secret; pending: changes and forgets kept for running batches): bounded by the definitions and secrets in use.",
	}, []string{"kind"})
	r.refreshDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Name: "refresh_duration_seconds",
		Help:    "Time from the start of a periodic refresh to the last of its definitions being resolved.",
		Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300},
	})
	r.defLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace, Name: "definition_to_output_seconds",
		Help:    "Time from the watcher handing over a changed definition file to its output being written.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})
	for _, c := range []prometheus.Collector{
		r.storeRate, r.storeQuota, r.changeCheck, r.refreshIDs, r.state, r.refreshDuration, r.defLatency,
		r.resolutions, r.resolveDuration, r.storeCalls, r.storeDuration, r.storeRetries,
		r.cacheLookups, r.writes, r.outputs, r.staleOutputs, r.definitions, r.watchEvents,
		r.omRequests, r.omDuration, r.ready, r.lastPass,
	} {
		f(c)
	}
	return r
}

// Registry returns the registry the collectors are on.
func (r *Recorder) Registry() *prometheus.Registry { return r.reg }

// Handler serves the metrics in the Prometheus exposition format.
func (r *Recorder) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{})
}

// Resolution records one definition's outcome: result is "ok" or an
// outcome class (resolver.Class, or "invalid", "om_api" and the like).
func (r *Recorder) Resolution(result string) {
	if r != nil {
		r.resolutions.WithLabelValues(result).Inc()
	}
}

// ResolveDuration records the wall time of one batch of resolutions.
func (r *Recorder) ResolveDuration(d time.Duration) {
	if r != nil {
		r.resolveDuration.Observe(d.Seconds())
	}
}

// StoreCall records one store call with ids ids; result is its class.
// Its signature matches resolver.Observer.
func (r *Recorder) StoreCall(store, op string, ids int, result string, d time.Duration) {
	if r != nil {
		r.storeCalls.WithLabelValues(store, op, result).Inc()
		r.storeDuration.WithLabelValues(store, op).Observe(d.Seconds())
	}
}

// CacheLookup records a cache hit or miss for store.
func (r *Recorder) CacheLookup(store string, hit bool) {
	if r != nil {
		res := "miss"
		if hit {
			res = "hit"
		}
		r.cacheLookups.WithLabelValues(store, res).Inc()
	}
}

// Retry records a retried store call and the class of the error.
func (r *Recorder) Retry(store, result string, _ time.Duration) {
	if r != nil {
		r.storeRetries.WithLabelValues(store, result).Inc()
	}
}

// Write records an output write.
func (r *Recorder) Write(changed bool) {
	if r != nil {
		r.writes.WithLabelValues(strconv.FormatBool(changed)).Inc()
	}
}

// Outputs sets the number of outputs kept, of which stale are stale, and
// the number of definitions known.
func (r *Recorder) Outputs(definitions, outputs, stale int) {
	if r != nil {
		r.definitions.Set(float64(definitions))
		r.outputs.Set(float64(outputs))
		r.staleOutputs.Set(float64(stale))
	}
}

// WatchEvent records a watcher event of kind (fs_event, rescan, ...).
func (r *Recorder) WatchEvent(kind string) {
	if r != nil {
		r.watchEvents.WithLabelValues(kind).Inc()
	}
}

// OMRequest records one OpenMetadata API request; status 0 means no
// response was received.
func (r *Recorder) OMRequest(op string, status int, d time.Duration) {
	if r != nil {
		r.omRequests.WithLabelValues(op, strconv.Itoa(status)).Inc()
		r.omDuration.WithLabelValues(op).Observe(d.Seconds())
	}
}

// Ready records readiness.
func (r *Recorder) Ready(ready bool) {
	if r != nil {
		v := 0.0
		if ready {
			v = 1
		}
		r.ready.Set(v)
	}
}

// FullPass records the end of a full pass at t.
func (r *Recorder) FullPass(t time.Time) {
	if r != nil {
		r.lastPass.Set(float64(t.UnixNano()) / 1e9)
	}
}

// StoreRate records the client-side rate limit of store now, in calls per
// second (0: unlimited).
func (r *Recorder) StoreRate(store string, perSecond float64) {
	if r != nil {
		r.storeRate.WithLabelValues(store).Set(perSecond)
	}
}

// StoreQuota records the published quota of store's calls, in calls per
// second.
func (r *Recorder) StoreQuota(store string, perSecond float64) {
	if r != nil {
		r.storeQuota.WithLabelValues(store).Set(perSecond)
	}
}

// ChangeCheck records one refresh's change listing of store: of asked ids,
// vouched were unchanged and not fetched; on is false once the store
// refused the listing for good.
func (r *Recorder) ChangeCheck(store string, asked, vouched int, on bool) {
	if r != nil {
		v := 0.0
		if on {
			v = 1
		}
		r.changeCheck.WithLabelValues(store).Set(v)
		r.refreshIDs.WithLabelValues(store, "unchanged").Add(float64(vouched))
		r.refreshIDs.WithLabelValues(store, "fetched").Add(float64(asked - vouched))
	}
}

// State records the number of entries of one kind of state the sidecar
// keeps (see the state_entries help).
func (r *Recorder) State(kind string, n int) {
	if r != nil {
		r.state.WithLabelValues(kind).Set(float64(n))
	}
}

// CacheEntries implements resolver.CacheObserver: State("resolver_cache").
func (r *Recorder) CacheEntries(n int) { r.State("resolver_cache", n) }

// RefreshDuration records the wall time of one periodic refresh.
func (r *Recorder) RefreshDuration(d time.Duration) {
	if r != nil {
		r.refreshDuration.Observe(d.Seconds())
	}
}

// DefinitionLatency records the time from a definition's change being
// handed over by the watcher to its output being written.
func (r *Recorder) DefinitionLatency(d time.Duration) {
	if r != nil {
		r.defLatency.Observe(d.Seconds())
	}
}
