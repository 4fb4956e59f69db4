package watch

import (
	"context"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/resolver/resolvertest"
)

// fakeFS is an in-memory filesystem: directories and files with content.
// A fakeFS never sends events: tests say which events the kernel would
// have sent, so they can also leave them out.
type fakeFS struct {
	mu      sync.Mutex
	dirs    map[string]bool
	files   map[string]string
	listErr map[string]error
	// looks counts fingerprint calls per path: how often Run decided
	// whether a path needs an Event.
	looks map[string]int
}

func newFakeFS() *fakeFS {
	return &fakeFS{dirs: make(map[string]bool), files: make(map[string]string), listErr: make(map[string]error), looks: make(map[string]int)}
}

func (f *fakeFS) mkdir(dir string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dirs[dir] = true
}

// rmdir removes dir and everything in it.
func (f *fakeFS) rmdir(dir string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.dirs, dir)
	for p := range f.files {
		if filepath.Dir(p) == dir {
			delete(f.files, p)
		}
	}
}

func (f *fakeFS) write(path, data string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files[path] = data
}

func (f *fakeFS) remove(path string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.files, path)
}

func (f *fakeFS) list(dir string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.listErr[dir]; err != nil {
		return nil, err
	}
	if !f.dirs[dir] {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: fs.ErrNotExist}
	}
	var names []string
	for p := range f.files {
		if filepath.Dir(p) == dir {
			names = append(names, filepath.Base(p))
		}
	}
	for d := range f.dirs {
		if filepath.Dir(d) == dir && d != dir {
			names = append(names, filepath.Base(d))
		}
	}
	return names, nil
}

func (f *fakeFS) checkDir(dir string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.dirs[dir]:
		return nil
	case f.files[dir] != "":
		return errNotDir
	}
	return &fs.PathError{Op: "stat", Path: dir, Err: fs.ErrNotExist}
}

func (f *fakeFS) fingerprint(path string) (fingerprint, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.looks[path]++
	data, ok := f.files[path]
	if !ok || !f.dirs[filepath.Dir(path)] {
		return fingerprint{}, false, nil
	}
	h := fnv.New64a()
	h.Write([]byte(data))
	return fingerprint{size: int64(len(data)), sum: h.Sum64(), hashed: true}, true, nil
}

func (f *fakeFS) whole(path string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	data, ok := f.files[path]
	return ok && f.dirs[filepath.Dir(path)] && completeJSONObject([]byte(data))
}

// lookCount is how often Run has decided on path so far.
func (f *fakeFS) lookCount(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.looks[path]
}

// fakeSource is an event source the test drives.
type fakeSource struct {
	fs     *fakeFS
	events chan fsnotify.Event
	errors chan error

	mu      sync.Mutex
	addErr  map[string]error
	added   []string
	removed []string
	closed  bool
}

func newFakeSource(fsys *fakeFS) *fakeSource {
	return &fakeSource{fs: fsys, events: make(chan fsnotify.Event), errors: make(chan error), addErr: make(map[string]error)}
}

func (s *fakeSource) Add(dir string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.addErr[dir]; err != nil {
		return err
	}
	if err := s.fs.checkDir(dir); err != nil {
		return err
	}
	s.added = append(s.added, dir)
	return nil
}

func (s *fakeSource) Remove(dir string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removed = append(s.removed, dir)
	return nil
}

func (s *fakeSource) Events() <-chan fsnotify.Event { return s.events }
func (s *fakeSource) Errors() <-chan error          { return s.errors }

func (s *fakeSource) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// harness runs a Watcher on fakes inside a synctest bubble. It must be
// created inside synctest.Test: the Watcher's channels and timers then
// belong to the bubble and time only moves when everything is blocked.
type harness struct {
	t    *testing.T
	fs   *fakeFS
	src  *fakeSource
	w    *Watcher
	out  chan Event
	errc chan error
	stop context.CancelFunc
	logs *resolvertest.LogBuffer

	mu    sync.Mutex
	kinds map[string]int
	// sent is KindChanged or KindRemoved per Event handed over, in order:
	// Run counts each Event through Observe right after sending it.
	sent []string
	// paired counts the Events of out matched with their entry in sent.
	paired int
}

// emitted is an Event as the harness saw it: its path, and how Run counted
// it through Observe (KindChanged or KindRemoved), which is what the
// metrics get and the only place Run says whether the file was gone.
type emitted struct {
	Path string
	Kind string
}

// newHarness builds the Watcher; setup prepares the filesystem and source
// before Run starts. outCap is out's buffer (0: the consumer blocks Run
// until the test receives).
func newHarness(t *testing.T, opts Options, outCap int, setup func(*fakeFS, *fakeSource)) *harness {
	t.Helper()
	h := &harness{t: t, fs: newFakeFS(), out: make(chan Event, outCap), errc: make(chan error, 1), logs: &resolvertest.LogBuffer{}, kinds: make(map[string]int)}
	h.src = newFakeSource(h.fs)
	if setup != nil {
		setup(h.fs, h.src)
	}
	opts.Logger = slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.Observe = func(kind string) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.kinds[kind]++
		if kind == KindChanged || kind == KindRemoved {
			h.sent = append(h.sent, kind)
		}
	}
	w, err := New(opts)
	require.NoError(t, err)
	w.fs = h.fs
	w.newSource = func() (source, error) { return h.src, nil }
	h.w = w
	return h
}

// run starts Run and registers a cleanup that stops it and checks it
// returned nil.
func (h *harness) run() *harness {
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	go func() { h.errc <- h.w.Run(ctx, h.out) }()
	h.t.Cleanup(func() {
		cancel()
		assert.NoError(h.t, <-h.errc)
	})
	synctest.Wait()
	return h
}

// emit delivers one fsnotify event; it returns once Run has taken it.
func (h *harness) emit(op fsnotify.Op, name string) {
	h.src.events <- fsnotify.Event{Name: name, Op: op}
}

// write changes a file and emits what an in-place write shows.
func (h *harness) write(path, data string) {
	h.fs.write(path, data)
	h.emit(fsnotify.Write, path)
}

// create makes a new file and emits Create then Write.
func (h *harness) create(path, data string) {
	h.fs.write(path, data)
	h.emit(fsnotify.Create, path)
	h.emit(fsnotify.Write, path)
}

// remove deletes a file and emits Remove.
func (h *harness) remove(path string) {
	h.fs.remove(path)
	h.emit(fsnotify.Remove, path)
}

// drain waits until the bubble is idle and returns every Event sent so far.
func (h *harness) drain() []emitted {
	synctest.Wait()
	var evs []emitted
	for {
		select {
		case ev := <-h.out:
			// Taking from a full out lets Run send and count the next.
			synctest.Wait()
			evs = append(evs, h.pair(ev))
		default:
			return evs
		}
	}
}

// recv waits for the next Event, for an out without buffer.
func (h *harness) recv() emitted {
	ev := <-h.out
	synctest.Wait() // Run counts it right after the send
	return h.pair(ev)
}

// pair matches ev, the next Event taken from out, with how Run counted it.
func (h *harness) pair(ev Event) emitted {
	h.mu.Lock()
	defer h.mu.Unlock()
	require.Less(h.t, h.paired, len(h.sent), "Run did not count the Event for %s", ev.Path)
	em := emitted{Path: ev.Path, Kind: h.sent[h.paired]}
	h.paired++
	return em
}

// after sleeps d of bubble time and drains.
func (h *harness) after(d time.Duration) []emitted {
	time.Sleep(d)
	return h.drain()
}

func (h *harness) kind(k string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.kinds[k]
}

func (h *harness) synced() bool {
	select {
	case <-h.w.Synced():
		return true
	default:
		return false
	}
}

func changed(paths ...string) []emitted { return emittedAs(KindChanged, paths) }

func removed(paths ...string) []emitted { return emittedAs(KindRemoved, paths) }

func emittedAs(kind string, paths []string) []emitted {
	evs := make([]emitted, len(paths))
	for i, p := range paths {
		evs[i] = emitted{Path: p, Kind: kind}
	}
	return evs
}

// sorted orders events by path, for bursts whose order is not specified.
func sorted(evs []emitted) []emitted {
	evs = slices.Clone(evs)
	slices.SortFunc(evs, func(a, b emitted) int { return strings.Compare(a.Path, b.Path) })
	return evs
}
