//go:build unix

package watch

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests run the real Run loop on a fake filesystem and event source
// inside a synctest bubble, so timer behaviour is exact: time.Sleep moves a
// fake clock, and nothing else happens in between.

const (
	quiet   = 300 * time.Millisecond
	maxWait = 3 * time.Second
)

func opts(dirs ...string) Options {
	return Options{Dirs: dirs, Quiet: quiet, MaxWait: maxWait}
}

func TestInitialScanThenSynced(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, opts("/d"), 0, func(f *fakeFS, _ *fakeSource) {
			f.mkdir("/d")
			f.mkdir("/d/sub.json") // a directory with an eligible name
			f.write("/d/b.yaml", "b")
			f.write("/d/a.json", "a")
			f.write("/d/c.txt", "c")
			f.write("/d/.a.json.swp", "swap")
		}).run()

		assert.Equal(t, []string{"/d"}, h.src.added)
		// out is unbuffered: Synced waits until every initial Event is taken.
		assert.False(t, h.synced(), "synced before the initial scan was taken")
		assert.Equal(t, emitted{"/d/a.json", KindChanged}, h.recv())
		synctest.Wait()
		assert.False(t, h.synced(), "synced with one initial event still pending")
		assert.Equal(t, emitted{"/d/b.yaml", KindChanged}, h.recv())
		synctest.Wait()
		assert.True(t, h.synced())
		assert.Empty(t, h.drain())
	})
}

func TestSyncedWithNoFiles(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, opts("/d", "/missing"), 10, func(f *fakeFS, _ *fakeSource) { f.mkdir("/d") }).run()
		assert.True(t, h.synced())
		assert.Empty(t, h.drain())
	})
}

// TestQuietPeriod is about files that are not whole JSON objects, which
// wait for quiet however they end: YAML, whose syntax marks no end, and
// JSON that does not parse as one object (TestWholeJSONSkipsQuiet has the
// rest).
func TestQuietPeriod(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		path     string
		versions [3]string
	}{
		{name: "yaml", path: "/d/a.yaml", versions: [3]string{"a:", "a: 1", "a: 1\nb: 2\n"}},
		{name: "yaml name with a json object", path: "/d/a.yml", versions: [3]string{`{"a":`, `{"a":1`, `{"a":1}`}},
		{name: "json never whole", path: "/d/a.json", versions: [3]string{`{"a":`, `{"a":1`, `{"a":1,}`}},
		{name: "json not an object", path: "/d/a.json", versions: [3]string{`[1`, `[1,2`, `[1,2]`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, opts("/d"), 10, func(f *fakeFS, _ *fakeSource) { f.mkdir("/d") }).run()

				h.create(tt.path, tt.versions[0])
				assert.Empty(t, h.after(100*time.Millisecond))
				h.write(tt.path, tt.versions[1])
				assert.Empty(t, h.after(200*time.Millisecond))
				h.write(tt.path, tt.versions[2])
				// The quiet period restarts at each event: nothing at last+299ms.
				assert.Empty(t, h.after(quiet-time.Millisecond))
				assert.Equal(t, changed(tt.path), h.after(time.Millisecond))
				assert.Empty(t, h.after(10*time.Second))
				assert.Equal(t, 4, h.kind(KindFSEvent))
				assert.Equal(t, 3, h.kind(KindCoalesced))
				assert.Equal(t, 1, h.kind(KindChanged))
			})
		})
	}
}

// TestWholeJSONSkipsQuiet: a .json file whose content is one complete
// object goes at once, with no time passing, and its burst goes with it.
func TestWholeJSONSkipsQuiet(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, opts("/d"), 10, func(f *fakeFS, _ *fakeSource) { f.mkdir("/d") }).run()
		const p = "/d/a.json"

		h.create(p, `{"a":`)
		assert.Empty(t, h.after(100*time.Millisecond))
		h.write(p, `{"a":1`)
		assert.Empty(t, h.after(100*time.Millisecond))
		h.write(p, `{"a":1}`)
		assert.Equal(t, changed(p), h.drain(), "whole: handed over with no time passing")
		assert.Equal(t, 1, h.fs.lookCount(p))
		assert.Empty(t, h.after(10*time.Second))
		assert.Equal(t, 1, h.fs.lookCount(p), "the burst was dropped, not decided again after quiet")
		assert.Equal(t, 4, h.kind(KindFSEvent))
		assert.Equal(t, 3, h.kind(KindCoalesced), "the whole content ends the burst it joins")

		// A later event starts a new burst, which tries again; whitespace
		// after the object keeps it whole.
		h.write(p, "{\"a\":1}\n")
		assert.Equal(t, changed(p), h.drain())
		// An identical whole rewrite is still no change.
		h.write(p, "{\"a\":1}\n")
		assert.Empty(t, h.drain())
		// A stream of whole writes is never held back for MaxWait.
		for i := range 10 {
			h.write(p, fmt.Sprintf(`{"i":%d}`, i))
			assert.Equal(t, changed(p), h.after(100*time.Millisecond))
		}
		// A .JSON name is JSON too (render.FormatOf ignores case).
		h.create("/d/B.JSON", "{}")
		assert.Equal(t, changed("/d/B.JSON"), h.drain())
		assert.Equal(t, 13, h.kind(KindChanged))
	})
}

// TestWholeJSONRewrittenWhileQueued: a path queued for being whole leaves
// the queue when it is rewritten before the consumer takes it, and waits
// for quiet (or to be whole again) like any other.
func TestWholeJSONRewrittenWhileQueued(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, opts("/d"), 0, func(f *fakeFS, _ *fakeSource) { f.mkdir("/d") }).run()
		const p = "/d/a.json"
		pending := func() bool {
			synctest.Wait()
			select {
			case ev := <-h.out:
				t.Errorf("unexpected Event %v", ev)
				return true
			default:
				return false
			}
		}

		h.create(p, `{"v":1}`) // queued; nobody receives yet
		h.write(p, `{"v":`)    // truncated and rewriting
		time.Sleep(quiet - time.Millisecond)
		assert.False(t, pending(), "a queued whole file that stopped being whole was handed over")
		time.Sleep(time.Millisecond)
		// Its new burst ends after quiet as today: the quiet period is
		// what bounds a writer that never finishes.
		assert.Equal(t, emitted{p, KindChanged}, h.recv())

		h.write(p, `{"v":2`)
		h.write(p, `{"v":2}`)
		start := time.Now()
		assert.Equal(t, emitted{p, KindChanged}, h.recv())
		assert.Zero(t, time.Since(start), "whole again: at once")
		// Whole, queued, rewritten whole: it keeps its place and is
		// decided on the latest content, once.
		h.write(p, `{"v":3}`)
		h.write(p, `{"v":4}`)
		assert.Equal(t, emitted{p, KindChanged}, h.recv())
		assert.Empty(t, h.after(10*time.Second))
		assert.Equal(t, 3, h.kind(KindChanged))
	})
}

func TestMaxWaitUnderContinuousStream(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, opts("/d"), 100, func(f *fakeFS, _ *fakeSource) { f.mkdir("/d") }).run()

		start := time.Now()
		var got []time.Duration
		for i := range 100 { // a write every 100ms for 10s: never quiet
			h.write("/d/a.json", fmt.Sprint(i))
			for range h.after(100 * time.Millisecond) {
				got = append(got, time.Since(start))
			}
		}
		// One Event per maxWait, each at most maxWait after its burst began
		// (a burst begins at the first write after the previous Event).
		require.NotEmpty(t, got)
		assert.Equal(t, maxWait, got[0])
		assert.Len(t, got, 3, "got events at %v", got)
		for i := 1; i < len(got); i++ {
			assert.LessOrEqual(t, got[i]-got[i-1], maxWait+100*time.Millisecond)
		}
		// Then the stream stops and the last burst ends after quiet.
		assert.Equal(t, changed("/d/a.json"), h.after(quiet))
	})
}

func TestPathsAreIndependent(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, opts("/d"), 10, func(f *fakeFS, _ *fakeSource) { f.mkdir("/d") }).run()

		h.create("/d/busy.json", "0")
		time.Sleep(50 * time.Millisecond)
		h.create("/d/calm.json", "x")
		var calmAt time.Duration
		start := time.Now()
		for i := range 20 {
			h.write("/d/busy.json", fmt.Sprint(i))
			for _, ev := range h.after(50 * time.Millisecond) {
				require.Equal(t, "/d/calm.json", ev.Path, "busy emitted before max wait")
				calmAt = time.Since(start)
			}
		}
		// calm got its own quiet period although busy never went quiet.
		assert.Equal(t, quiet, calmAt)
		assert.Equal(t, changed("/d/busy.json"), h.after(quiet))
	})
}

func TestRemovedThenRecreatedWithinQuiet(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, opts("/d"), 10, func(f *fakeFS, _ *fakeSource) {
			f.mkdir("/d")
			f.write("/d/a.json", "v1")
			f.write("/d/b.json", "v1")
		}).run()
		require.Equal(t, changed("/d/a.json", "/d/b.json"), h.drain())

		// New content: one change, no removal in between.
		h.remove("/d/a.json")
		time.Sleep(100 * time.Millisecond)
		h.create("/d/a.json", "v2")
		// Same content back: nothing happened as far as a reader can tell.
		h.remove("/d/b.json")
		time.Sleep(100 * time.Millisecond)
		h.create("/d/b.json", "v1")
		assert.Equal(t, changed("/d/a.json"), h.after(time.Second))
	})
}

func TestRemoved(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, opts("/d"), 10, func(f *fakeFS, _ *fakeSource) {
			f.mkdir("/d")
			f.write("/d/a.json", "v1")
		}).run()
		require.Equal(t, changed("/d/a.json"), h.drain())

		h.remove("/d/a.json")
		assert.Equal(t, removed("/d/a.json"), h.after(quiet))
		assert.Contains(t, h.logs.String(), `"path":"/d/a.json","op":"removed"`, "the debug line says what happened")
		// A file that comes and goes within one burst was never reported.
		h.create("/d/tmp.json", "x")
		h.remove("/d/tmp.json")
		assert.Empty(t, h.after(time.Second))
		assert.Equal(t, 1, h.kind(KindRemoved))
	})
}

func TestChmodAndIdenticalRewritesEmitNothing(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, opts("/d"), 10, func(f *fakeFS, _ *fakeSource) {
			f.mkdir("/d")
			f.write("/d/a.json", "v1")
		}).run()
		require.Equal(t, changed("/d/a.json"), h.drain())

		h.emit(fsnotify.Chmod, "/d/a.json")
		h.write("/d/a.json", "v1")
		assert.Empty(t, h.after(time.Second))
		// A Chmod-only event still counts when the content did change
		// (the kernel sends only Chmod for some changes, e.g. a hard link
		// swap, and the watcher does not trust the op).
		h.fs.write("/d/a.json", "v2")
		h.emit(fsnotify.Chmod, "/d/a.json")
		assert.Equal(t, changed("/d/a.json"), h.after(quiet))
	})
}

func TestIneligibleNamesIgnored(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, opts("/d"), 10, func(f *fakeFS, _ *fakeSource) { f.mkdir("/d") }).run()

		// Whole JSON content, so that nothing skips quiet either.
		for _, name := range []string{"x.txt", "x.json~", "x.json.swp", "4913", "#x.json#", "x.json.tmp", ".x.json"} {
			h.create("/d/"+name, "{}")
		}
		h.create("/other/a.json", "not ours")
		h.create("/d/sub/a.json", "not a direct child")
		assert.Empty(t, h.after(10*time.Second))
		assert.Equal(t, 18, h.kind(KindFSEvent))
		assert.Equal(t, 2, h.kind(KindRescan), "the initial scan and one for the hidden name's burst")
	})
}

// TestDataSwap models a Kubernetes ConfigMap update as the kubelet's
// AtomicWriter does it (kubernetes pkg/volume/util/atomic_writer.go):
// contents change behind the ..data symlink, so the visible names see no
// event at all; only hidden names do.
func TestDataSwap(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, opts("/cm"), 10, func(f *fakeFS, _ *fakeSource) {
			f.mkdir("/cm")
			f.write("/cm/changed.json", "v1")
			f.write("/cm/same.yaml", "v1")
			f.write("/cm/dropped.json", "v1")
		}).run()
		require.Len(t, h.drain(), 3)

		h.fs.write("/cm/changed.json", "v2")
		h.fs.remove("/cm/dropped.json")
		h.fs.write("/cm/added.json", "v1")
		h.emit(fsnotify.Create, "/cm/..2026_11_28_21_00_00.123456789")
		h.emit(fsnotify.Create, "/cm/..data_tmp")
		h.emit(fsnotify.Rename, "/cm/..data_tmp")
		h.emit(fsnotify.Create, "/cm/..data")
		h.emit(fsnotify.Remove, "/cm/..2026_11_28_20_00_00.000000001")

		want := []emitted{{"/cm/added.json", KindChanged}, {"/cm/changed.json", KindChanged}, {"/cm/dropped.json", KindRemoved}}
		// The hidden burst settles after quiet, then the rescan's own burst.
		assert.Empty(t, h.after(2*quiet-time.Millisecond))
		assert.Equal(t, want, sorted(h.after(time.Millisecond)))
		assert.Empty(t, h.after(10*time.Second))
	})
}

func TestOverflowRescansEverything(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, opts("/a", "/b"), 10, func(f *fakeFS, _ *fakeSource) {
			f.mkdir("/a")
			f.mkdir("/b")
			f.write("/a/x.json", "v1")
			f.write("/b/y.json", "v1")
		}).run()
		require.Len(t, h.drain(), 2)

		// Changes whose events the kernel dropped.
		h.fs.write("/a/x.json", "v2")
		h.fs.remove("/b/y.json")
		h.fs.write("/b/z.json", "v1")
		assert.Empty(t, h.after(10*time.Second))

		h.src.errors <- fsnotify.ErrEventOverflow
		want := []emitted{{"/a/x.json", KindChanged}, {"/b/y.json", KindRemoved}, {"/b/z.json", KindChanged}}
		assert.Equal(t, want, sorted(h.after(quiet)))
		assert.Equal(t, 1, h.kind(KindOverflow))
		assert.Contains(t, h.logs.String(), "overflow")
	})
}

func TestOtherFsnotifyErrorsAreCounted(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, opts("/d"), 10, func(f *fakeFS, _ *fakeSource) { f.mkdir("/d") }).run()
		h.src.errors <- syscall.EIO
		h.create("/d/a.json", "x")
		assert.Equal(t, changed("/d/a.json"), h.after(quiet))
		assert.Equal(t, 1, h.kind(KindError))
		assert.Contains(t, h.logs.String(), "input/output error")
	})
}

func TestPeriodicRescan(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		o := opts("/d")
		o.Rescan = time.Minute
		h := newHarness(t, o, 10, func(f *fakeFS, _ *fakeSource) {
			f.mkdir("/d")
			f.write("/d/a.json", "v1")
		}).run()
		require.Len(t, h.drain(), 1)

		h.fs.write("/d/a.json", "v2") // event lost
		h.fs.write("/d/b.json", "v1") // event lost
		assert.Empty(t, h.after(time.Minute-time.Millisecond))
		// The rescan comes within [Rescan, Rescan+10%), then quiet.
		evs := h.after(6*time.Second + quiet + time.Millisecond)
		assert.Equal(t, changed("/d/a.json", "/d/b.json"), sorted(evs))
		// And again, finding nothing new.
		assert.Empty(t, h.after(2*time.Minute))
		assert.GreaterOrEqual(t, h.kind(KindRescan), 3)
	})
}

func TestBackpressureMergesWithoutLoss(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, opts("/d"), 0, func(f *fakeFS, _ *fakeSource) { f.mkdir("/d") }).run()

		h.create("/d/a.json", "a0")
		time.Sleep(50 * time.Millisecond)
		h.create("/d/b.json", "b0")
		time.Sleep(time.Second) // both are due; nobody is receiving
		// Run keeps taking events while out is blocked (emit would hang
		// otherwise) and merges them into the waiting paths.
		for i := range 50 {
			h.write("/d/a.json", fmt.Sprint("a", i+1))
			h.write("/d/c.json", fmt.Sprint("c", i+1))
			time.Sleep(100 * time.Millisecond)
		}
		h.remove("/d/b.json")
		synctest.Wait()

		// a first (it was due first), each path once, decided now: b is
		// gone and was never reported, so nothing for it.
		assert.Equal(t, emitted{"/d/a.json", KindChanged}, h.recv())
		assert.Equal(t, emitted{"/d/c.json", KindChanged}, h.recv())
		assert.Empty(t, h.after(10*time.Second))
		assert.GreaterOrEqual(t, h.kind(KindCoalesced), 99)

		// a was decided on its latest content: writing that again is no
		// change, anything else is.
		h.write("/d/a.json", "a50")
		assert.Empty(t, h.after(time.Second))
		h.write("/d/a.json", "a51")
		assert.Equal(t, changed("/d/a.json"), h.after(time.Second))
	})
}

func TestMissingDirIsPickedUp(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, opts("/d", "/later"), 10, func(f *fakeFS, _ *fakeSource) {
			f.mkdir("/d")
			f.write("/d/a.json", "v1")
		}).run()
		assert.Equal(t, changed("/d/a.json"), h.drain())
		assert.True(t, h.synced(), "a missing directory must not hold up readiness")

		assert.Empty(t, h.after(time.Minute))
		h.fs.mkdir("/later")
		h.fs.write("/later/b.json", "v1")
		// Retried every dirRetry (Rescan is off), then the new files' burst.
		assert.Empty(t, h.after(time.Minute%dirRetry+dirRetry-time.Millisecond))
		assert.Equal(t, changed("/later/b.json"), h.after(quiet+time.Millisecond))
		assert.Equal(t, []string{"/d", "/later"}, h.src.added)

		// Warned once for all those retries, then told it is back.
		logs := h.logs.String()
		assert.Equal(t, 1, strings.Count(logs, "does not exist"), logs)
		assert.Equal(t, 1, strings.Count(logs, "watching directory"), logs)
		assert.Equal(t, 1, h.kind(KindDirMissing))

		h.create("/later/c.json", "v1")
		assert.Equal(t, changed("/later/c.json"), h.after(quiet))
	})
}

func TestLostDirRemovesItsFiles(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, opts("/d", "/e"), 10, func(f *fakeFS, _ *fakeSource) {
			f.mkdir("/d")
			f.mkdir("/e")
			f.write("/d/a.json", "v1")
			f.write("/d/b.json", "v1")
			f.write("/e/c.json", "v1")
		}).run()
		require.Len(t, h.drain(), 3)

		// mv /d elsewhere: only the directory's own event arrives.
		h.fs.rmdir("/d")
		h.emit(fsnotify.Rename, "/d")
		assert.Equal(t, removed("/d/a.json", "/d/b.json"), sorted(h.after(quiet)))
		assert.Equal(t, []string{"/d"}, h.src.removed)

		// It comes back with one file.
		h.fs.mkdir("/d")
		h.fs.write("/d/a.json", "v1")
		assert.Equal(t, changed("/d/a.json"), h.after(dirRetry+quiet))
		assert.Equal(t, []string{"/d", "/e", "/d"}, h.src.added)
	})
}

func TestUnwatchableDirs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		setup   func(*fakeFS, *fakeSource)
		wantErr []string // substrings; nil means Run keeps going
	}{
		{
			name: "inotify limit on the only dir",
			setup: func(f *fakeFS, s *fakeSource) {
				f.mkdir("/a")
				s.addErr["/a"] = syscall.ENOSPC
			},
			wantErr: []string{`"/a"`, "no space left on device", "fs.inotify.max_user_watches"},
		},
		{
			name: "inotify limit on every dir",
			setup: func(f *fakeFS, s *fakeSource) {
				f.mkdir("/a")
				f.mkdir("/b")
				s.addErr["/a"] = syscall.ENOSPC
				s.addErr["/b"] = syscall.ENOSPC
			},
			wantErr: []string{`"/a"`, `"/b"`},
		},
		{
			name:    "not a directory",
			setup:   func(f *fakeFS, _ *fakeSource) { f.write("/a", "file") },
			wantErr: []string{`"/a"`, "not a directory"},
		},
		{
			name: "one dir fails, the other works",
			setup: func(f *fakeFS, s *fakeSource) {
				f.mkdir("/a")
				f.mkdir("/b")
				s.addErr["/a"] = syscall.ENOSPC
			},
		},
		{
			name: "one dir fails, the other is missing",
			setup: func(f *fakeFS, s *fakeSource) {
				f.mkdir("/a")
				s.addErr["/a"] = syscall.ENOSPC
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				dirs := []string{"/a"}
				if strings.Contains(tt.name, "other") || strings.Contains(tt.name, "every") {
					dirs = append(dirs, "/b")
				}
				h := newHarness(t, opts(dirs...), 10, tt.setup)
				ctx, cancel := context.WithCancel(context.Background())
				go func() { h.errc <- h.w.Run(ctx, h.out) }()
				synctest.Wait()
				if tt.wantErr == nil {
					select {
					case err := <-h.errc:
						t.Fatalf("Run returned %v", err)
					default:
					}
					assert.Contains(t, h.logs.String(), "cannot watch directory")
					cancel()
					assert.NoError(t, <-h.errc)
					return
				}
				cancel()
				err := <-h.errc
				require.Error(t, err)
				for _, s := range tt.wantErr {
					assert.Contains(t, err.Error(), s)
				}
				assert.False(t, h.synced())
				assert.True(t, h.src.closed, "source not closed")
			})
		})
	}
}

func TestUnwatchableDirIsPolled(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, opts("/a", "/b"), 10, func(f *fakeFS, s *fakeSource) {
			f.mkdir("/a")
			f.mkdir("/b")
			f.write("/a/x.json", "v1")
			s.addErr["/a"] = syscall.ENOSPC
		}).run()
		// In the initial scan although it could not be watched.
		assert.Equal(t, changed("/a/x.json"), h.drain())
		assert.Equal(t, []string{"/b"}, h.src.added)

		h.fs.write("/a/x.json", "v2") // no event: not watched
		assert.Empty(t, h.after(dirRetry-time.Millisecond))
		assert.Equal(t, changed("/a/x.json"), h.after(quiet+time.Millisecond))

		h.src.mu.Lock()
		delete(h.src.addErr, "/a")
		h.src.mu.Unlock()
		assert.Empty(t, h.after(dirRetry+quiet))
		assert.Equal(t, []string{"/b", "/a"}, h.src.added)
		h.create("/a/y.json", "v1")
		assert.Equal(t, changed("/a/y.json"), h.after(quiet))
		logs := h.logs.String()
		assert.Equal(t, 1, strings.Count(logs, "cannot watch directory"), logs)
		assert.Equal(t, 1, strings.Count(logs, "watching directory"), logs)
	})
}

func TestRunLifecycle(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, opts("/d"), 10, func(f *fakeFS, _ *fakeSource) { f.mkdir("/d") })
		ctx, cancel := context.WithCancel(context.Background())
		go func() { h.errc <- h.w.Run(ctx, h.out) }()
		synctest.Wait()
		assert.ErrorContains(t, h.w.Run(ctx, h.out), "more than once")
		cancel()
		assert.NoError(t, <-h.errc)
		assert.True(t, h.src.closed)
	})
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, opts("/d"), 10, func(f *fakeFS, _ *fakeSource) { f.mkdir("/d") })
		go func() { h.errc <- h.w.Run(context.Background(), h.out) }()
		synctest.Wait()
		close(h.src.events) // fsnotify closes it only on Close; treat as fatal
		assert.ErrorContains(t, <-h.errc, "event channel closed")
	})
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, opts("/d"), 10, nil)
		h.w.newSource = func() (source, error) { return nil, syscall.EMFILE }
		err := h.w.Run(context.Background(), h.out)
		assert.ErrorContains(t, err, "max_user_instances")
		assert.ErrorIs(t, err, syscall.EMFILE)
		assert.ErrorContains(t, h.w.Run(context.Background(), nil), "nil out channel")
	})
}
