//go:build linux

package watch_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/watch"
)

// These tests are about the fast path: a .json file whose content is one
// complete JSON object is handed over without waiting for quiet. Quiet is
// long (slowQuiet) so that an Event within fastBound can only be the fast
// path's, and an Event of half a file could only be the fast path's
// mistake.
const (
	slowQuiet = 5 * time.Second
	// fastBound is how soon a whole file's Event must come: far below
	// slowQuiet, and generous for a loaded machine with -race.
	fastBound = time.Second
)

// definition is a workflow definition of about n bytes.
func definition(n int) string {
	var b strings.Builder
	b.WriteString(`{"source":{"type":"mysql","serviceName":"local_mysql"},"workflowConfig":{"openMetadataServerConfig":{"hostPort":"http://om:8585/api"}},"pad":"`)
	for b.Len() < n-2 {
		b.WriteByte('x')
	}
	b.WriteString(`"}`)
	return b.String()
}

// nextWithin returns the next event and how long after since it came.
func (r *running) nextWithin(t *testing.T, since time.Time) (seen, time.Duration) {
	t.Helper()
	ev := r.next(t)
	return ev, time.Since(since)
}

func TestWholeJSONGoesAtOnce(t *testing.T) {
	t.Parallel()
	doc := definition(600)
	tests := []struct {
		name string
		old  bool // the file exists before the write
		// write puts doc at p.
		write func(t *testing.T, dir, p string)
	}{
		{
			name: "renamed into place",
			write: func(t *testing.T, _, p string) {
				writeFile(t, p, doc)
			},
		},
		{
			name: "hidden temp file renamed over",
			old:  true,
			write: func(t *testing.T, dir, p string) {
				tmp := filepath.Join(dir, ".dag.json.tmp123")
				require.NoError(t, os.WriteFile(tmp, []byte(doc), 0o600))
				require.NoError(t, os.Rename(tmp, p))
			},
		},
		{
			name: "new file written in place",
			write: func(t *testing.T, _, p string) {
				require.NoError(t, os.WriteFile(p, []byte(doc), 0o600))
			},
		},
		{
			name: "rewritten in place",
			old:  true,
			write: func(t *testing.T, _, p string) {
				require.NoError(t, os.WriteFile(p, []byte(doc), 0o600))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			p := filepath.Join(dir, "dag.json")
			if tt.old {
				writeFile(t, p, `{"v":0}`)
			}
			r := startReading(t, watch.Options{Dirs: []string{dir}, Quiet: slowQuiet, MaxWait: time.Minute}, true)
			if tt.old {
				require.Equal(t, seen{Path: p, Data: `{"v":0}`}, r.next(t))
			}

			began := time.Now()
			tt.write(t, dir, p)
			ev, took := r.nextWithin(t, began)
			assert.Equal(t, seen{Path: p, Data: doc}, ev)
			assert.Less(t, took, fastBound, "a whole JSON file waited (quiet is %v)", slowQuiet)
			assert.Empty(t, r.barrier(t, dir), "one Event, and nothing after quiet")
		})
	}
}

// TestWholeJSONIgnoredNamesStayIgnored: whole JSON content on names the
// watcher ignores (hidden, temporary, backups, not a direct child) gives
// no Event, fast or slow.
func TestWholeJSONIgnoredNamesStayIgnored(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := startReading(t, watch.Options{Dirs: []string{dir}, Quiet: slowQuiet, MaxWait: time.Minute}, true)
	for _, name := range []string{".hidden.json", ".x.json.swp", "x.json~", "x.json.tmp", "x.json.part", "#x.json#", "notes.txt"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(`{"a":1}`), 0o600))
	}
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub.json"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sub.json", "inner.json"), []byte(`{"a":1}`), 0o600))
	assert.Empty(t, r.barrier(t, dir))
}

// TestChunkedWriteNeverHandsOverHalf writes a definition in small chunks
// with real pauses, each chunk its own inotify event, while the consumer
// reads the file at every Event: no Event ever finds less than the whole
// document, and the whole one comes at once.
func TestChunkedWriteNeverHandsOverHalf(t *testing.T) {
	t.Parallel()
	full := definition(350)
	tests := []struct {
		name string
		old  string // content before; "" means the file is new
		flag int
	}{
		{name: "new file", flag: os.O_WRONLY | os.O_CREATE | os.O_EXCL},
		{name: "truncated then rewritten", old: definition(500), flag: os.O_WRONLY | os.O_TRUNC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			p := filepath.Join(dir, "dag.json")
			if tt.old != "" {
				writeFile(t, p, tt.old)
			}
			// Quiet is far longer than the whole write, so any Event
			// before the end would be the fast path's.
			r := startReading(t, watch.Options{Dirs: []string{dir}, Quiet: slowQuiet, MaxWait: time.Minute}, true)
			if tt.old != "" {
				require.Equal(t, seen{Path: p, Data: tt.old}, r.next(t))
			}

			f, err := os.OpenFile(p, tt.flag, 0o600)
			require.NoError(t, err)
			chunks := 0
			for chunk := range slices.Chunk([]byte(full), 7) {
				_, err := f.Write(chunk)
				require.NoError(t, err)
				chunks++
				// Real pauses, not synchronisation: the writer caught
				// midway is what is under test.
				time.Sleep(time.Duration(20+rand.IntN(31)) * time.Millisecond)
			}
			require.NoError(t, f.Close())
			done := time.Now()
			require.Greater(t, chunks, 40)

			ev, took := r.nextWithin(t, done)
			assert.Equal(t, seen{Path: p, Data: full}, ev, "an Event found the file half-written")
			assert.Less(t, took, fastBound, "the whole file waited for quiet")
			for _, ev := range r.barrier(t, dir) {
				assert.Equal(t, seen{Path: p, Data: full}, ev, "a later Event found the file half-written")
			}
		})
	}
}

// TestNotWholeWaitsForQuiet: YAML, JSON that does not parse as exactly one
// object, and whole JSON larger than the watcher reads, all wait for quiet
// as before.
func TestNotWholeWaitsForQuiet(t *testing.T) {
	t.Parallel()
	const quiet = 2 * time.Second
	dir := t.TempDir()
	r := startReading(t, watch.Options{Dirs: []string{dir}, Quiet: quiet, MaxWait: time.Minute}, true)
	files := map[string]string{
		"a.yaml":         "a: 1\n",
		"json-obj.yaml":  `{"b":1}`,
		"json-obj.yml":   `{"b":1}`,
		"comma.json":     `{"c":1,}`,
		"truncated.json": `{"c":{"d":1}`,
		"array.json":     `[{"d":1}]`,
		"number.json":    `123`,
		"bom.json":       "\ufeff{\"e\":1}",
		"trailing.json":  `{"f":1} x`,
		"two.json":       `{"g":1}{"g":2}`,
		"big.json":       definition(1<<20 + 1),
	}
	written := make(map[string]time.Time, len(files))
	for name, data := range files {
		p := filepath.Join(dir, name)
		written[p] = time.Now()
		writeFile(t, p, data)
	}
	for range files {
		ev := r.next(t)
		began, ok := written[ev.Path]
		require.True(t, ok, "unexpected %s", ev.Path)
		delete(written, ev.Path)
		assert.GreaterOrEqual(t, time.Since(began), quiet, "%s did not wait for quiet", ev.Path)
		assert.Equal(t, files[filepath.Base(ev.Path)], ev.Data)
	}
	assert.Empty(t, r.barrier(t, dir))
}

// TestSpecialFilesDoNotBlock: a FIFO or a device behind a .json name is
// never opened so as to block the watcher (or read forever): other files
// keep flowing, at once, and the special files get no Event.
func TestSpecialFilesDoNotBlock(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := startReading(t, watch.Options{Dirs: []string{dir}, Quiet: slowQuiet, MaxWait: time.Minute}, true)

	fifo := filepath.Join(t.TempDir(), "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "fifo.json"), 0o600))
	require.NoError(t, os.Symlink(fifo, filepath.Join(dir, "link-to-fifo.json")))
	require.NoError(t, os.Symlink("/dev/zero", filepath.Join(dir, "zero.json")))
	require.NoError(t, os.Symlink("/dev/urandom", filepath.Join(dir, "urandom.json")))
	for i := range 3 {
		p := filepath.Join(dir, fmt.Sprintf("after-%d.json", i))
		began := time.Now()
		writeFile(t, p, `{"ok":true}`)
		ev, took := r.nextWithin(t, began)
		assert.Equal(t, seen{Path: p, Data: `{"ok":true}`}, ev)
		assert.Less(t, took, fastBound)
	}
	assert.Empty(t, r.barrier(t, dir))
}

// BenchmarkWriteToEvent measures how long after a definition is rewritten
// in place (os.WriteFile, as OpenMetadata does) its Event reaches the
// consumer, at the default quiet period: "whole" is the watcher as it
// runs, "quiet" the same with the fast path off (what every file waited
// before it). Run it with a fixed count, e.g. -benchtime=100x; the quiet
// variant takes DefaultQuiet per iteration.
func BenchmarkWriteToEvent(b *testing.B) {
	for _, bm := range []struct {
		name string
		fast bool
	}{{"whole", true}, {"quiet", false}} {
		b.Run(bm.name, func(b *testing.B) {
			dir := b.TempDir()
			p := filepath.Join(dir, "dag.json")
			w, err := watch.New(watch.Options{Dirs: []string{dir}})
			require.NoError(b, err)
			watch.SetFastJSON(w, bm.fast)
			out := make(chan watch.Event)
			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() { errc <- w.Run(ctx, out) }()
			defer func() {
				cancel()
				require.NoError(b, <-errc)
			}()
			<-w.Synced()

			pad := definition(2 << 10)
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				doc := fmt.Sprintf(`{"i":%d,%s`, i, pad[1:])
				began := time.Now()
				require.NoError(b, os.WriteFile(p, []byte(doc), 0o600))
				select {
				case <-out:
				case <-time.After(eventTimeout):
					b.Fatal("no event")
				}
				lat = append(lat, time.Since(began))
			}
			b.StopTimer()
			slices.Sort(lat)
			ms := func(q float64) float64 {
				return float64(lat[int(math.Ceil(q*float64(len(lat))))-1]) / float64(time.Millisecond)
			}
			b.ReportMetric(ms(0.50), "p50-ms")
			b.ReportMetric(ms(0.99), "p99-ms")
		})
	}
}
