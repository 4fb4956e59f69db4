package daemon

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"omsecrets/internal/metrics"
	"omsecrets/internal/reconcile"
	"omsecrets/internal/status"
	"omsecrets/internal/watch"
	"omsecrets/sink"
)

// DefaultRetryBase is the first wait before a transient failure is tried
// again; retries double it up to the refresh interval.
const DefaultRetryBase = 5 * time.Second

// Options configures a Daemon. Reconciler, Sink and Board are required.
type Options struct {
	// Reconciler turns definition files into outputs.
	Reconciler *reconcile.Reconciler
	// Sink writes the outputs, one per definition, and their freshness
	// files.
	Sink *sink.File
	// Workers bounds the batches in flight.
	Workers int
	// BatchMax bounds the definitions one batch takes.
	BatchMax int
	// Refresh is the interval of the periodic fresh resolution.
	Refresh time.Duration
	// RetryBase is the first wait before a definition that failed for a
	// transient reason is tried again (doubling up to Refresh); 0 means
	// DefaultRetryBase.
	RetryBase time.Duration
	// FreshFor is how long after its last successful resolution an output
	// counts as current in its freshness file; 0 means twice Refresh.
	FreshFor time.Duration
	// Once marks the freshness files as written by a one-shot run.
	Once bool
	// OnIdle, if set, runs once each time the daemon has been idle (no
	// batch, nothing queued) for IdleAfter after some work: after the
	// first pass, after a refresh, after a burst of changes.
	OnIdle    func()
	IdleAfter time.Duration
	// StartJitter delays the first pass by a random time up to it, so
	// that sidecars started together do not call the stores at once; 0
	// starts at once.
	StartJitter time.Duration
	// Forget is told the secrets no definition reads any more, by store,
	// so that the resolver and the stores drop what they keep for them
	// (resolver.Resolver.Forget: cached values, Kubernetes watches); nil
	// means nobody is told. It must not block or call the Daemon.
	Forget func(store string, ids []string)
	// Logger, Metrics and Board receive what happens. Metrics may be nil.
	Logger  *slog.Logger
	Metrics *metrics.Recorder
	Board   *status.Board
}

// Daemon keeps one resolved output per definition file. Build it with New;
// call Run (the daemon) or Once (one pass), not both.
type Daemon struct {
	opts    Options
	logger  *slog.Logger
	outputs *outputs
	retries *retries
	loop    *loop
	uses    *uses

	// handed is when the watcher handed over each definition waiting for
	// its output, for the definition-to-output latency metric.
	handedMu sync.Mutex
	handed   map[string]time.Time
}

// handedOver notes that the watcher handed over path now.
func (d *Daemon) handedOver(path string) {
	d.handedMu.Lock()
	defer d.handedMu.Unlock()
	if _, ok := d.handed[path]; !ok {
		d.handed[path] = time.Now()
	}
}

// settled records the latency of path's hand-over, if one is waiting.
func (d *Daemon) settled(path string, ok bool) {
	d.handedMu.Lock()
	at, waiting := d.handed[path]
	delete(d.handed, path)
	d.handedMu.Unlock()
	if waiting && ok {
		d.opts.Metrics.DefinitionLatency(time.Since(at))
	}
}

// New returns a Daemon for opts.
func New(opts Options) (*Daemon, error) {
	if opts.Reconciler == nil || opts.Sink == nil || opts.Board == nil {
		return nil, errors.New("daemon: Reconciler, Sink and Board are required")
	}
	opts.Workers = cmp.Or(max(opts.Workers, 0), DefaultWorkers)
	opts.BatchMax = cmp.Or(max(opts.BatchMax, 0), DefaultBatchMax)
	opts.Refresh = cmp.Or(max(opts.Refresh, 0), DefaultRefresh)
	opts.RetryBase = cmp.Or(max(opts.RetryBase, 0), DefaultRetryBase)
	opts.FreshFor = cmp.Or(max(opts.FreshFor, 0), 2*opts.Refresh)
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	d := &Daemon{
		opts:    opts,
		logger:  logger,
		outputs: newOutputs(opts.Sink, "."+string(opts.Reconciler.Format()), logger),
		retries: newRetries(opts.RetryBase, opts.Refresh),
		uses:    newUses(),
		handed:  make(map[string]time.Time),
	}
	d.loop = &loop{
		workers:     opts.Workers,
		batchMax:    opts.BatchMax,
		refresh:     opts.Refresh,
		logger:      logger,
		metrics:     opts.Metrics,
		board:       opts.Board,
		run:         d.runBatch,
		known:       d.outputs.known,
		due:         d.dueRetries,
		onReady:     func() { d.sweep(true) },
		onIdle:      opts.OnIdle,
		idleAfter:   opts.IdleAfter,
		startJitter: max(opts.StartJitter, 0),
		onEvent:     d.handedOver,
		q:           newQueue(),
	}
	return d, nil
}

// Run keeps the outputs current until ctx is done: it resolves each
// definition the watcher reports (events; synced is closed once the
// initial scan's events were sent) and every definition again each
// refresh interval. It returns when ctx is done and the batches in flight
// have ended.
func (d *Daemon) Run(ctx context.Context, events <-chan watch.Event, synced <-chan struct{}) {
	d.outputs.start()
	d.loop.serve(ctx, events, synced)
}

// Once resolves every definition in paths in one batch and returns the
// number that failed. Of two definitions with one output name, the first
// in paths keeps it.
func (d *Daemon) Once(ctx context.Context, paths []string) int {
	jobs := make([]Job, len(paths))
	for i, p := range paths {
		jobs[i] = Job{Path: p}
	}
	// An output already there for a definition that fails now stays its
	// last good one, marked stale; nothing else in the directory is
	// touched.
	d.outputs.start()
	d.runBatch(ctx, jobs)
	d.sweep(false)
	failed := 0
	for _, p := range paths {
		st, ok := d.opts.Board.Get(p)
		if !ok && ctx.Err() == nil {
			reconcile.LogFailure(d.logger, p, reconcile.ErrGone(p))
		}
		if !ok || !st.OK {
			failed++ // a file that is gone counts: nothing was written for it
		}
	}
	if ctx.Err() != nil && failed == 0 {
		return len(paths) // cut short: nothing is known to have succeeded
	}
	return failed
}

// runBatch reconciles jobs together, then writes and records each
// outcome.
func (d *Daemon) runBatch(ctx context.Context, jobs []Job) {
	start := d.uses.begin()
	defer func() {
		d.uses.end(start, d.opts.Forget)
		defs, secrets, pending := d.uses.sizes()
		d.opts.Metrics.State("definitions_indexed", defs)
		d.opts.Metrics.State("secrets_in_use", secrets)
		d.opts.Metrics.State("pending", pending)
	}()
	results := d.opts.Reconciler.Reconcile(ctx, jobs)
	if ctx.Err() != nil {
		// Shutting down: outcomes cut short by the cancellation are not
		// failures of the definitions; leave their outputs and status as
		// they are, but finish the writes that are ready.
		for _, res := range results {
			if !res.Gone && res.Err == nil {
				d.write(res, time.Now().UTC())
			}
		}
		return
	}
	for _, res := range results {
		if res.Gone {
			d.settled(res.Path, false)
			d.forget(res.Path)
			continue
		}
		d.outputs.remember(res.Path)
		now := time.Now().UTC()
		if res.Err == nil {
			d.write(res, now)
		}
		d.record(res, now)
		d.report(res)
		d.settled(res.Path, res.Err == nil)
		if d.uses.since(start, res.Uses) {
			// A secret it read was reported changed while the batch ran,
			// perhaps before the index knew the definition reads it: the
			// value written may be the old one.
			d.logger.Debug("a secret changed during the resolution: resolving again", "definition", res.Path)
			d.loop.q.add(res.Path, false)
		}
	}
	d.opts.Metrics.Outputs(d.opts.Board.Counts())
}

// write writes a result's output; a failure becomes the result's error.
func (d *Daemon) write(res *reconcile.Result, now time.Time) {
	name := d.outputs.name(res.Name())
	changed, retry, err := d.outputs.write(res.Path, name, res.Digest, res.Output, now)
	d.requeue(retry)
	if err != nil {
		res.Err = err
		return
	}
	d.opts.Metrics.Write(changed)
	switch {
	case changed:
		d.logger.Info("output written", "definition", res.Path, "output", d.outputs.path(name), "refs", len(res.Refs), "store", res.Store)
	case d.opts.Once:
		// A one-shot run says what it did for every definition.
		d.logger.Info("output unchanged", "definition", res.Path, "output", d.outputs.path(name), "refs", len(res.Refs), "store", res.Store)
	default:
		d.logger.Debug("output unchanged", "definition", res.Path, "output", name)
	}
}

// report writes, keeps current or removes the report file of a result:
// written whenever the reconciler produced a report server config (whether
// or not the definition resolved) unless the policy refused the definition,
// removed then and when it produced none for a
// reason other than a transient one (a store or OpenMetadata briefly
// unavailable leaves the last one in place, as it leaves the output).
func (d *Daemon) report(res *reconcile.Result) {
	if c := res.Class(); c == reconcile.ClassForbiddenRef || c == reconcile.ClassForbiddenHost {
		// A definition the policy refused (a planted one) gets nothing,
		// not even the bot's connection.
		d.outputs.dropReport(res.Path)
		return
	}
	if res.ReportServer == nil {
		if !res.Transient() {
			d.outputs.dropReport(res.Path)
		}
		return
	}
	name := d.outputs.name(res.Name())
	data, err := json.MarshalIndent(Report{
		Version: 1,
		DagID:   strings.TrimSuffix(name, d.outputs.ext),
		FQN:     res.Def.Pipeline.FQN(),
		Server:  res.ReportServer,
	}, "", "  ")
	if err != nil {
		// Not quoted: the message of a bad json.RawMessage could.
		d.logger.Error("report file not written: its server config is not valid JSON", "definition", res.Path)
		return
	}
	d.outputs.writeReport(res.Path, name, append(data, '\n'))
}

// Changed queues the definitions whose last resolution read one of ids
// in store, which the store reports changed (resolver.ChangeNotifier;
// the session passes it as resolver.Options.OnChange). The resolver has
// dropped those ids from its cache, so the run fetches them, and only
// them, again. It does not block.
//
// A change reported while a batch runs also re-queues the definitions of
// that batch that turn out to read one of ids, once their resolution
// ended: a change is not lost because the definition's first resolution
// (or the one after an edit) was reading the secret when it came.
func (d *Daemon) Changed(store string, ids []string) {
	paths := d.uses.changed(store, ids)
	if len(paths) > 0 {
		d.logger.Info("secrets changed in the store: resolving the definitions that use them", "store", store, "secrets", len(ids), "definitions", len(paths))
	}
	for _, p := range paths {
		d.loop.q.add(p, false)
	}
}

// requeue queues definitions that may claim a freed output name.
func (d *Daemon) requeue(paths []string) {
	for _, p := range paths {
		d.loop.q.add(p, false)
	}
}

// forget handles a definition file that is gone: its output is removed
// and its status dropped.
func (d *Daemon) forget(path string) {
	removed, known, retry := d.outputs.forget(path)
	d.retries.forget(path)
	d.uses.set(path, nil)
	switch {
	case removed != "":
		d.logger.Info("definition removed: output deleted", "definition", path, "output", d.outputs.path(removed))
	case known:
		d.logger.Info("definition removed", "definition", path)
	}
	d.opts.Board.Delete(path)
	d.requeue(retry)
}

// record puts a result's outcome on the status board, in the metrics and
// in its freshness file, and logs a failure once.
func (d *Daemon) record(res *reconcile.Result, now time.Time) {
	prev, _ := d.opts.Board.Get(res.Path)
	ok := res.Err == nil
	st := status.Definition{
		Path:        res.Path,
		LastAttempt: now,
		LastSuccess: prev.LastSuccess,
		OK:          ok,
		Class:       res.Class(),
	}
	if res.Def != nil {
		st.Name = res.Def.Name
		st.Kind = string(res.Def.Kind)
	}
	for _, o := range res.Refs {
		st.Refs = append(st.Refs, status.Ref{
			Field: o.Path, Ref: res.Label(o.Ref), Store: res.StoreOf(o.Ref),
			Outcome: reconcile.ClassOf(res.Outcomes[o.Ref]),
		})
	}
	expected := d.outputs.name(res.Name())
	if ok {
		d.outputs.expect(res.Path, "")
	} else {
		d.outputs.expect(res.Path, expected)
	}
	d.retries.record(res.Path, res.Transient(), res.Fresh())
	d.uses.set(res.Path, res.Uses)
	name, hasOutput := d.outputs.outputOf(res.Path)
	if hasOutput {
		st.Output = d.outputs.path(name)
	}
	if ok {
		st.LastSuccess = &now
		d.opts.Metrics.Resolution(reconcile.ClassOK)
	} else {
		st.Error = res.Err.Error()
		st.Stale = hasOutput
		d.opts.Metrics.Resolution(st.Class)
		var kept []any
		if st.Stale {
			kept = []any{"kept", st.Output}
		}
		reconcile.LogFailure(d.logger, res.Path, res.Err, kept...)
	}
	d.opts.Board.Set(st)
	if !hasOutput {
		name = expected
	}
	d.outputs.writeStatus(res.Path, name, d.freshness(st, name, hasOutput))
}

// freshness is the freshness file of a recorded status.
func (d *Daemon) freshness(st status.Definition, name string, hasOutput bool) Freshness {
	f := Freshness{
		Version:    1,
		DagID:      strings.TrimSuffix(name, d.outputs.ext),
		Definition: st.Path,
		Outcome:    st.Class,
		CheckedAt:  st.LastAttempt,
		Mode:       "run",
	}
	if d.opts.Once {
		f.Mode = "once"
	}
	if !st.OK {
		f.Error = st.Error
	}
	if !hasOutput {
		f.State = StateFailed
		return f
	}
	f.Output = name
	f.State = StateStale
	if st.OK {
		f.State = StateCurrent
	}
	if g, ok := d.outputs.lastGood(name); ok {
		f.DefinitionSHA256 = g.digest
		if !g.resolvedAt.IsZero() {
			at := g.resolvedAt
			until := at.Add(d.opts.FreshFor)
			f.ResolvedAt, f.FreshUntil = &at, &until
		}
	}
	return f
}

// sweep adopts or (remove) removes the outputs a previous run left, once
// the first pass is over.
func (d *Daemon) sweep(remove bool) {
	for _, a := range d.outputs.sweep(remove) {
		if st, ok := d.opts.Board.Get(a.path); ok && !st.OK {
			st.Output = d.outputs.path(a.name)
			st.Stale = true
			d.opts.Board.Set(st)
			d.outputs.writeStatus(a.path, a.name, d.freshness(st, a.name, true))
		}
		d.logger.Info("kept the output of a previous run as the last good one", "definition", a.path, "output", a.name)
	}
	d.opts.Metrics.Outputs(d.opts.Board.Counts())
}

// dueRetries returns the jobs whose retry is due at now, and tries again
// to remove outputs a failed removal left behind.
func (d *Daemon) dueRetries(now time.Time) []Job {
	d.outputs.retryRemovals()
	return d.retries.due(now)
}

// retries is when each definition that failed for a transient reason
// (OpenMetadata or a store unavailable, throttling) is tried again: soon,
// doubling up to the refresh interval, rather than at the next refresh.
// It is safe for concurrent use.
type retries struct {
	base, max time.Duration

	mu    sync.Mutex
	state map[string]retryState // definition path -> its next try
}

// retryState is when a definition is tried again, and how many times it
// has failed so.
type retryState struct {
	at    time.Time
	n     int
	fresh bool // the failed run was a refresh: so is the retry
}

func newRetries(base, maxWait time.Duration) *retries {
	return &retries{base: base, max: maxWait, state: make(map[string]retryState)}
}

// record notes the outcome of path's run.
func (r *retries) record(path string, transient, fresh bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !transient {
		delete(r.state, path)
		return
	}
	s := r.state[path]
	s.n++
	s.fresh = s.fresh || fresh
	wait := r.base << min(s.n-1, 16)
	s.at = time.Now().Add(min(wait, r.max))
	r.state[path] = s
}

// forget drops path's schedule.
func (r *retries) forget(path string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.state, path)
}

// due returns the jobs whose retry is due at now.
func (r *retries) due(now time.Time) []Job {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Job
	for p, s := range r.state {
		if !s.at.After(now) {
			out = append(out, Job{Path: p, Fresh: s.fresh})
			s.at = now.Add(r.max) // until the run records its outcome
			r.state[p] = s
		}
	}
	return out
}
