package watch

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Defaults for Options. DefaultRescan is what callers should pass for the
// usual safety net: a zero Options.Rescan disables periodic rescans.
const (
	DefaultQuiet   = 300 * time.Millisecond
	DefaultMaxWait = 3 * time.Second
	DefaultRescan  = 5 * time.Minute
)

// dirRetry is how often directories that are not watched (missing, or
// failing to be added) are tried again, unless Options.Rescan is shorter.
const dirRetry = 5 * time.Second

// Kinds passed to Options.Observe. The set is fixed, so it is safe as a
// metric label.
const (
	// KindFSEvent is one event received from fsnotify, relevant or not.
	KindFSEvent = "fs_event"
	// KindCoalesced is an fsnotify event merged into a burst already
	// waiting for its path (or directory rescan).
	KindCoalesced = "coalesced"
	// KindRescan is one directory rescanned, whatever the reason.
	KindRescan = "rescan"
	// KindOverflow is an fsnotify queue overflow: events were lost and
	// every directory is rescanned.
	KindOverflow = "overflow"
	// KindError is any other error from fsnotify or from checking a file;
	// it is logged and the watcher carries on.
	KindError = "error"
	// KindDirMissing is a watch directory found missing or unwatchable,
	// at start or later.
	KindDirMissing = "dir_missing"
	// KindChanged is an Event handed to the consumer for a file that
	// exists (new to the watcher, or its content changed); KindRemoved
	// one for a file an earlier Event reported that is gone (or no longer
	// a regular file).
	KindChanged = "changed"
	KindRemoved = "removed"
)

// Options configures a Watcher.
type Options struct {
	// Dirs are the directories whose direct children are definitions.
	// Each is watched as given (cleaned); Event paths start with it.
	Dirs []string
	// Quiet is how long a path must see no events before its Event is
	// emitted; 0 means DefaultQuiet. A .json file whose content is one
	// complete JSON object does not wait for it (see the package doc).
	Quiet time.Duration
	// MaxWait bounds how long after the first event of a burst its Event
	// is emitted, however busy the path stays; 0 means DefaultMaxWait (or
	// Quiet, if that is longer). It must not be shorter than Quiet.
	MaxWait time.Duration
	// Rescan is the period of full rescans, jittered by up to +10%; 0
	// disables them (see DefaultRescan). Unwatched directories are retried
	// every 5s, or every Rescan if that is shorter.
	Rescan time.Duration
	// Logger receives warnings (missing directories, overflows, fsnotify
	// errors) and one debug line per Event; nil discards.
	Logger *slog.Logger
	// Observe, if set, is called with one of the Kind constants for each
	// thing counted. It is called from Run's goroutine and must not block.
	Observe func(kind string)
}

// Event says that a definition file may need reconciling again: its
// content differs from what the last Event for it saw (or there was none:
// the initial scan, a new file), or a file an earlier Event reported is
// gone. It does not say which: the consumer reads the file anyway and so
// finds out itself, at the moment it acts, which also covers a file
// replaced again after the Event was sent. (Observe still counts the two
// apart, as KindChanged and KindRemoved.)
type Event struct {
	// Path is the watch directory joined with the file's name: the
	// visible name, never a resolved symlink target.
	Path string
}

// Watcher watches directories for definition files. Build it with New and
// call Run once; Synced may be called from any goroutine.
type Watcher struct {
	dirs    []string
	quiet   time.Duration
	maxWait time.Duration
	rescan  time.Duration
	retry   time.Duration
	log     *slog.Logger
	observe func(kind string)

	// synced is closed by Run once the initial scan has been emitted.
	synced  chan struct{}
	running atomic.Bool

	// fastJSON lets a .json file whose content is whole skip the quiet
	// period (runState.hurry). Always on outside tests, which turn it
	// off (SetFastJSON) to measure or check the quiet period alone.
	fastJSON bool

	// fs and newSource are the filesystem and the event source; tests
	// replace them with fakes.
	fs        filesystem
	newSource func() (source, error)

	hooks hooks
}

// hooks let tests reach inside a running Watcher.
type hooks struct {
	// inject delivers errors to Run as if from fsnotify's Errors channel
	// (a real overflow cannot be provoked reliably in a test).
	inject chan error
	// blind makes Run drop every fsnotify event, as the kernel does when
	// its queue overflows; dropped counts them.
	blind   atomic.Bool
	dropped atomic.Int64
}

// New validates opts and returns a Watcher. It does no I/O: directories
// are looked at by Run.
func New(opts Options) (*Watcher, error) {
	if len(opts.Dirs) == 0 {
		return nil, errors.New("no watch directories")
	}
	var dirs []string
	for _, d := range opts.Dirs {
		if d == "" {
			return nil, errors.New("empty watch directory name")
		}
		d = filepath.Clean(d)
		if !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	if opts.Quiet < 0 || opts.MaxWait < 0 || opts.Rescan < 0 {
		return nil, fmt.Errorf("negative watch duration (quiet %v, max wait %v, rescan %v)", opts.Quiet, opts.MaxWait, opts.Rescan)
	}
	if opts.Quiet == 0 {
		opts.Quiet = DefaultQuiet
	}
	if opts.MaxWait == 0 {
		opts.MaxWait = max(DefaultMaxWait, opts.Quiet)
	}
	if opts.MaxWait < opts.Quiet {
		return nil, fmt.Errorf("watch max wait %v is shorter than the quiet period %v", opts.MaxWait, opts.Quiet)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	observe := opts.Observe
	if observe == nil {
		observe = func(string) {}
	}
	retry := dirRetry
	if opts.Rescan > 0 {
		retry = min(retry, opts.Rescan)
	}
	return &Watcher{
		dirs:     dirs,
		quiet:    opts.Quiet,
		maxWait:  opts.MaxWait,
		rescan:   opts.Rescan,
		retry:    retry,
		log:      log.With("component", "watch"),
		observe:  observe,
		synced:   make(chan struct{}),
		fastJSON: true,
		fs:       osFS{seed: maphash.MakeSeed()},
		newSource: func() (source, error) {
			w, err := fsnotify.NewWatcher()
			if err != nil {
				return nil, err
			}
			return notifier{w}, nil
		},
		hooks: hooks{inject: make(chan error)},
	}, nil
}

// Synced returns a channel that is closed once Run has emitted the
// initial scan: every eligible file present at start has been handed to
// out (or found gone by then). Readiness waits on it. It stays open if Run
// fails first.
func (w *Watcher) Synced() <-chan struct{} { return w.synced }

// Run watches until ctx is done, then returns nil; it returns an error
// only when watching cannot work at all (fsnotify cannot be started, or no
// directory can be watched for a reason other than not existing yet). It
// may be called once.
//
// Run first emits one Event for every eligible file present (the initial
// scan; see Synced), then one per coalesced change or removal; a change
// that leaves a .json file a complete JSON object is emitted at once.
// A directory that does not exist is logged once and picked up when it
// appears: unwatched directories are retried every 5s (or every Rescan, if
// shorter), which costs one stat. A directory that exists but cannot be
// watched (an inotify limit) is logged once and polled at that interval
// until it can be. A directory that disappears gets an Event for each of
// its files reported so far.
//
// Backpressure: a send on out may block (the channel is bounded and its
// consumer may be busy). While it does, Run keeps reading fsnotify events
// and keeps coalescing; nothing is lost, only merged. Paths whose burst is
// over wait in order, once each; a path that changes again while waiting
// keeps its place, and whether it still needs an Event is decided from a
// fresh look at the file right before it is handed over.
//
// Goroutines: Run does its work on the calling goroutine, which alone owns
// all of the watcher's state. The only other goroutine is fsnotify's
// reader, started by Run and closed (and waited for) before Run returns;
// nothing is sent on out after Run returns.
func (w *Watcher) Run(ctx context.Context, out chan<- Event) error {
	if out == nil {
		return errors.New("watch: nil out channel")
	}
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("watch: Run called more than once")
	}
	src, err := w.newSource()
	if err != nil {
		return fmt.Errorf("start file watcher for %q: %w", w.dirs, withHint(err))
	}
	defer func() { _ = src.Close() }()
	return newRunState(w, src, out).run(ctx)
}
