package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"omsecrets/internal/metrics"
	"omsecrets/internal/omclient"
	"omsecrets/internal/reconcile"
	"omsecrets/internal/render"
	"omsecrets/internal/status"
	"omsecrets/internal/watch"
	"omsecrets/resolver"
	"omsecrets/sink"
)

// Layouts: where service connections come from.
const (
	// LayoutAuto uses the connection OpenMetadata returns when it returns
	// one with its fields, and the connection secret when it does not.
	LayoutAuto = "auto"
	// LayoutReferences uses the connection OpenMetadata returns, whose
	// secret fields are secret: references (OpenMetadata 1.x).
	LayoutReferences = "references"
	// LayoutConnectionSecret reads each service's whole connection from
	// the store (OpenMetadata 0.12-0.13, which hid connections from bots).
	LayoutConnectionSecret = "connection-secret"
)

// DefaultTimeout bounds each stage of a batch.
const DefaultTimeout = time.Minute

// Options configures a Daemon. Resolver, Sink and Board are required.
type Options struct {
	// Resolver resolves references; its stores are named as
	// reconcile.StoreFor names them.
	Resolver *resolver.Resolver
	// Provider, when set, overrides every definition's
	// secretsManagerProvider.
	Provider string
	// Format is the output format (JSON when empty).
	Format render.Format
	// Sink writes the outputs, one per definition.
	Sink *sink.File
	// Layout is LayoutAuto (the default), LayoutReferences or
	// LayoutConnectionSecret.
	Layout string
	// JWTFile, when set, holds the bot JWT; it overrides the definitions'
	// and is read anew on every use.
	JWTFile string
	// HostPort, when set, overrides the definitions' OpenMetadata URL.
	HostPort string
	// CAPEM are extra CA certificates for the OpenMetadata API.
	CAPEM []byte
	// OMTimeout bounds one OpenMetadata request attempt; OMRetryMax and
	// OMRetryWait* tune its retries (omclient's defaults when zero).
	OMTimeout                      time.Duration
	OMRetryMax                     int
	OMRetryWaitMin, OMRetryWaitMax time.Duration
	// Workers bounds the batches in flight and each batch's
	// OpenMetadata requests in flight.
	Workers int
	// BatchMax bounds the definitions one batch takes.
	BatchMax int
	// Refresh is the interval of the periodic fresh resolution.
	Refresh time.Duration
	// Timeout bounds each stage of a batch, and each OpenMetadata fetch.
	Timeout time.Duration
	// RetryBase is the first wait before a definition that failed for a
	// transient reason is tried again (doubling up to Refresh); 0 means
	// DefaultRetryBase.
	RetryBase time.Duration
	// DryRun resolves everything and records the outcomes but writes and
	// removes nothing, with every value redacted in memory (check). Sink
	// may then be nil.
	DryRun bool
	// Logger, Metrics and Board receive what happens. Metrics may be nil.
	Logger  *slog.Logger
	Metrics *metrics.Recorder
	Board   *status.Board
}

// Daemon keeps one resolved output per definition file. Build it with New;
// call Run (the daemon) or Once (one pass), not both.
type Daemon struct {
	opts   Options
	logger *slog.Logger
	recon  *reconcile.Reconciler
	loop   *loop

	mu          sync.Mutex
	clients     map[string]*omclient.Client // by server connection
	defs        map[string]string           // known definition path -> its output name ("" if none)
	owners      map[string]string           // output name -> definition path
	blocked     map[string]string           // definition path -> output name it could not claim
	retries     map[string]retryState       // definition path -> its next try after a transient failure
	preexisting map[string]bool             // outputs found at start, until the first pass is over
	removeLater map[string]bool             // outputs whose removal failed, tried again with the retries
	expected    map[string]string           // failing definition path -> the output name it would write
}

// New returns a Daemon for opts.
func New(opts Options) (*Daemon, error) {
	if opts.Resolver == nil || (opts.Sink == nil && !opts.DryRun) || opts.Board == nil {
		return nil, errors.New("daemon: Resolver, Sink and Board are required")
	}
	opts.Format = cmp.Or(opts.Format, render.JSON)
	opts.Layout = cmp.Or(opts.Layout, LayoutAuto)
	switch opts.Layout {
	case LayoutAuto, LayoutReferences, LayoutConnectionSecret:
	default:
		return nil, fmt.Errorf("daemon: unknown layout %q", opts.Layout)
	}
	opts.Workers = cmp.Or(max(opts.Workers, 0), DefaultWorkers)
	opts.BatchMax = cmp.Or(max(opts.BatchMax, 0), DefaultBatchMax)
	opts.Refresh = cmp.Or(max(opts.Refresh, 0), DefaultRefresh)
	opts.Timeout = cmp.Or(max(opts.Timeout, 0), DefaultTimeout)
	opts.RetryBase = cmp.Or(max(opts.RetryBase, 0), DefaultRetryBase)
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	d := &Daemon{
		opts:        opts,
		logger:      logger,
		clients:     make(map[string]*omclient.Client),
		defs:        make(map[string]string),
		owners:      make(map[string]string),
		blocked:     make(map[string]string),
		retries:     make(map[string]retryState),
		removeLater: make(map[string]bool),
		expected:    make(map[string]string),
		recon: reconcile.New(reconcile.Options{
			Resolver: opts.Resolver,
			Provider: opts.Provider,
			Format:   opts.Format,
			Redact:   opts.DryRun,
		}),
	}
	d.loop = &loop{
		workers:  opts.Workers,
		batchMax: opts.BatchMax,
		refresh:  opts.Refresh,
		logger:   logger,
		metrics:  opts.Metrics,
		board:    opts.Board,
		run:      d.runBatch,
		known:    d.known,
		due:      d.dueRetries,
		onReady:  d.sweepOrphans,
		q:        newQueue(),
	}
	return d, nil
}

// Run keeps the outputs current until ctx is done: it resolves each
// definition the watcher reports (events; synced is closed once the
// initial scan's events were sent) and every definition again each
// refresh interval. It returns when ctx is done and the batches in flight
// have ended.
func (d *Daemon) Run(ctx context.Context, events <-chan watch.Event, synced <-chan struct{}) {
	d.mu.Lock()
	d.preexisting = d.listOutputs()
	d.mu.Unlock()
	d.loop.serve(ctx, events, synced)
}

// Once resolves every definition in paths in one batch and returns the
// number that failed.
func (d *Daemon) Once(ctx context.Context, paths []string) int {
	jobs := make([]Job, len(paths))
	for i, p := range paths {
		jobs[i] = Job{Path: p}
	}
	d.runBatch(ctx, jobs)
	failed := 0
	for _, p := range paths {
		if st, ok := d.opts.Board.Get(p); ok && !st.OK {
			failed++
		}
	}
	if ctx.Err() != nil && failed == 0 {
		return len(paths) // cut short: nothing is known to have succeeded
	}
	return failed
}

// known returns the definition paths seen and not removed.
func (d *Daemon) known() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Sorted(maps.Keys(d.defs))
}

// remember records path as a known definition.
func (d *Daemon) remember(path string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.defs[path]; !ok {
		d.defs[path] = ""
	}
}

// outputOf returns the output file of path, if it has one.
func (d *Daemon) outputOf(path string) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	name := d.defs[path]
	if name == "" {
		return "", false
	}
	return filepath.Join(d.opts.Sink.Dir(), name), true
}

// ext is the output file extension.
func (d *Daemon) ext() string { return "." + string(d.opts.Format) }

// forget handles a definition file that is gone: its output is removed
// and its status dropped. A definition that was refused the same output
// name is queued again, since the name is free now.
func (d *Daemon) forget(path string) {
	d.mu.Lock()
	name, known := d.defs[path]
	delete(d.defs, path)
	delete(d.blocked, path)
	delete(d.retries, path)
	delete(d.expected, path)
	var removed []string
	for n, owner := range d.owners {
		if owner == path {
			// Removed while the name is still held, so that no other
			// definition can have written it in between.
			d.removeLocked(n, path)
			delete(d.owners, n)
			removed = append(removed, n)
		}
	}
	retry := d.unblock(removed)
	d.mu.Unlock()

	switch {
	case len(removed) > 0:
		d.logger.Info("definition removed: output deleted", "definition", path, "output", filepath.Join(d.opts.Sink.Dir(), removed[0]))
	case known || name != "":
		d.logger.Info("definition removed", "definition", path)
	}
	d.opts.Board.Delete(path)
	d.opts.Metrics.Outputs(d.opts.Board.Counts())
	for _, p := range retry {
		d.loop.q.add(p, false)
	}
}

// unblock returns the definitions refused one of names, now free. Call
// with d.mu held.
func (d *Daemon) unblock(names []string) []string {
	var out []string
	for p, n := range d.blocked {
		if slices.Contains(names, n) {
			out = append(out, p)
			delete(d.blocked, p)
		}
	}
	return out
}

// write writes an item's output, claiming its output name first: two
// definitions never share an output, the first to claim a name keeps it.
func (d *Daemon) write(it *item) {
	if d.opts.DryRun {
		return
	}
	path := it.job.Path
	name := sink.Name(it.out.Name, d.ext())
	d.mu.Lock()
	owner, claimed := d.owners[name]
	if claimed && owner != path {
		d.blocked[path] = name
		d.mu.Unlock()
		it.fail(classConflict, fmt.Errorf("%s: output %s is already written for %s; rename one of the two", path, name, owner))
		return
	}
	d.owners[name] = path
	delete(d.blocked, path)
	d.mu.Unlock()

	changed, err := d.opts.Sink.Write(name, it.res.Output)

	d.mu.Lock()
	if err != nil {
		var retry []string
		if !claimed {
			delete(d.owners, name) // never written: the claim goes
			retry = d.unblock([]string{name})
		}
		d.mu.Unlock()
		for _, p := range retry {
			d.loop.q.add(p, false)
		}
		it.fail(classWrite, fmt.Errorf("%s: write %s: %w", path, name, err))
		return
	}
	old := d.defs[path]
	d.defs[path] = name
	var retry []string
	if old != "" && old != name && d.owners[old] == path {
		// The definition's output name changed (a renamed pipeline): its
		// old output goes, while the old name is still held.
		d.removeLocked(old, path)
		delete(d.owners, old)
		retry = d.unblock([]string{old})
	}
	d.mu.Unlock()
	for _, p := range retry {
		d.loop.q.add(p, false)
	}
	d.opts.Metrics.Write(changed)
	if changed {
		d.logger.Info("output written", "definition", path, "output", filepath.Join(d.opts.Sink.Dir(), name), "refs", len(it.res.Refs))
	} else {
		d.logger.Debug("output unchanged", "definition", path, "output", name)
	}
}

// sweepOrphans runs once the first pass is over. An output a previous run
// of omsecrets left (the output directory, a memory-backed emptyDir,
// outlives a container restart) that no definition wrote in this pass
// either goes to the failing definition that would write it (kept as its
// last good output, marked stale) or, when no definition would, is removed:
// its definition was deleted while omsecrets was not running, and it holds
// secrets. Deciding only now, after every definition has had its turn,
// lets one that resolves win a name over one that fails.
func (d *Daemon) sweepOrphans() {
	type adoption struct{ path, name string }
	var adopted []adoption
	d.mu.Lock()
	for name := range d.preexisting {
		if _, owned := d.owners[name]; owned {
			continue
		}
		var heir string
		for path, want := range d.expected {
			if want == name && d.defs[path] == "" && (heir == "" || path < heir) {
				heir = path
			}
		}
		if heir != "" {
			d.owners[name] = heir
			d.defs[heir] = name
			adopted = append(adopted, adoption{heir, name})
			continue
		}
		d.removeLocked(name, "")
		if !d.removeLater[name] {
			d.logger.Info("removed an output whose definition is gone", "output", filepath.Join(d.opts.Sink.Dir(), name))
		}
	}
	d.preexisting = nil
	d.mu.Unlock()

	for _, a := range adopted {
		if st, ok := d.opts.Board.Get(a.path); ok && !st.OK {
			st.Output = filepath.Join(d.opts.Sink.Dir(), a.name)
			st.Stale = true
			d.opts.Board.Set(st)
		}
		d.logger.Info("kept the output of a previous run as the last good one", "definition", a.path, "output", a.name)
	}
	d.opts.Metrics.Outputs(d.opts.Board.Counts())
}

// expect records, for a definition that failed, the output name it would
// write; "" (success) forgets it.
func (d *Daemon) expect(path, name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if name == "" {
		delete(d.expected, path)
		return
	}
	d.expected[path] = name
}

// listOutputs returns the output files present in the output directory.
// Files of every output format count, so that outputs of an earlier run
// in the other format are swept too.
func (d *Daemon) listOutputs() map[string]bool {
	if d.opts.Sink == nil {
		return nil
	}
	entries, err := os.ReadDir(d.opts.Sink.Dir())
	if err != nil {
		return nil
	}
	out := make(map[string]bool)
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || strings.HasPrefix(name, ".") {
			continue
		}
		switch filepath.Ext(name) {
		case ".json", ".yaml":
			out[name] = true
		}
	}
	return out
}

// retryState is when a definition that failed for a transient reason is
// tried again, and how many times it has failed so.
type retryState struct {
	at    time.Time
	n     int
	fresh bool // the failed run was a refresh: so is the retry
}

// DefaultRetryBase is the first wait before a transient failure is tried
// again; retries double it up to the refresh interval.
const DefaultRetryBase = 5 * time.Second

// scheduleRetry records the outcome of path for the retry schedule:
// transient failures (OpenMetadata or a store unavailable, throttling) are
// tried again soon rather than at the next refresh.
func (d *Daemon) scheduleRetry(job Job, class string, ok bool) {
	path := job.Path
	d.mu.Lock()
	defer d.mu.Unlock()
	if ok || !transientClass(class) {
		delete(d.retries, path)
		return
	}
	r := d.retries[path]
	r.n++
	r.fresh = r.fresh || job.Fresh
	wait := d.opts.RetryBase << min(r.n-1, 16)
	r.at = time.Now().Add(min(wait, d.opts.Refresh))
	d.retries[path] = r
}

// dueRetries returns the jobs whose retry is due at now. It also tries
// again to remove outputs a failed removal left behind.
func (d *Daemon) dueRetries(now time.Time) []Job {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Job
	for p, r := range d.retries {
		if !r.at.After(now) {
			out = append(out, Job{Path: p, Fresh: r.fresh})
			r.at = now.Add(d.opts.Refresh) // until the run records its outcome
			d.retries[p] = r
		}
	}
	for name := range d.removeLater {
		d.removeLocked(name, "")
	}
	return out
}

// removeLocked removes output name, which path owned ("" for none), and
// forgets it was there at start. A removal that fails is retried with
// the retries, so no output holding secrets is left unowned for good.
// Call with d.mu held.
func (d *Daemon) removeLocked(name, path string) {
	delete(d.preexisting, name)
	if err := d.opts.Sink.Remove(name); err != nil {
		if !d.removeLater[name] {
			d.logger.Error("output not removed; will try again", "definition", path, "output", name, "error", err.Error())
		}
		d.removeLater[name] = true
		return
	}
	delete(d.removeLater, name)
}

func transientClass(class string) bool {
	switch class {
	case classOMDown, "unavailable", "throttled":
		return true
	}
	return false
}
