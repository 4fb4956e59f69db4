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

// loop is one Run of a Watcher. All of its fields are only accessed from
// the Run goroutine (like litestream's DirectoryMonitor state), which is
// why nothing here is locked.
type loop struct {
	w   *Watcher
	src source
	out chan<- Event

	dirs  []*dirState // in Options order
	byDir map[string]*dirState

	// pending holds bursts still waiting for quiet; ready holds paths
	// whose burst is over, in order, waiting for the consumer.
	pending *coalescer
	ready   *queue
	// next is the Event decided for ready's head, nil until decided. It
	// is dropped when the head path sees another event, so what is handed
	// over always reflects the file after its latest known event.
	next *emission
	// known is the fingerprint last emitted Changed, per path; a path is
	// absent once Removed was emitted (or before anything was).
	known map[string]fingerprint
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

// emission is a decided Event and the fingerprint that goes with it.
type emission struct {
	ev Event
	fp fingerprint
}

func newLoop(w *Watcher, src source, out chan<- Event) *loop {
	l := &loop{
		w:       w,
		src:     src,
		out:     out,
		byDir:   make(map[string]*dirState),
		pending: newCoalescer(w.quiet, w.maxWait),
		ready:   newQueue(),
		known:   make(map[string]fingerprint),
	}
	for _, d := range w.dirs {
		ds := &dirState{path: d}
		l.dirs = append(l.dirs, ds)
		l.byDir[d] = ds
	}
	return l
}

func (l *loop) run(ctx context.Context) error {
	l.timer = time.NewTimer(time.Hour)
	l.timer.Stop()
	defer l.timer.Stop()
	if err := l.start(); err != nil {
		return err
	}
	if l.w.rescan > 0 {
		l.rescanTimer = time.NewTimer(jitter(l.w.rescan))
		defer l.rescanTimer.Stop()
	}
	defer func() {
		if l.retryTimer != nil {
			l.retryTimer.Stop()
		}
	}()

	for {
		l.prepare()
		l.arm()
		var (
			send chan<- Event
			ev   Event
		)
		if l.next != nil {
			send, ev = l.out, l.next.ev
		}
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-l.src.Events():
			if !ok {
				return errors.New("file watcher stopped: fsnotify event channel closed")
			}
			l.event(e, time.Now())
		case err, ok := <-l.src.Errors():
			if !ok {
				return errors.New("file watcher stopped: fsnotify error channel closed")
			}
			l.fsError(err, time.Now())
		case err := <-l.w.hooks.inject:
			l.fsError(err, time.Now())
		case <-l.timer.C:
			l.armed = time.Time{}
			l.fire(time.Now())
		case <-timerC(l.rescanTimer):
			l.rescanAll(time.Now())
			l.rescanTimer.Reset(jitter(l.w.rescan))
		case <-timerC(l.retryTimer):
			l.retryTimer = nil
			l.retryDirs(time.Now())
		case send <- ev:
			l.sent()
		}
	}
}

// start adds the watches, then queues the initial scan. Watching first
// means a change racing the scan is seen by one or the other.
func (l *loop) start() error {
	var failed []error
	missing := 0
	for _, d := range l.dirs {
		err := l.watchDir(d)
		switch {
		case err == nil:
		case absent(err):
			missing++
		default:
			failed = append(failed, fmt.Errorf("watch directory %q: %w", d.path, withHint(err)))
		}
	}
	if len(failed) == len(l.dirs) {
		return errors.Join(failed...)
	}
	// Directories that exist but cannot be watched are scanned too, and
	// then polled (retryDirs) until they can be.
	for _, d := range l.dirs {
		names, err := l.w.fs.list(d.path)
		if err != nil {
			if !absent(err) {
				l.w.observe(KindError)
				l.w.log.Warn("list watch directory", "dir", d.path, "error", err)
			}
			continue
		}
		l.w.observe(KindRescan)
		slices.Sort(names)
		for _, n := range names {
			if eligible(n) {
				l.ready.push(filepath.Join(d.path, n))
			}
		}
	}
	l.initial = l.ready.len()
	if l.initial == 0 {
		l.markSynced()
	}
	if missing+len(failed) > 0 {
		l.scheduleRetry()
	}
	return nil
}

// watchDir adds d's watch. It logs a change of problem once and returns
// the error.
func (l *loop) watchDir(d *dirState) error {
	err := l.w.fs.checkDir(d.path)
	if err == nil {
		err = l.src.Add(d.path)
	}
	if err == nil {
		if d.problem != "" {
			l.w.log.Info("watching directory", "dir", d.path)
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
		l.w.observe(KindDirMissing)
		if problem == "missing" {
			l.w.log.Warn("watch directory does not exist; it is picked up when it appears", "dir", d.path)
		} else {
			l.w.log.Warn("cannot watch directory; retrying", "dir", d.path, "error", problem)
		}
	}
	return err
}

// prepare decides the Event for ready's head, dropping heads that turn
// out to need none, until one does or ready is empty.
func (l *loop) prepare() {
	for l.next == nil && l.ready.len() > 0 {
		path := l.ready.head()
		if em, ok := l.decide(path); ok {
			l.next = &em
			return
		}
		l.pop()
	}
}

// decide looks at path now and compares it with what was last emitted.
func (l *loop) decide(path string) (emission, bool) {
	fp, exists, err := l.w.fs.fingerprint(path)
	if err != nil {
		// Cannot tell (e.g. the directory became unreadable): keep what
		// the consumer believes; the next event or rescan looks again.
		l.w.observe(KindError)
		l.w.log.Warn("check definition file", "path", path, "error", err)
		return emission{}, false
	}
	old, known := l.known[path]
	switch {
	case exists && (!known || !old.same(fp)):
		return emission{ev: Event{Path: path, Op: Changed}, fp: fp}, true
	case !exists && known:
		return emission{ev: Event{Path: path, Op: Removed}}, true
	}
	return emission{}, false
}

// sent records that the consumer took l.next.
func (l *loop) sent() {
	em := l.next
	if em.ev.Op == Changed {
		l.known[em.ev.Path] = em.fp
		l.w.observe(KindChanged)
	} else {
		delete(l.known, em.ev.Path)
		l.w.observe(KindRemoved)
	}
	l.w.log.Debug("definition file event", "path", em.ev.Path, "op", em.ev.Op.String())
	l.pop()
}

func (l *loop) pop() {
	l.ready.pop()
	l.next = nil
	if l.initial > 0 {
		l.initial--
		if l.initial == 0 {
			l.markSynced()
		}
	}
}

func (l *loop) markSynced() {
	if !l.hasSynced {
		l.hasSynced = true
		close(l.w.synced)
	}
}

// event handles one fsnotify event.
func (l *loop) event(e fsnotify.Event, now time.Time) {
	if l.w.hooks.blind.Load() {
		l.w.hooks.dropped.Add(1)
		return
	}
	l.w.observe(KindFSEvent)
	name := filepath.Clean(e.Name)
	if d := l.byDir[name]; d != nil {
		// The directory itself was removed or renamed away; the kernel
		// has dropped its watch.
		if e.Has(fsnotify.Remove) || e.Has(fsnotify.Rename) {
			l.lost(d, now)
		}
		return
	}
	d := l.byDir[filepath.Dir(name)]
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
		merged = l.pending.touch(key{path: d.path, dir: true}, now)
	case eligible(base):
		// Every op, Chmod included: a Chmod-only event ends up as no
		// Event unless the file's fingerprint changed (decide).
		merged = l.touch(filepath.Join(d.path, base), now)
	default:
		return
	}
	if merged {
		l.w.observe(KindCoalesced)
	}
}

// touch records activity on a file path. A path already waiting in ready
// keeps its place and absorbs the event (its decision, if made, is
// dropped); otherwise the event joins or starts the path's burst. It
// reports whether the event was merged.
func (l *loop) touch(path string, now time.Time) bool {
	if l.ready.has(path) {
		if l.next != nil && l.next.ev.Path == path {
			l.next = nil
		}
		return true
	}
	return l.pending.touch(key{path: path}, now)
}

// fire moves the bursts that are due: files to ready, directory keys to a
// rescan.
func (l *loop) fire(now time.Time) {
	for _, k := range l.pending.due(now) {
		if k.dir {
			if d := l.byDir[k.path]; d != nil {
				l.rescanDir(d, now)
			}
			continue
		}
		l.ready.push(k.path)
	}
}

// rescanDir compares d with what is known: every eligible name in it and
// every known path under it gets a burst, and decide sorts out which
// changed. If d cannot be listed because it is gone, its known paths are
// decided Removed that way.
func (l *loop) rescanDir(d *dirState, now time.Time) {
	l.w.observe(KindRescan)
	names, err := l.w.fs.list(d.path)
	if err != nil && !absent(err) {
		l.w.observe(KindError)
		l.w.log.Warn("list watch directory", "dir", d.path, "error", err)
	}
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if eligible(n) {
			p := filepath.Join(d.path, n)
			seen[p] = true
			l.touch(p, now)
		}
	}
	for p := range l.known {
		if !seen[p] && filepath.Dir(p) == d.path {
			l.touch(p, now)
		}
	}
}

// rescanAll rescans every directory, watching those that can be watched
// again first.
func (l *loop) rescanAll(now time.Time) {
	for _, d := range l.dirs {
		if !d.watched && l.watchDir(d) != nil {
			l.scheduleRetry()
		}
		l.rescanDir(d, now)
	}
}

// lost handles the removal or rename of a watched directory.
func (l *loop) lost(d *dirState, now time.Time) {
	d.watched = false
	// The kernel drops the watch on delete; fsnotify drops it on rename.
	// Remove is for whatever is left and fails harmlessly otherwise.
	_ = l.src.Remove(d.path)
	l.w.observe(KindDirMissing)
	l.w.log.Warn("watch directory removed; its files count as removed until it returns", "dir", d.path)
	// Said above; only a different problem, or its return, is logged.
	d.problem = "missing"
	// It may already be back (replaced by a rename).
	if l.watchDir(d) != nil {
		l.scheduleRetry()
	}
	l.rescanDir(d, now)
}

// retryDirs tries the unwatched directories again. It rescans those that
// can now be watched, and those that exist but still cannot be (an inotify
// limit), so their changes are still found, by polling.
func (l *loop) retryDirs(now time.Time) {
	for _, d := range l.dirs {
		if d.watched {
			continue
		}
		if err := l.watchDir(d); err == nil || !absent(err) {
			l.rescanDir(d, now)
		}
	}
	if slices.ContainsFunc(l.dirs, func(d *dirState) bool { return !d.watched }) {
		l.scheduleRetry()
	}
}

func (l *loop) scheduleRetry() {
	if l.retryTimer == nil {
		l.retryTimer = time.NewTimer(l.w.retry)
	}
}

// fsError handles an error from fsnotify.
func (l *loop) fsError(err error, now time.Time) {
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		l.w.observe(KindOverflow)
		l.w.log.Warn("file events were lost (inotify queue overflow; fs.inotify.max_queued_events may be too low); rescanning every watch directory")
		l.rescanAll(now)
		return
	}
	l.w.observe(KindError)
	l.w.log.Warn("file watcher error", "error", err)
}

// arm sets the timer for pending's earliest deadline.
func (l *loop) arm() {
	at, ok := l.pending.next()
	if !ok {
		if !l.armed.IsZero() {
			l.timer.Stop()
			l.armed = time.Time{}
		}
		return
	}
	if !at.Equal(l.armed) {
		// Since Go 1.23 Reset discards a fire not yet received, so a
		// stale tick cannot arrive after this.
		l.timer.Reset(time.Until(at))
		l.armed = at
	}
}

// timerC is t's channel, or nil (never ready) for no timer.
func timerC(t *time.Timer) <-chan time.Time {
	if t == nil {
		return nil
	}
	return t.C
}

// jitter spreads d over [d, d+10%) so replicas do not rescan in step.
func jitter(d time.Duration) time.Duration {
	if d < 10 {
		return d
	}
	return d + rand.N(d/10)
}
