package watch

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"time"

	"github.com/fsnotify/fsnotify"
)

// runState is the state of one Run of a Watcher, and its methods are what
// Run does. All of its fields are only accessed from the Run goroutine
// (like litestream's DirectoryMonitor state), which is why nothing here is
// locked.
type runState struct {
	w   *Watcher
	src source
	out chan<- Event

	dirs  []*dirState // in Options order
	byDir map[string]*dirState

	// pending holds bursts still waiting for quiet; ready holds paths
	// whose burst is over, in order, waiting for the consumer.
	pending *coalescer
	ready   *readyPaths
	// hurried marks the paths in ready that hurry queued because their
	// content was whole, not because a burst ended: such a path is taken
	// back out of ready if it stops being whole before it is handed over.
	hurried map[string]bool
	// next is the Event decided for ready's head, nil until decided. It
	// is dropped when the head path sees another event, so what is handed
	// over always reflects the file after its latest known event.
	next *emission
	// reported is the watcher's memory of what it told the consumer: the
	// fingerprint of each path as of its last Event, for the paths that
	// existed then. It is change detection, not a list of definitions for
	// anyone else: decide compares a file with it to drop events that
	// changed nothing, and a path in it that is gone gets one more Event
	// (the consumer then finds the file gone).
	reported map[string]fingerprint
	// initial counts initial-scan paths still in ready; Synced closes
	// when it reaches zero. They are queued first, so the first pops are
	// theirs.
	initial   int
	hasSynced bool

	timer *time.Timer // fires at pending's earliest deadline
	armed time.Time   // the deadline timer is set for; zero when stopped

	rescanTimer *time.Timer // periodic rescan; nil when disabled
	retryTimer  *time.Timer // retries unwatched directories; nil when all are watched
}

type dirState struct {
	path    string
	watched bool
	// problem is the last reason logged for the directory not being
	// watched, so a persisting problem is logged once, not every retry.
	problem string
}

// emission is a decided Event: the file's fingerprint, or gone when the
// Event reports a path in reported that no longer exists.
type emission struct {
	ev   Event
	fp   fingerprint
	gone bool
}

func newRunState(w *Watcher, src source, out chan<- Event) *runState {
	r := &runState{
		w:        w,
		src:      src,
		out:      out,
		byDir:    make(map[string]*dirState),
		pending:  newCoalescer(w.quiet, w.maxWait),
		ready:    newReadyPaths(),
		hurried:  make(map[string]bool),
		reported: make(map[string]fingerprint),
	}
	for _, d := range w.dirs {
		ds := &dirState{path: d}
		r.dirs = append(r.dirs, ds)
		r.byDir[d] = ds
	}
	return r
}

func (r *runState) run(ctx context.Context) error {
	r.timer = time.NewTimer(time.Hour)
	r.timer.Stop()
	defer r.timer.Stop()
	if err := r.start(); err != nil {
		return err
	}
	if r.w.rescan > 0 {
		r.rescanTimer = time.NewTimer(jitterUp(r.w.rescan))
		defer r.rescanTimer.Stop()
	}
	defer func() {
		if r.retryTimer != nil {
			r.retryTimer.Stop()
		}
	}()

	for {
		r.prepare()
		r.arm()
		var (
			send chan<- Event
			ev   Event
		)
		if r.next != nil {
			send, ev = r.out, r.next.ev
		}
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-r.src.Events():
			if !ok {
				return errors.New("file watcher stopped: fsnotify event channel closed")
			}
			r.event(e, time.Now())
		case err, ok := <-r.src.Errors():
			if !ok {
				return errors.New("file watcher stopped: fsnotify error channel closed")
			}
			r.fsError(err, time.Now())
		case err := <-r.w.hooks.inject:
			r.fsError(err, time.Now())
		case <-r.timer.C:
			r.armed = time.Time{}
			r.fire(time.Now())
		case <-timerC(r.rescanTimer):
			r.rescanAll(time.Now())
			r.rescanTimer.Reset(jitterUp(r.w.rescan))
		case <-timerC(r.retryTimer):
			r.retryTimer = nil
			r.retryDirs(time.Now())
		case send <- ev:
			r.sent()
		}
	}
}

// start adds the watches, then queues the initial scan. Watching first
// means a change racing the scan is seen by one or the other.
func (r *runState) start() error {
	var failed []error
	missing := 0
	for _, d := range r.dirs {
		err := r.watchDir(d)
		switch {
		case err == nil:
		case absent(err):
			missing++
		default:
			failed = append(failed, fmt.Errorf("watch directory %q: %w", d.path, withHint(err)))
		}
	}
	if len(failed) == len(r.dirs) {
		return errors.Join(failed...)
	}
	// Directories that exist but cannot be watched are scanned too, and
	// then polled (retryDirs) until they can be.
	for _, d := range r.dirs {
		names, err := r.w.fs.list(d.path)
		if err != nil {
			if !absent(err) {
				r.w.observe(KindError)
				r.w.log.Warn("list watch directory", "dir", d.path, "error", err)
			}
			continue
		}
		r.w.observe(KindRescan)
		slices.Sort(names)
		for _, n := range names {
			if eligible(n) {
				r.ready.push(filepath.Join(d.path, n))
			}
		}
	}
	r.initial = r.ready.len()
	if r.initial == 0 {
		r.markSynced()
	}
	if missing+len(failed) > 0 {
		r.scheduleRetry()
	}
	return nil
}

// watchDir adds d's watch. It logs a change of problem once and returns
// the error.
func (r *runState) watchDir(d *dirState) error {
	err := r.w.fs.checkDir(d.path)
	if err == nil {
		err = r.src.Add(d.path)
	}
	if err == nil {
		if d.problem != "" {
			r.w.log.Info("watching directory", "dir", d.path)
		}
		d.watched, d.problem = true, ""
		return nil
	}
	d.watched = false
	problem := "missing"
	if !absent(err) {
		problem = withHint(err).Error()
	}
	if problem != d.problem {
		d.problem = problem
		r.w.observe(KindDirMissing)
		if problem == "missing" {
			r.w.log.Warn("watch directory does not exist; it is picked up when it appears", "dir", d.path)
		} else {
			r.w.log.Warn("cannot watch directory; retrying", "dir", d.path, "error", problem)
		}
	}
	return err
}

// prepare decides the Event for ready's head, dropping heads that turn
// out to need none, until one does or ready is empty.
func (r *runState) prepare() {
	for r.next == nil && r.ready.len() > 0 {
		path := r.ready.head()
		if em, ok := r.decide(path); ok {
			r.next = &em
			return
		}
		r.pop()
	}
}

// decide looks at path now and compares it with what was last emitted.
func (r *runState) decide(path string) (emission, bool) {
	fp, exists, err := r.w.fs.fingerprint(path)
	if err != nil {
		// Cannot tell (e.g. the directory became unreadable): keep what
		// the consumer believes; the next event or rescan looks again.
		r.w.observe(KindError)
		r.w.log.Warn("check definition file", "path", path, "error", err)
		return emission{}, false
	}
	old, known := r.reported[path]
	switch {
	case exists && (!known || !old.same(fp)):
		return emission{ev: Event{Path: path}, fp: fp}, true
	case !exists && known:
		return emission{ev: Event{Path: path}, gone: true}, true
	}
	return emission{}, false
}

// sent records that the consumer took r.next.
func (r *runState) sent() {
	em := r.next
	kind := KindChanged
	if em.gone {
		kind = KindRemoved
		delete(r.reported, em.ev.Path)
	} else {
		r.reported[em.ev.Path] = em.fp
	}
	r.w.observe(kind)
	r.w.log.Debug("definition file event", "path", em.ev.Path, "op", kind)
	r.pop()
}

func (r *runState) pop() {
	delete(r.hurried, r.ready.head())
	r.ready.pop()
	r.next = nil
	if r.initial > 0 {
		r.initial--
		if r.initial == 0 {
			r.markSynced()
		}
	}
}

func (r *runState) markSynced() {
	if !r.hasSynced {
		r.hasSynced = true
		close(r.w.synced)
	}
}

// event handles one fsnotify event.
func (r *runState) event(e fsnotify.Event, now time.Time) {
	if r.w.hooks.blind.Load() {
		r.w.hooks.dropped.Add(1)
		return
	}
	r.w.observe(KindFSEvent)
	name := filepath.Clean(e.Name)
	if d := r.byDir[name]; d != nil {
		// The directory itself was removed or renamed away; the kernel
		// has dropped its watch.
		if e.Has(fsnotify.Remove) || e.Has(fsnotify.Rename) {
			r.lost(d, now)
		}
		return
	}
	d := r.byDir[filepath.Dir(name)]
	if d == nil {
		return
	}
	base := filepath.Base(name)
	var merged bool
	switch {
	case hidden(base):
		// ..data swaps, editor swap files: rescan the directory once the
		// burst settles. Content changes behind a symlink show nowhere
		// else.
		merged = r.pending.touch(key{path: d.path, dir: true}, now)
	case eligible(base):
		// Every op, Chmod included: a Chmod-only event ends up as no
		// Event unless the file's fingerprint changed (decide).
		path := filepath.Join(d.path, base)
		if r.w.fastJSON && jsonName(base) {
			merged = r.hurry(path, now)
		} else {
			merged = r.touch(path, now)
		}
	default:
		return
	}
	if merged {
		r.w.observe(KindCoalesced)
	}
}

// touch records activity on a file path. A path already waiting in ready
// keeps its place and absorbs the event (its decision, if made, is
// dropped); otherwise the event joins or starts the path's burst. It
// reports whether the event was merged.
func (r *runState) touch(path string, now time.Time) bool {
	if r.ready.has(path) {
		if r.next != nil && r.next.ev.Path == path {
			r.next = nil
		}
		return true
	}
	return r.pending.touch(key{path: path}, now)
}

// hurry handles activity on a JSON definition, which need not wait for
// quiet when its content is whole at this moment (completeJSONObject; the
// check reads the file, bounded by hashLimit). A whole file's path is
// queued in ready at once and its pending burst is dropped: that burst
// was waiting for this very content, and would only hand it over again.
// A later event starts a new burst, which tries again. Content that is
// not whole waits for quiet as on any other file (touch), except that a
// path hurry queued and that is no longer whole (rewritten before the
// consumer took it) leaves ready for a new burst: it was queued for being
// whole, so it is not handed over half-written. It reports whether the
// event was merged.
func (r *runState) hurry(path string, now time.Time) bool {
	if !r.w.fs.whole(path) {
		if r.hurried[path] {
			r.unready(path)
			return r.pending.touch(key{path: path}, now)
		}
		return r.touch(path, now)
	}
	if r.ready.has(path) {
		return r.touch(path, now)
	}
	merged := r.pending.drop(key{path: path})
	r.ready.push(path)
	r.hurried[path] = true
	return merged
}

// unready takes path out of ready, and its decision if made.
func (r *runState) unready(path string) {
	if r.next != nil && r.next.ev.Path == path {
		r.next = nil
	}
	r.ready.remove(path)
	delete(r.hurried, path)
}

// fire moves the bursts that are due: files to ready, directory keys to a
// rescan.
func (r *runState) fire(now time.Time) {
	for _, k := range r.pending.due(now) {
		if k.dir {
			if d := r.byDir[k.path]; d != nil {
				r.rescanDir(d, now)
			}
			continue
		}
		r.ready.push(k.path)
	}
}

// rescanDir compares d with what was reported: every eligible name in it
// and every reported path under it gets a burst, and decide sorts out
// which changed. If d cannot be listed because it is gone, its reported
// paths are decided gone that way.
func (r *runState) rescanDir(d *dirState, now time.Time) {
	r.w.observe(KindRescan)
	names, err := r.w.fs.list(d.path)
	if err != nil && !absent(err) {
		r.w.observe(KindError)
		r.w.log.Warn("list watch directory", "dir", d.path, "error", err)
	}
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if eligible(n) {
			p := filepath.Join(d.path, n)
			seen[p] = true
			r.touch(p, now)
		}
	}
	for p := range r.reported {
		if !seen[p] && filepath.Dir(p) == d.path {
			r.touch(p, now)
		}
	}
}

// rescanAll rescans every directory, watching those that can be watched
// again first.
func (r *runState) rescanAll(now time.Time) {
	for _, d := range r.dirs {
		if !d.watched && r.watchDir(d) != nil {
			r.scheduleRetry()
		}
		r.rescanDir(d, now)
	}
}

// lost handles the removal or rename of a watched directory.
func (r *runState) lost(d *dirState, now time.Time) {
	d.watched = false
	// The kernel drops the watch on delete; fsnotify drops it on rename.
	// Remove is for whatever is left and fails harmlessly otherwise.
	_ = r.src.Remove(d.path)
	r.w.observe(KindDirMissing)
	r.w.log.Warn("watch directory removed; its files count as removed until it returns", "dir", d.path)
	// Said above; only a different problem, or its return, is logged.
	d.problem = "missing"
	// It may already be back (replaced by a rename).
	if r.watchDir(d) != nil {
		r.scheduleRetry()
	}
	r.rescanDir(d, now)
}

// retryDirs tries the unwatched directories again. It rescans those that
// can now be watched, and those that exist but still cannot be (an inotify
// limit), so their changes are still found, by polling.
func (r *runState) retryDirs(now time.Time) {
	for _, d := range r.dirs {
		if d.watched {
			continue
		}
		if err := r.watchDir(d); err == nil || !absent(err) {
			r.rescanDir(d, now)
		}
	}
	if slices.ContainsFunc(r.dirs, func(d *dirState) bool { return !d.watched }) {
		r.scheduleRetry()
	}
}

func (r *runState) scheduleRetry() {
	if r.retryTimer == nil {
		r.retryTimer = time.NewTimer(r.w.retry)
	}
}

// fsError handles an error from fsnotify.
func (r *runState) fsError(err error, now time.Time) {
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		r.w.observe(KindOverflow)
		r.w.log.Warn("file events were lost (inotify queue overflow; fs.inotify.max_queued_events may be too low); rescanning every watch directory")
		r.rescanAll(now)
		return
	}
	r.w.observe(KindError)
	r.w.log.Warn("file watcher error", "error", err)
}

// arm sets the timer for pending's earliest deadline.
func (r *runState) arm() {
	at, ok := r.pending.next()
	if !ok {
		if !r.armed.IsZero() {
			r.timer.Stop()
			r.armed = time.Time{}
		}
		return
	}
	if !at.Equal(r.armed) {
		// Since Go 1.23 Reset discards a fire not yet received, so a
		// stale tick cannot arrive after this.
		r.timer.Reset(time.Until(at))
		r.armed = at
	}
}

// timerC is t's channel, or nil (never ready) for no timer.
func timerC(t *time.Timer) <-chan time.Time {
	if t == nil {
		return nil
	}
	return t.C
}

// jitterUp spreads d over [d, d+10%) so replicas do not rescan in step;
// it never shortens d, so a rescan never comes before Options.Rescan. (The
// daemon's refresh is spread either way: daemon.jitterAround.)
func jitterUp(d time.Duration) time.Duration {
	if d < 10 {
		return d
	}
	return d + rand.N(d/10)
}
