package watch

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The coalescer is pure: these tests pass time in, no clock involved.

var t0 = time.Date(2026, 11, 28, 21, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func TestCoalescerDeadline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		events []int // ms after t0
		want   int   // deadline, ms after t0
	}{
		{name: "single event waits quiet", events: []int{0}, want: 300},
		{name: "each event restarts quiet", events: []int{0, 100, 250}, want: 550},
		{name: "ceiling caps a long burst", events: []int{0, 200, 400, 600, 800, 999}, want: 1000},
		{name: "ceiling counts from the first event", events: []int{0, 900}, want: 1000},
		{name: "event at the ceiling", events: []int{0, 1000}, want: 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCoalescer(300*time.Millisecond, time.Second)
			for i, ms := range tt.events {
				merged := c.touch(key{path: "/d/a.json"}, at(ms))
				assert.Equal(t, i > 0, merged, "event %d", i)
			}
			got, ok := c.next()
			require.True(t, ok)
			assert.Equal(t, at(tt.want), got)
			assert.Empty(t, c.due(at(tt.want).Add(-time.Nanosecond)))
			assert.Equal(t, []key{{path: "/d/a.json"}}, c.due(at(tt.want)))
			_, ok = c.next()
			assert.False(t, ok, "due must remove what it returns")
		})
	}
}

func TestCoalescerKeysAreIndependent(t *testing.T) {
	t.Parallel()
	c := newCoalescer(300*time.Millisecond, time.Second)
	a, b := key{path: "/d/a.json"}, key{path: "/d/b.json"}
	dir, file := key{path: "/d/x.json", dir: true}, key{path: "/d/x.json"}
	c.touch(a, at(0))
	c.touch(b, at(100))
	c.touch(a, at(200)) // a: 500, b: 400
	assert.False(t, c.touch(dir, at(200)), "a directory key must not merge with a file of the same name")
	assert.False(t, c.touch(file, at(200)))

	next, _ := c.next()
	assert.Equal(t, at(400), next)
	assert.Equal(t, []key{b}, c.due(at(499)))
	next, _ = c.next()
	assert.Equal(t, at(500), next)
	// Same deadline: directories first, then by path.
	assert.Equal(t, []key{dir, a, file}, c.due(at(500)))
	assert.Nil(t, c.due(at(10_000)))
}

func TestCoalescerNextFollowsTouches(t *testing.T) {
	t.Parallel()
	c := newCoalescer(300*time.Millisecond, time.Second)
	_, ok := c.next()
	assert.False(t, ok)
	c.touch(key{path: "a"}, at(0))
	next, _ := c.next()
	assert.Equal(t, at(300), next)
	c.touch(key{path: "a"}, at(100)) // the cached answer must not stick
	next, _ = c.next()
	assert.Equal(t, at(400), next)
	c.touch(key{path: "b"}, at(200))
	assert.True(t, c.drop(key{path: "a"}))
	assert.False(t, c.drop(key{path: "a"}), "dropped once")
	next, _ = c.next()
	assert.Equal(t, at(500), next, "a dropped burst no longer sets the deadline")
	assert.True(t, c.drop(key{path: "b"}))
	_, ok = c.next()
	assert.False(t, ok)
}

func TestReadyPaths(t *testing.T) {
	t.Parallel()
	q := newReadyPaths()
	assert.True(t, q.push("a"))
	assert.True(t, q.push("b"))
	assert.False(t, q.push("a"), "a path is queued at most once")
	assert.True(t, q.has("a"))
	assert.Equal(t, 2, q.len())
	assert.Equal(t, "a", q.head())
	q.pop()
	assert.False(t, q.has("a"))
	assert.True(t, q.push("a"), "a popped path may come back")
	assert.Equal(t, "b", q.head())
	q.pop()
	assert.Equal(t, "a", q.head())
	q.pop()
	assert.Equal(t, 0, q.len())

	for _, p := range []string{"a", "b", "c"} {
		q.push(p)
	}
	assert.True(t, q.remove("b"))
	assert.False(t, q.remove("b"))
	assert.False(t, q.has("b"))
	assert.Equal(t, 2, q.len())
	q.pop()
	assert.Equal(t, "c", q.head(), "the order of the others is kept")
	assert.True(t, q.push("b"))
}

func TestEligible(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		file string
		want bool
	}{
		{name: "json", file: "dag_1.json", want: true},
		{name: "yaml", file: "x.yaml", want: true},
		{name: "yml", file: "x.yml", want: true},
		{name: "upper case ext", file: "X.JSON", want: true},
		{name: "dots inside", file: "sample_data.mysql.json", want: true},
		{name: "hidden", file: ".x.json", want: false},
		{name: "k8s data link", file: "..data", want: false},
		{name: "k8s timestamp dir", file: "..2026_11_28_21_00_00.123456789", want: false},
		{name: "k8s data tmp", file: "..data_tmp", want: false},
		{name: "vim swap", file: ".x.json.swp", want: false},
		{name: "vim swx", file: ".x.json.swx", want: false},
		{name: "backup", file: "x.json~", want: false},
		{name: "vim probe", file: "4913", want: false},
		{name: "emacs autosave", file: "#x.json#", want: false},
		{name: "emacs lock", file: ".#x.json", want: false},
		{name: "tmp suffix", file: "x.json.tmp", want: false},
		{name: "other extension", file: "x.py", want: false},
		{name: "no extension", file: "json", want: false},
		{name: "bare extension is hidden", file: ".json", want: false},
		{name: "empty", file: "", want: false},
		{name: "separator", file: "a/b.json", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, eligible(tt.file))
		})
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    Options
		wantErr string
		check   func(t *testing.T, w *Watcher)
	}{
		{name: "no dirs", opts: Options{}, wantErr: "no watch directories"},
		{name: "empty dir", opts: Options{Dirs: []string{"/a", ""}}, wantErr: "empty watch directory"},
		{name: "negative quiet", opts: Options{Dirs: []string{"/a"}, Quiet: -1}, wantErr: "negative"},
		{name: "negative rescan", opts: Options{Dirs: []string{"/a"}, Rescan: -1}, wantErr: "negative"},
		{
			name:    "max wait below quiet",
			opts:    Options{Dirs: []string{"/a"}, Quiet: time.Second, MaxWait: 500 * time.Millisecond},
			wantErr: "shorter than the quiet period",
		},
		{
			name: "defaults",
			opts: Options{Dirs: []string{"/a/", "/a", "b/../c"}},
			check: func(t *testing.T, w *Watcher) {
				assert.Equal(t, []string{"/a", "c"}, w.dirs, "cleaned and deduplicated")
				assert.Equal(t, DefaultQuiet, w.quiet)
				assert.Equal(t, DefaultMaxWait, w.maxWait)
				assert.Zero(t, w.rescan, "zero Rescan disables rescans")
				assert.Equal(t, dirRetry, w.retry)
			},
		},
		{
			name: "long quiet raises the default max wait",
			opts: Options{Dirs: []string{"/a"}, Quiet: 10 * time.Second, Rescan: time.Second},
			check: func(t *testing.T, w *Watcher) {
				assert.Equal(t, 10*time.Second, w.maxWait)
				assert.Equal(t, time.Second, w.retry, "a short Rescan also shortens the directory retry")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w, err := New(tt.opts)
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				assert.Nil(t, w)
				return
			}
			require.NoError(t, err)
			tt.check(t, w)
		})
	}
}
