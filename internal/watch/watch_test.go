//go:build linux

package watch_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/nobody"
	"omsecrets/internal/watch"
	"omsecrets/resolver/resolvertest"
)

// These tests run the real watcher on real inotify in t.TempDir(). They
// are real-time: every wait is generous (the machine is loaded and -race
// is on), and absence of events is checked with a barrier, not a sleep.
// They cannot run in a synctest bubble: fsnotify's reader is blocked in a
// syscall, which is not a durable block, so bubble time would never move.
// The timing itself (Quiet, MaxWait, rescans) is tested exactly, on fakes
// in a bubble, in loop_test.go; the few real-time waits left here are
// bounded and say why.

const (
	fastQuiet = 50 * time.Millisecond
	// eventTimeout bounds every wait for an expected event.
	eventTimeout = 20 * time.Second
)

// seen is an Event as the consumer sees it: the daemon reads the file
// when it acts on an Event, and a file that is not there is a removal.
// Data is the content at that moment, read only by a running started with
// startReading.
type seen struct {
	Path string
	Gone bool
	Data string
}

// look is what the consumer makes of ev when it receives it.
func look(ev watch.Event, read bool) seen {
	if read {
		data, err := os.ReadFile(ev.Path)
		return seen{Path: ev.Path, Gone: errors.Is(err, os.ErrNotExist), Data: string(data)}
	}
	_, err := os.Stat(ev.Path)
	return seen{Path: ev.Path, Gone: errors.Is(err, os.ErrNotExist)}
}

// running is a Watcher running on real directories, with a concurrent
// consumer collecting its events.
type running struct {
	w      *watch.Watcher
	got    chan seen
	logs   *resolvertest.LogBuffer
	cancel context.CancelFunc
	// stopped is closed once Run has returned (with runErr) and every
	// event it sent is in got.
	stopped  chan struct{}
	runErr   error
	barriers atomic.Int64
}

func start(t *testing.T, opts watch.Options) *running {
	t.Helper()
	return startWith(t, opts, false, true)
}

// startReading is start with a consumer that reads each file the moment
// its Event arrives (seen.Data), as the daemon does; fast is the fast path
// for whole JSON files (watch.SetFastJSON).
func startReading(t *testing.T, opts watch.Options, fast bool) *running {
	t.Helper()
	return startWith(t, opts, true, fast)
}

func startWith(t *testing.T, opts watch.Options, read, fast bool) *running {
	t.Helper()
	r := &running{got: make(chan seen, 4096), logs: &resolvertest.LogBuffer{}, stopped: make(chan struct{})}
	if opts.Quiet == 0 {
		opts.Quiet = fastQuiet
	}
	if opts.MaxWait == 0 {
		opts.MaxWait = 5 * time.Second
	}
	opts.Logger = slog.New(slog.NewJSONHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w, err := watch.New(opts)
	require.NoError(t, err)
	watch.SetFastJSON(w, fast)
	r.w = w

	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	out := make(chan watch.Event) // unbuffered: the consumer below paces Run
	go func() {
		for ev := range out {
			r.got <- look(ev, read)
		}
		close(r.stopped)
	}()
	go func() {
		r.runErr = w.Run(ctx, out)
		close(out)
	}()
	t.Cleanup(func() { r.stop(t) })
	select {
	case <-w.Synced():
	case <-r.stopped:
		t.Fatalf("Run returned before the initial scan: %v", r.runErr)
	case <-time.After(eventTimeout):
		t.Fatal("initial scan not emitted")
	}
	return r
}

// stop cancels Run and checks it returned nil promptly. It may be called
// more than once.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case <-r.stopped:
		assert.NoError(t, r.runErr)
	case <-time.After(eventTimeout):
		t.Fatal("Run did not return after cancel")
	}
}

// next returns the next event.
func (r *running) next(t *testing.T) seen {
	t.Helper()
	select {
	case ev := <-r.got:
		return ev
	case <-time.After(eventTimeout):
		t.Fatal("no event")
		return seen{}
	}
}

// take returns the next n events sorted by path (their order across paths
// is not specified).
func (r *running) take(t *testing.T, n int) []seen {
	t.Helper()
	evs := make([]seen, n)
	for i := range evs {
		evs[i] = r.next(t)
	}
	slices.SortFunc(evs, func(a, b seen) int { return strings.Compare(a.Path, b.Path) })
	return evs
}

// barrier creates a new file in dir and returns every event that arrived
// before the barrier's own. Whatever an earlier change caused has been
// emitted by then: its burst began before the barrier's, and bursts due at
// the same moment are emitted in path order (zz- sorts last). The barrier
// is YAML because a whole JSON file does not wait for quiet, and would
// overtake the bursts it is there to wait for.
func (r *running) barrier(t *testing.T, dir string) []seen {
	t.Helper()
	p := filepath.Join(dir, fmt.Sprintf("zz-barrier-%d.yaml", r.barriers.Add(1)))
	writeFile(t, p, "{}")
	var before []seen
	for {
		ev := r.next(t)
		if ev.Path == p {
			return before
		}
		before = append(before, ev)
	}
}

func changed(p string) seen { return seen{Path: p} }
func removed(p string) seen { return seen{Path: p, Gone: true} }

// writeFile puts a complete file at path by writing an ineligible name
// and renaming it, so the file appears in one event whatever the
// scheduler does. Tests about in-place writes write in place themselves
// (os.WriteFile), with a Quiet long enough to cover a stalled writer.
func writeFile(t *testing.T, path, data string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path+".part", []byte(data), 0o600))
	require.NoError(t, os.Rename(path+".part", path))
}

func TestInitialScanAndCreate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.json"), "{}")
	writeFile(t, filepath.Join(dir, "b.yml"), "a: 1")
	writeFile(t, filepath.Join(dir, "notes.txt"), "x")
	r := start(t, watch.Options{Dirs: []string{dir}})
	assert.Equal(t, []seen{changed(filepath.Join(dir, "a.json")), changed(filepath.Join(dir, "b.yml"))}, r.take(t, 2))

	writeFile(t, filepath.Join(dir, "c.yaml"), "c: 1")
	assert.Equal(t, changed(filepath.Join(dir, "c.yaml")), r.next(t))
	assert.Empty(t, r.barrier(t, dir))
}

// TestInPlaceChunkedWrite is how OpenMetadata writes <dag_id>.json: open
// with "w" and write (openmetadata_managed_apis/operations/deploy.py), which
// a reader can catch half-written.
func TestInPlaceChunkedWrite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "dag.json")
	writeFile(t, p, `{"v":0}`)
	// The pauses are far shorter than Quiet, even on a loaded machine.
	r := start(t, watch.Options{Dirs: []string{dir}, Quiet: 500 * time.Millisecond, MaxWait: time.Minute})
	require.Equal(t, changed(p), r.next(t))

	full := `{"source":{"type":"mysql"},"workflowConfig":{"password":"not-yet"},"v":1}`
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	require.NoError(t, err)
	for chunk := range slices.Chunk([]byte(full), 16) {
		_, err := f.Write(chunk)
		require.NoError(t, err)
		// A real pause between real writes, each its own inotify event:
		// the stalled writer is what is under test, not a synchronisation.
		time.Sleep(10 * time.Millisecond)
	}
	require.NoError(t, f.Close())

	require.Equal(t, changed(p), r.next(t))
	data, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, full, string(data), "the event came before the write was complete")
	assert.Empty(t, r.barrier(t, dir), "one event per burst")
}

func TestReplaceByRename(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		write func(t *testing.T, dir, p string)
	}{
		{
			name: "swap file renamed over",
			write: func(t *testing.T, dir, p string) {
				swp := filepath.Join(dir, ".x.json.swp")
				require.NoError(t, os.WriteFile(swp, []byte(`{"v":2}`), 0o600))
				require.NoError(t, os.Rename(swp, p))
			},
		},
		{
			name: "vim with backup",
			write: func(t *testing.T, dir, p string) {
				probe := filepath.Join(dir, "4913")
				require.NoError(t, os.WriteFile(probe, nil, 0o600))
				require.NoError(t, os.Remove(probe))
				require.NoError(t, os.Rename(p, p+"~"))
				require.NoError(t, os.WriteFile(p, []byte(`{"v":2}`), 0o600))
				require.NoError(t, os.Remove(p+"~"))
			},
		},
		{
			name: "mv tmp x",
			write: func(t *testing.T, dir, p string) {
				tmp := filepath.Join(dir, "x.json.tmp")
				require.NoError(t, os.WriteFile(tmp, []byte(`{"v":2}`), 0o600))
				require.NoError(t, os.Rename(tmp, p))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			p := filepath.Join(dir, "x.json")
			writeFile(t, p, `{"v":1}`)
			// The editor's steps run well within Quiet, even stalled.
			r := start(t, watch.Options{Dirs: []string{dir}, Quiet: 500 * time.Millisecond})
			require.Equal(t, changed(p), r.next(t))

			tt.write(t, dir, p)
			assert.Equal(t, changed(p), r.next(t))
			assert.Empty(t, r.barrier(t, dir))
		})
	}
}

func TestDeleteAndIgnoredNames(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "x.json")
	writeFile(t, p, "{}")
	r := start(t, watch.Options{Dirs: []string{dir}})
	require.Equal(t, changed(p), r.next(t))

	require.NoError(t, os.Remove(p))
	assert.Equal(t, removed(p), r.next(t))

	for _, name := range []string{".hidden.json", "x.json~", "notes.txt", ".x.json.swp", "4913", "#x.json#", "x.json.tmp"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("{}"), 0o600))
	}
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub.json"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sub.json", "inner.json"), []byte("{}"), 0o600))
	require.NoError(t, os.Symlink("nowhere.json", filepath.Join(dir, "dangling.json")))
	assert.Empty(t, r.barrier(t, dir))
}

// atomicWrite projects payload into dir the way the kubelet's AtomicWriter
// does (kubernetes pkg/volume/util/atomic_writer.go, Write steps 5-12):
// a new ..<timestamp> directory, a ..data_tmp symlink to it renamed over
// ..data, visible symlinks name -> ..data/name created for new names and
// removed for dropped ones, then the old timestamped directory removed.
func atomicWrite(t *testing.T, dir string, payload map[string]string) {
	t.Helper()
	dataLink := filepath.Join(dir, "..data")
	oldTS, err := os.Readlink(dataLink)
	if errors.Is(err, os.ErrNotExist) {
		oldTS = ""
	} else {
		require.NoError(t, err)
	}
	var oldNames []string
	if oldTS != "" {
		entries, err := os.ReadDir(filepath.Join(dir, oldTS))
		require.NoError(t, err)
		for _, e := range entries {
			oldNames = append(oldNames, e.Name())
		}
	}
	// (5) (6) new timestamped directory with the payload.
	ts, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	require.NoError(t, err)
	for name, data := range payload {
		require.NoError(t, os.WriteFile(filepath.Join(ts, name), []byte(data), 0o600))
	}
	// (8) (9) ..data_tmp -> new dir, renamed over ..data.
	tmpLink := filepath.Join(dir, "..data_tmp")
	require.NoError(t, os.Symlink(filepath.Base(ts), tmpLink))
	require.NoError(t, os.Rename(tmpLink, dataLink))
	// (10) visible symlinks for new names.
	for name := range payload {
		if _, err := os.Lstat(filepath.Join(dir, name)); errors.Is(err, os.ErrNotExist) {
			require.NoError(t, os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)))
		}
	}
	// (11) visible names no longer in the payload.
	for _, name := range oldNames {
		if _, ok := payload[name]; !ok {
			require.NoError(t, os.Remove(filepath.Join(dir, name)))
		}
	}
	// (12) the previous timestamped directory.
	if oldTS != "" {
		require.NoError(t, os.RemoveAll(filepath.Join(dir, oldTS)))
	}
}

func TestKubernetesDataSwap(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	atomicWrite(t, dir, map[string]string{"changed.json": `{"v":1}`, "same.yaml": "v: 1", "dropped.json": `{"v":1}`})
	r := start(t, watch.Options{Dirs: []string{dir}})
	require.Equal(t, []seen{
		changed(filepath.Join(dir, "changed.json")),
		changed(filepath.Join(dir, "dropped.json")),
		changed(filepath.Join(dir, "same.yaml")),
	}, r.take(t, 3))

	atomicWrite(t, dir, map[string]string{"changed.json": `{"v":2}`, "same.yaml": "v: 1", "added.json": `{"v":1}`})
	assert.Equal(t, []seen{
		changed(filepath.Join(dir, "added.json")),
		changed(filepath.Join(dir, "changed.json")),
		removed(filepath.Join(dir, "dropped.json")),
	}, r.take(t, 3))
	assert.Empty(t, r.barrier(t, dir), "same.yaml is unchanged although its inode is new")

	// A second swap changes only same.yaml's content: no event touches
	// the visible name at all.
	atomicWrite(t, dir, map[string]string{"changed.json": `{"v":2}`, "same.yaml": "v: 2", "added.json": `{"v":1}`})
	assert.Equal(t, changed(filepath.Join(dir, "same.yaml")), r.next(t))
	assert.Empty(t, r.barrier(t, dir))
}

func TestTwoDirs(t *testing.T) {
	t.Parallel()
	a, b := t.TempDir(), t.TempDir()
	r := start(t, watch.Options{Dirs: []string{a, b}})
	writeFile(t, filepath.Join(a, "x.json"), "{}")
	writeFile(t, filepath.Join(b, "x.json"), "{}")
	want := []seen{changed(filepath.Join(a, "x.json")), changed(filepath.Join(b, "x.json"))}
	slices.SortFunc(want, func(x, y seen) int { return strings.Compare(x.Path, y.Path) })
	assert.Equal(t, want, r.take(t, 2))
	assert.Empty(t, r.barrier(t, a))
	assert.Empty(t, r.barrier(t, b))
}

func TestDirCreatedAfterStart(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "later")
	// A short Rescan also shortens the retry of missing directories.
	r := start(t, watch.Options{Dirs: []string{dir}, Rescan: 100 * time.Millisecond})
	require.NoError(t, os.Mkdir(dir, 0o700))
	writeFile(t, filepath.Join(dir, "a.json"), "{}")
	assert.Equal(t, changed(filepath.Join(dir, "a.json")), r.next(t))
	// Watched now: an event-driven change arrives too.
	writeFile(t, filepath.Join(dir, "b.json"), "{}")
	assert.Equal(t, changed(filepath.Join(dir, "b.json")), r.next(t))
	assert.Equal(t, 1, strings.Count(r.logs.String(), "does not exist"), "warned once, not per retry")
}

func TestDirRemoved(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		gone func(t *testing.T, dir string)
	}{
		{name: "removed", gone: func(t *testing.T, dir string) { require.NoError(t, os.RemoveAll(dir)) }},
		{name: "renamed away", gone: func(t *testing.T, dir string) { require.NoError(t, os.Rename(dir, dir+".old")) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "defs")
			require.NoError(t, os.Mkdir(dir, 0o700))
			writeFile(t, filepath.Join(dir, "a.json"), "{}")
			writeFile(t, filepath.Join(dir, "b.json"), "{}")
			// A short Rescan also shortens the retry of missing directories.
			r := start(t, watch.Options{Dirs: []string{dir}, Rescan: 500 * time.Millisecond})
			require.Len(t, r.take(t, 2), 2)

			tt.gone(t, dir)
			assert.Equal(t, []seen{removed(filepath.Join(dir, "a.json")), removed(filepath.Join(dir, "b.json"))}, r.take(t, 2))
			// fsnotify reports the directory's own removal or rename
			// (IN_DELETE_SELF, IN_MOVE_SELF), not only a later rescan.
			assert.Contains(t, r.logs.String(), "watch directory removed")

			// It comes back.
			require.NoError(t, os.Mkdir(dir, 0o700))
			writeFile(t, filepath.Join(dir, "a.json"), "{}")
			assert.Equal(t, changed(filepath.Join(dir, "a.json")), r.next(t))
			assert.Empty(t, r.barrier(t, dir))
		})
	}
}

func TestOverflowRescanFindsBlindChanges(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.json"), `{"v":1}`)
	writeFile(t, filepath.Join(dir, "b.json"), `{"v":1}`)
	var overflows atomic.Int64
	r := start(t, watch.Options{Dirs: []string{dir}, Observe: func(kind string) {
		if kind == watch.KindOverflow {
			overflows.Add(1)
		}
	}})
	require.Len(t, r.take(t, 2), 2)

	// From here on every kernel event is lost, as in an overflow.
	watch.SetBlind(r.w, true)
	writeFile(t, filepath.Join(dir, "a.json"), `{"v":2}`)
	require.NoError(t, os.Remove(filepath.Join(dir, "b.json")))
	writeFile(t, filepath.Join(dir, "c.json"), `{"v":1}`)
	// The kernel delivers the events asynchronously and the watcher
	// exposes no signal for a drop but the counter: poll it, bounded.
	require.Eventually(t, func() bool { return watch.Dropped(r.w) >= 4 }, eventTimeout, 10*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	require.NoError(t, watch.InjectError(ctx, r.w, fsnotify.ErrEventOverflow))
	assert.Equal(t, []seen{
		changed(filepath.Join(dir, "a.json")),
		removed(filepath.Join(dir, "b.json")),
		changed(filepath.Join(dir, "c.json")),
	}, r.take(t, 3))
	assert.EqualValues(t, 1, overflows.Load())
	assert.Contains(t, r.logs.String(), "max_queued_events")

	watch.SetBlind(r.w, false)
	assert.Empty(t, r.barrier(t, dir))
}

func TestManyFilesAtOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// Plain creates (Create and Write each); Quiet covers a writer stalled
	// between the two.
	r := start(t, watch.Options{Dirs: []string{dir}, Quiet: time.Second})
	const n = 200
	want := make(map[string]bool, n)
	for i := range n {
		p := filepath.Join(dir, fmt.Sprintf("dag_%03d.json", i))
		want[p] = true
		require.NoError(t, os.WriteFile(p, []byte(fmt.Sprintf(`{"i":%d}`, i)), 0o600))
	}
	got := make(map[string]bool, n)
	for range n {
		ev := r.next(t)
		require.False(t, ev.Gone, "%s is there", ev.Path)
		require.True(t, want[ev.Path], "unexpected %v", ev)
		require.False(t, got[ev.Path], "duplicate %v", ev)
		got[ev.Path] = true
	}
	assert.Empty(t, r.barrier(t, dir))
}

// TestCancel is not parallel: it counts goroutines.
func TestCancel(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.json"), "{}")
	before := runtime.NumGoroutine()

	w, err := watch.New(watch.Options{Dirs: []string{dir}, Quiet: fastQuiet, Rescan: time.Minute})
	require.NoError(t, err)
	out := make(chan watch.Event, 100)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx, out) }()
	<-w.Synced()
	writeFile(t, filepath.Join(dir, "b.json"), "{}") // a burst in flight at cancel

	cancel()
	select {
	case err := <-errc:
		assert.NoError(t, err)
	case <-time.After(eventTimeout):
		t.Fatal("Run did not return after cancel")
	}
	n := len(out)
	writeFile(t, filepath.Join(dir, "c.json"), "{}")
	// Run's goroutine and fsnotify's reader are gone. The reader exits
	// when the kernel closes its inotify descriptor, which nothing can
	// wait on: poll, bounded by eventTimeout. Polled here, not with
	// assert.Eventually: that runs the condition on a goroutine of its
	// own, which would be counted.
	deadline := time.Now().Add(eventTimeout)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if now := runtime.NumGoroutine(); now > before {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines: before %d, now %d\n%s", before, now, buf[:runtime.Stack(buf, true)])
	}
	assert.Len(t, out, n, "an event was sent after Run returned")
}

// TestNoContentInLogsOrErrors plants a marker in definitions and checks it
// never reaches a log line (at debug), an error or a metric kind, whatever
// the watcher went through, an unreadable definition included: as root
// (CI) it runs in a child process as nobody (see internal/testbed/nobody), for
// whom mode 000 means unreadable.
func TestNoContentInLogsOrErrors(t *testing.T) {
	t.Parallel()
	nobody.Run(t, nil, noContentInLogsOrErrors)
}

func noContentInLogsOrErrors(t *testing.T, dir string) {
	const marker = "PLANTED-SECRET-7f3a9c"
	missing := filepath.Join(t.TempDir(), "missing")
	p := filepath.Join(dir, "a.json")
	writeFile(t, p, `{"password":"`+marker+`"}`)
	var kinds sync.Map
	r := start(t, watch.Options{Dirs: []string{dir, missing}, Rescan: 100 * time.Millisecond, Observe: func(kind string) {
		kinds.Store(kind, true)
	}})
	require.Equal(t, changed(p), r.next(t))

	writeFile(t, p, `{"password":"`+marker+`-2"}`)
	require.Equal(t, changed(p), r.next(t))
	big := filepath.Join(dir, "big.json")
	writeFile(t, big, strings.Repeat(marker, 1<<20/len(marker)+1))
	require.Equal(t, changed(big), r.next(t))
	require.NoError(t, os.Chmod(p, 0))
	_, err := os.ReadFile(p)
	require.ErrorIs(t, err, os.ErrPermission, "p must be unreadable to the watcher")
	require.NoError(t, os.Symlink(marker+".json", filepath.Join(dir, "dangling.json")))
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	require.NoError(t, watch.InjectError(ctx, r.w, fmt.Errorf("some fsnotify error")))
	require.NoError(t, watch.InjectError(ctx, r.w, fsnotify.ErrEventOverflow))
	require.NoError(t, os.Remove(p))
	// The barrier also lets periodic rescans go by.
	before := r.barrier(t, dir)
	assert.Contains(t, before, removed(p))
	r.stop(t)

	logs := r.logs.String()
	require.Contains(t, logs, "some fsnotify error", "the logs were captured")
	assert.NotContains(t, logs, marker)
	kinds.Range(func(k, _ any) bool {
		assert.NotContains(t, k.(string), marker)
		return true
	})
}
