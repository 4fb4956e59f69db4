package daemon_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/daemon"
)

func TestRunFollowsDefinitions(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start()
	h.eventually(h.board.Ready, "ready with no definitions")

	// Create.
	h.writeDef("p.json", h.pipeline("p"))
	h.eventually(func() bool { return password(h.output("p.json")) == plant+"-mysql-password-1" }, "created")

	// Edit in place: a new schedule changes nothing in the output, a new
	// sourceConfig does.
	h.writeDef("p.json", h.pipeline("p", func(p map[string]any) {
		p["sourceConfig"].(map[string]any)["config"].(map[string]any)["includeViews"] = true
	}))
	h.eventually(func() bool {
		return dig(h.output("p.json"), "source", "sourceConfig", "config", "includeViews") == true
	}, "edited")

	// Replace atomically (write a temp file, rename it over).
	tmp := filepath.Join(h.defs, ".p.json.tmp")
	require.NoError(t, os.WriteFile(tmp, h.pipeline("p", func(p map[string]any) { p["loggerLevel"] = "DEBUG" }), 0o644))
	require.NoError(t, os.Rename(tmp, filepath.Join(h.defs, "p.json")))
	h.eventually(func() bool {
		return dig(h.output("p.json"), "workflowConfig", "loggerLevel") == "DEBUG"
	}, "replaced by rename")

	// Renaming the pipeline inside its file moves its output.
	h.writeDef("p.json", h.pipeline("p2"))
	h.eventually(func() bool { return h.output("p2.json") != nil && h.output("p.json") == nil }, "output follows the pipeline name")

	// Delete.
	require.NoError(t, os.Remove(filepath.Join(h.defs, "p.json")))
	h.eventually(func() bool { return h.output("p2.json") == nil }, "output removed with its definition")
	h.eventually(func() bool { _, ok := h.board.Get(filepath.Join(h.defs, "p.json")); return !ok }, "status dropped")
	entries, err := os.ReadDir(h.out)
	require.NoError(t, err)
	assert.Empty(t, entries, "no output or temp file left")
}

// TestRunConfigMapSwap mounts definitions the way a Kubernetes ConfigMap
// volume does: visible names are symlinks through ..data, and an update
// swaps ..data to a new timestamped directory.
func TestRunConfigMapSwap(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	payload := func(ts string, files map[string][]byte) {
		dir := filepath.Join(h.defs, "..2026_11_28_"+ts)
		require.NoError(t, os.Mkdir(dir, 0o755))
		for name, data := range files {
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o644))
		}
		tmpLink := filepath.Join(h.defs, "..data_tmp")
		require.NoError(t, os.Symlink(filepath.Base(dir), tmpLink))
		require.NoError(t, os.Rename(tmpLink, filepath.Join(h.defs, "..data")))
		for name := range files {
			link := filepath.Join(h.defs, name)
			if _, err := os.Lstat(link); os.IsNotExist(err) {
				require.NoError(t, os.Symlink(filepath.Join("..data", name), link))
			}
		}
	}
	payload("01", map[string][]byte{"a.json": h.pipeline("a"), "b.json": h.pipeline("b")})
	h.start()
	h.eventually(func() bool { return h.output("a.json") != nil && h.output("b.json") != nil }, "initial payload resolved")
	h.eventually(h.board.Ready, "ready after the initial pass")

	// Swap: a changes, b is dropped (its symlink then dangles, as the
	// kubelet removes it).
	payload("02", map[string][]byte{"a.json": h.pipeline("a", func(p map[string]any) { p["loggerLevel"] = "WARN" })})
	require.NoError(t, os.Remove(filepath.Join(h.defs, "b.json")))
	h.eventually(func() bool { return dig(h.output("a.json"), "workflowConfig", "loggerLevel") == "WARN" }, "a follows the swap")
	h.eventually(func() bool { return h.output("b.json") == nil }, "b's output removed")
}

func TestRunRotationWithinOneRefresh(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *options) { o.Refresh = 200 * time.Millisecond })
	h.writeDef("p.json", h.pipeline("p"))
	h.start()
	h.eventually(func() bool { return password(h.output("p.json")) == plant+"-mysql-password-1" }, "first value")
	h.setSecret(passwordID, plant+"-mysql-password-2")
	h.eventually(func() bool { return password(h.output("p.json")) == plant+"-mysql-password-2" }, "rotated value reaches the file without a file event")
}

func TestRunOpenMetadataDownThenUp(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *options) { o.Refresh = 200 * time.Millisecond })
	h.om.Down(true)
	path := h.writeDef("p.json", h.pipeline("p"))
	h.start()
	h.eventually(func() bool {
		st, ok := h.board.Get(path)
		return ok && st.Class == "om_unavailable"
	}, "failure recorded while OpenMetadata is down")
	h.eventually(h.board.Ready, "ready even though the definition failed")
	assert.Nil(t, h.output("p.json"), "nothing written while down")

	h.om.Down(false)
	h.eventually(func() bool { return password(h.output("p.json")) != "" }, "written at the next refresh once up")
	// The status is recorded just after the write.
	h.eventually(func() bool { st, _ := h.board.Get(path); return st.OK }, "status ok")
	st, _ := h.board.Get(path)
	assert.False(t, st.Stale)
}

func TestRunKeepsLastGoodOutputAndMarksItStale(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *options) { o.Refresh = 200 * time.Millisecond })
	path := h.writeDef("p.json", h.pipeline("p"))
	h.start()
	h.eventually(func() bool { return h.output("p.json") != nil }, "first output")
	before, err := os.ReadFile(filepath.Join(h.out, "p.json"))
	require.NoError(t, err)

	h.om.DeleteService("databaseService", "mysql_prod") // the service is gone
	h.eventually(func() bool {
		st, _ := h.board.Get(path)
		return st.Stale && st.Class == "om_not_found"
	}, "stale after the service was deleted")
	after, err := os.ReadFile(filepath.Join(h.out, "p.json"))
	require.NoError(t, err)
	assert.Equal(t, before, after, "last good output kept, byte for byte")

	// A broken edit keeps it too.
	h.writeDef("p.json", []byte(`{"name": "p", "pipelineType": `))
	h.eventually(func() bool { st, _ := h.board.Get(path); return st.Class == "invalid" }, "invalid edit recorded")
	after, err = os.ReadFile(filepath.Join(h.out, "p.json"))
	require.NoError(t, err)
	assert.Equal(t, before, after)
	_, _, stale := h.board.Counts()
	assert.Equal(t, 1, stale)
}

func TestRunOutputNameConflict(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	first := h.writeDef("first.json", h.pipeline("same"))
	h.start()
	h.eventually(func() bool { return h.output("same.json") != nil }, "first claims the name")
	second := h.writeDef("second.json", h.pipeline("same", func(p map[string]any) { p["loggerLevel"] = "ERROR" }))
	h.eventually(func() bool { st, _ := h.board.Get(second); return st.Class == "output_conflict" }, "second refused")
	assert.Equal(t, "INFO", dig(h.output("same.json"), "workflowConfig", "loggerLevel"), "first keeps its output")
	f := h.freshness("same")
	require.NotNil(t, f)
	assert.Equal(t, daemon.StateCurrent, f.State, "and its status file: the refused one does not overwrite it")
	assert.Equal(t, first, f.Definition)

	require.NoError(t, os.Remove(first))
	h.eventually(func() bool {
		return dig(h.output("same.json"), "workflowConfig", "loggerLevel") == "ERROR"
	}, "the name passes to the second once the first is gone")
}

func TestRunManyDefinitionsAtOnce(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start()
	h.eventually(h.board.Ready, "ready")
	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { h.writeDef(fmt.Sprintf("p%03d.json", i), h.pipeline(fmt.Sprintf("p%03d", i))) })
	}
	wg.Wait()
	h.eventually(func() bool {
		outs, err := filepath.Glob(filepath.Join(h.out, "*.json"))
		reports, rerr := filepath.Glob(filepath.Join(h.out, "*"+daemon.ReportExt))
		return err == nil && rerr == nil && len(outs)-len(reports) == n
	}, "all %d resolved", n)
	for i := range n {
		assert.Equal(t, plant+"-mysql-password-1", password(h.output(fmt.Sprintf("p%03d.json", i))), i)
	}
	// Statuses are recorded just after the writes.
	h.eventually(func() bool {
		defs, outputs, stale := h.board.Counts()
		return defs == n && outputs == n && stale == 0
	}, "every status recorded, none stale")
	// One service and one bot shared by all: 2 secrets, fetched once per
	// batch at most (the cache serves later batches), far fewer times than
	// there are definitions.
	assert.LessOrEqual(t, h.storeCalls(), 20.0)
	assert.GreaterOrEqual(t, h.storeCalls(), 2.0)
}

func TestRunRetriesTransientFailuresSoon(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *options) {
		o.Refresh = time.Hour // the retry, not the refresh, must fix it
		o.RetryBase = 50 * time.Millisecond
	})
	h.om.Down(true)
	path := h.writeDef("p.json", h.pipeline("p"))
	h.start()
	h.eventually(func() bool { st, _ := h.board.Get(path); return st.Class == "om_unavailable" }, "down")
	h.om.Down(false)
	h.eventually(func() bool { return h.output("p.json") != nil }, "retried and written well before the refresh")
}

// TestRunAdoptsAndSweepsOutputsOfAPreviousRun: the output directory (a
// memory-backed emptyDir) outlives a container restart. An output whose
// definition still exists but fails now is kept, stale; one whose
// definition is gone is removed after the first pass.
func TestRunAdoptsAndSweepsOutputsOfAPreviousRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *options) { o.RetryBase = time.Hour })
	require.NoError(t, os.WriteFile(filepath.Join(h.out, "kept.json"), []byte(`{"previous": "run"}`), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(h.out, "orphan.json"), []byte(`{"previous": "run"}`), 0o600))
	h.om.Down(true)
	path := h.writeDef("kept.json", h.pipeline("kept"))
	h.start()
	h.eventually(h.board.Ready, "ready")
	st, ok := h.board.Get(path)
	require.True(t, ok)
	assert.Equal(t, "om_unavailable", st.Class)
	assert.True(t, st.Stale, "the previous output is adopted as the last good one")
	assert.Equal(t, filepath.Join(h.out, "kept.json"), st.Output)
	_, err := os.Stat(filepath.Join(h.out, "kept.json"))
	assert.NoError(t, err)
	_, err = os.Stat(filepath.Join(h.out, "orphan.json"))
	assert.True(t, os.IsNotExist(err), "an output no definition owns is removed")

	// The adopted output goes with its definition.
	require.NoError(t, os.Remove(path))
	h.eventually(func() bool { _, err := os.Stat(filepath.Join(h.out, "kept.json")); return os.IsNotExist(err) }, "removed with its definition")
}

// TestRunRetryOfAFailedRefreshIsFresh: when a refresh fails because the
// store is down, its retries fetch again too; the cache must not make the
// definition look fine while the store is still down.
func TestRunRetryOfAFailedRefreshIsFresh(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *options) {
		o.Refresh = 300 * time.Millisecond
		o.RetryBase = 20 * time.Millisecond
	})
	path := h.writeDef("p.json", h.pipeline("p"))
	h.start()
	h.eventually(func() bool { return h.output("p.json") != nil }, "first output")

	h.storeDown.Store(true)
	h.eventually(func() bool { st, _ := h.board.Get(path); return st.Class == "unavailable" && st.Stale }, "the refresh fails, the output is kept stale")
	calls := h.storeCalls()
	h.eventually(func() bool { return h.storeCalls() >= calls+4 }, "retries reach the store")
	st, _ := h.board.Get(path)
	assert.False(t, st.OK, "still failing while the store is down: retries are not served from the cache")

	h.setSecret(passwordID, plant+"-after-outage")
	h.storeDown.Store(false)
	h.eventually(func() bool { return password(h.output("p.json")) == plant+"-after-outage" }, "recovered with fresh values")
}

// TestRunResolvingDefinitionWinsANameOverAFailingOne: an output left by a
// previous run goes to the definition of its name that resolves, not to
// one that fails and would adopt it.
func TestRunResolvingDefinitionWinsANameOverAFailingOne(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *options) { o.RetryBase = time.Hour })
	require.NoError(t, os.WriteFile(filepath.Join(h.out, "same.json"), []byte(`{"previous": "run"}`), 0o600))
	failing := h.writeDef("a_failing.json", h.pipeline("same", func(p map[string]any) {
		p["service"] = map[string]any{"type": "databaseService", "name": "no_such_service"}
	}))
	good := h.writeDef("b_good.json", h.pipeline("same"))
	h.start()
	h.eventually(h.board.Ready, "ready")
	h.eventually(func() bool { st, _ := h.board.Get(good); return st.OK }, "the resolving one is recorded")
	assert.Equal(t, plant+"-mysql-password-1", password(h.output("same.json")), "written by the resolving definition")
	st, _ := h.board.Get(failing)
	assert.False(t, st.OK)
	assert.False(t, st.Stale, "the failing one adopted nothing")
	assert.Empty(t, st.Output)
}
