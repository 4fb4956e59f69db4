package daemon

import (
	"context"
	"sync"

	"omsecrets/internal/reconcile"
)

// Job is one definition file to (re)resolve; its file may be gone, which
// means its output must go too.
type Job = reconcile.Job

// queue holds the definitions waiting to be resolved. It keeps at most one
// run in flight per path: a path added while it runs waits, and runs once
// more after, however many times it was added. It is safe for concurrent
// use.
type queue struct {
	mu       sync.Mutex
	pending  map[string]bool // path -> fresh
	order    []string        // pending paths, oldest first (may hold stale entries)
	inflight map[string]bool
	wake     chan struct{} // capacity 1: "something may be takeable now"
}

func newQueue() *queue {
	return &queue{
		pending:  make(map[string]bool),
		inflight: make(map[string]bool),
		wake:     make(chan struct{}, 1),
	}
}

// add marks path for a run. fresh is sticky until the run starts.
func (q *queue) add(path string, fresh bool) {
	q.mu.Lock()
	f, ok := q.pending[path]
	q.pending[path] = f || fresh
	if !ok {
		q.order = append(q.order, path)
	}
	q.mu.Unlock()
	q.signal()
}

func (q *queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take blocks until at least one pending path is not in flight, then
// returns up to max of them, oldest first, marked in flight. It returns
// nil when ctx is done.
func (q *queue) take(ctx context.Context, max int) []Job {
	for {
		q.mu.Lock()
		var jobs []Job
		rest := q.order[:0]
		for _, p := range q.order {
			fresh, ok := q.pending[p]
			switch {
			case !ok:
				// already taken; drop the stale entry
			case len(jobs) < max && !q.inflight[p]:
				jobs = append(jobs, Job{Path: p, Fresh: fresh})
				delete(q.pending, p)
				q.inflight[p] = true
			default:
				rest = append(rest, p)
			}
		}
		q.order = rest
		more := len(q.pending) > 0
		q.mu.Unlock()
		if len(jobs) > 0 {
			if more {
				q.signal() // let another worker look at what is left
			}
			return jobs
		}
		select {
		case <-ctx.Done():
			return nil
		case <-q.wake:
		}
	}
}

// done ends the runs of jobs.
func (q *queue) done(jobs []Job) {
	q.mu.Lock()
	for _, j := range jobs {
		delete(q.inflight, j.Path)
	}
	q.mu.Unlock()
	q.signal()
}

// idle reports whether nothing is pending or in flight.
func (q *queue) idle() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending) == 0 && len(q.inflight) == 0
}
