package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
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

// DefaultTimeout bounds one batch.
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
	// Timeout bounds one batch.
	Timeout time.Duration
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

	mu      sync.Mutex
	clients map[string]*omclient.Client // by server connection
	defs    map[string]string           // known definition path -> its output name ("" if none)
	owners  map[string]string           // output name -> definition path
	blocked map[string]string           // definition path -> output name it could not claim
}

// New returns a Daemon for opts.
func New(opts Options) (*Daemon, error) {
	if opts.Resolver == nil || opts.Sink == nil || opts.Board == nil {
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
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	d := &Daemon{
		opts:    opts,
		logger:  logger,
		clients: make(map[string]*omclient.Client),
		defs:    make(map[string]string),
		owners:  make(map[string]string),
		blocked: make(map[string]string),
		recon: reconcile.New(reconcile.Options{
			Resolver: opts.Resolver,
			Provider: opts.Provider,
			Format:   opts.Format,
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
func (d *Daemon) ext() string {
	if d.opts.Format == render.YAML {
		return ".yaml"
	}
	return ".json"
}

// forget handles a definition file that is gone: its output is removed
// and its status dropped. A definition that was refused the same output
// name is queued again, since the name is free now.
func (d *Daemon) forget(path string) {
	d.mu.Lock()
	name, known := d.defs[path]
	delete(d.defs, path)
	delete(d.blocked, path)
	var retry []string
	if name != "" && d.owners[name] == path {
		delete(d.owners, name)
		for p, n := range d.blocked {
			if n == name {
				retry = append(retry, p)
			}
		}
	}
	d.mu.Unlock()

	if name != "" {
		if err := d.opts.Sink.Remove(name); err != nil {
			d.logger.Error("output not removed", "definition", path, "output", name, "error", err.Error())
		} else {
			d.logger.Info("definition removed: output deleted", "definition", path, "output", filepath.Join(d.opts.Sink.Dir(), name))
		}
	} else if known {
		d.logger.Info("definition removed", "definition", path)
	}
	d.opts.Board.Delete(path)
	d.opts.Metrics.Outputs(d.opts.Board.Counts())
	for _, p := range retry {
		d.loop.q.add(p, false)
	}
}

// write writes an item's output, claiming its output name first: two
// definitions never share an output, the first to claim a name keeps it.
func (d *Daemon) write(it *item) {
	path := it.job.Path
	name := sink.Name(it.out.Name, d.ext())
	d.mu.Lock()
	if owner, ok := d.owners[name]; ok && owner != path {
		d.blocked[path] = name
		d.mu.Unlock()
		it.fail(classConflict, fmt.Errorf("%s: output %s is already written for %s; rename one of the two", path, name, owner))
		return
	}
	d.owners[name] = path
	delete(d.blocked, path)
	old := d.defs[path]
	d.mu.Unlock()

	changed, err := d.opts.Sink.Write(name, it.res.Output)
	if err != nil {
		it.fail(classWrite, fmt.Errorf("%s: write %s: %w", path, name, err))
		return
	}
	d.opts.Metrics.Write(changed)
	d.mu.Lock()
	if _, ok := d.defs[path]; ok || old == "" {
		d.defs[path] = name
	}
	if old != "" && old != name && d.owners[old] == path {
		delete(d.owners, old)
	} else {
		old = ""
	}
	d.mu.Unlock()
	if old != "" {
		if err := d.opts.Sink.Remove(old); err != nil {
			d.logger.Error("old output not removed", "definition", path, "output", old, "error", err.Error())
		}
	}
	if changed {
		d.logger.Info("output written", "definition", path, "output", filepath.Join(d.opts.Sink.Dir(), name), "refs", len(it.res.Refs))
	} else {
		d.logger.Debug("output unchanged", "definition", path, "output", name)
	}
}
