package daemon

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"omsecrets/internal/metrics"
	"omsecrets/internal/status"
	"omsecrets/internal/watch"
)

// Defaults.
const (
	DefaultWorkers  = 4
	DefaultBatchMax = 500
	DefaultRefresh  = 5 * time.Minute
)

// loop is the scheduling half of the daemon: it turns events and refresh
// ticks into queued jobs and runs them on a bounded pool of workers. The
// processing half is the run function; Daemon supplies it.
type loop struct {
	workers  int
	batchMax int
	refresh  time.Duration
	logger   *slog.Logger
	metrics  *metrics.Recorder
	board    *status.Board
	// run resolves a batch of jobs; it must record every outcome itself.
	run func(ctx context.Context, jobs []Job)
	// known returns the definition paths to refresh.
	known func() []string
	// due returns the paths whose retry after a transient failure is due;
	// nil for none.
	due func(now time.Time) []Job
	// onReady runs once, when readiness turns true; nil for nothing.
	onReady func()
	// onIdle runs once whenever no batch has run for idleAfter since the
	// last one (and once after readiness); nil for nothing.
	onIdle    func()
	idleAfter time.Duration
	// startJitter delays the first pass by a random time up to it.
	startJitter time.Duration
	// onEvent hears each definition the watcher hands over after
	// readiness; nil for nothing.
	onEvent func(path string)

	q *queue

	// The refresh in progress: when it started and the paths it queued
	// that have not run yet, for the refresh duration metric.
	refreshMu      sync.Mutex
	refreshStart   time.Time
	refreshPending map[string]bool
}

// refreshQueued starts tracking a refresh of paths.
func (l *loop) refreshQueued(paths []string) {
	l.refreshMu.Lock()
	defer l.refreshMu.Unlock()
	l.refreshStart = time.Now()
	l.refreshPending = make(map[string]bool, len(paths))
	for _, p := range paths {
		l.refreshPending[p] = true
	}
}

// refreshRan notes that jobs ran, and records the refresh's duration once
// the last of its paths has.
func (l *loop) refreshRan(jobs []Job) {
	l.refreshMu.Lock()
	defer l.refreshMu.Unlock()
	if l.refreshPending == nil {
		return
	}
	for _, j := range jobs {
		if j.Fresh {
			delete(l.refreshPending, j.Path)
		}
	}
	if len(l.refreshPending) == 0 {
		l.metrics.RefreshDuration(time.Since(l.refreshStart))
		l.metrics.FullPass(time.Now())
		l.refreshPending = nil
	}
}

// serve runs until ctx is done. It reads events until the channel is
// closed or ctx is done; synced is closed by the watcher once it has sent
// an event for every file present at start. Readiness turns true when
// synced is closed and every job queued so far has run.
//
// It owns the worker goroutines and the refresh ticker, and returns only
// after all of them have exited; a worker in the middle of a batch
// finishes it first (the batch sees ctx cancelled, so it stops fetching,
// but a write already started completes).
func (l *loop) serve(ctx context.Context, events <-chan watch.Event, synced <-chan struct{}) {
	if l.q == nil {
		l.q = newQueue()
	}
	var wg sync.WaitGroup
	// seen is closed by the event goroutine once it has queued every event
	// the watcher sent before closing synced: the events of the initial
	// scan.
	seen := make(chan struct{})
	var readyOnce sync.Once
	var ready atomic.Bool
	checkReady := func() {
		select {
		case <-seen:
		default:
			return
		}
		if !l.q.idle() {
			return
		}
		readyOnce.Do(func() {
			if l.onReady != nil {
				l.onReady()
			}
			l.board.SetReady(true)
			ready.Store(true)
			l.metrics.Ready(true)
			l.metrics.FullPass(time.Now())
			l.logger.Info("ready: first pass over the definitions finished")
		})
	}

	// lastBatch is when the last batch ended (UnixNano); idleDone is set
	// once onIdle ran for it.
	var lastBatch atomic.Int64
	var idleDone atomic.Bool
	// The first pass waits a random share of startJitter, so that
	// sidecars started together (a rolling restart, many task pods) do
	// not all call the store in the same second.
	start := make(chan struct{})
	if l.startJitter > 0 {
		d := time.Duration(rand.Int64N(int64(l.startJitter)))
		l.logger.Debug("first pass delayed: start jitter", "delay", d)
		wg.Go(func() {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			close(start)
		})
	} else {
		close(start)
	}
	for range l.workers {
		wg.Go(func() {
			select {
			case <-ctx.Done():
				return
			case <-start:
			}
			for {
				jobs := l.q.take(ctx, l.batchMax)
				if jobs == nil {
					return
				}
				start := time.Now()
				l.run(ctx, jobs)
				l.metrics.ResolveDuration(time.Since(start))
				l.q.done(jobs)
				l.refreshRan(jobs)
				lastBatch.Store(time.Now().UnixNano())
				idleDone.Store(false)
				checkReady()
			}
		})
	}
	if l.onIdle != nil && l.idleAfter > 0 {
		wg.Go(func() {
			t := time.NewTicker(l.idleAfter / 3)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case now := <-t.C:
					last := lastBatch.Load()
					if last != 0 && l.q.idle() && now.Sub(time.Unix(0, last)) >= l.idleAfter && idleDone.CompareAndSwap(false, true) {
						l.onIdle()
					}
				}
			}
		})
	}

	// Events: the watcher's goroutine sends, this one queues. Because one
	// goroutine both receives events and notices synced, every event sent
	// before synced was closed is queued before seen is closed.
	wg.Go(func() {
		syncedC := synced
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-events:
				if !ok {
					return
				}
				if l.onEvent != nil && ready.Load() {
					l.onEvent(ev.Path)
				}
				l.q.add(ev.Path, false)
			case <-syncedC:
				syncedC = nil
				for drained := false; !drained; {
					select {
					case ev, ok := <-events:
						if !ok {
							drained = true
							break
						}
						l.q.add(ev.Path, false)
					default:
						drained = true
					}
				}
				close(seen)
				checkReady() // no definitions at all, or all already done
			}
		}
	})

	// Retries: transient failures are tried again on their own schedule.
	if l.due != nil {
		wg.Go(func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case now := <-t.C:
					for _, j := range l.due(now) {
						l.q.add(j.Path, j.Fresh)
					}
				}
			}
		})
	}

	// Refresh: every interval (jittered by up to a tenth either way), queue
	// every known definition for a fresh resolution.
	wg.Go(func() {
		for {
			d := jitterAround(l.refresh)
			timer := time.NewTimer(d)
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-timer.C:
			}
			paths := l.known()
			l.logger.Debug("refresh", "definitions", len(paths))
			l.refreshQueued(paths)
			for _, p := range paths {
				l.q.add(p, true)
			}
		}
	})
	wg.Wait()
}

// jitterAround returns d changed by up to a tenth either way, so sidecars
// started together do not refresh in step. (The watcher's rescans are
// only ever delayed: watch.jitterUp.)
func jitterAround(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	spread := int64(d) / 5
	if spread <= 0 {
		return d
	}
	return d - time.Duration(spread/2) + time.Duration(rand.Int64N(spread+1))
}
