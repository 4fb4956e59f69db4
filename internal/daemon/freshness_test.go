package daemon_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/daemon"
	"omsecrets/internal/status"
	"omsecrets/internal/watch"
	"omsecrets/sink"
)

// freshness reads the freshness file of an output, nil when absent.
func (h *harness) freshness(dagID string) *daemon.Freshness {
	h.t.Helper()
	data, err := os.ReadFile(filepath.Join(h.out, dagID+daemon.StatusExt))
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(h.t, err)
	assert.NotContains(h.t, string(data), plant, "a status file holds no value")
	var f daemon.Freshness
	require.NoError(h.t, json.Unmarshal(data, &f))
	return &f
}

func digest(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func TestFreshnessCurrentThenStaleThenCurrent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *options) { o.FreshFor = 7 * time.Minute })
	path := h.writeDef("p.json", h.pipeline("p"))
	before := time.Now().UTC()
	require.Equal(t, 0, h.d.Once(context.Background(), []string{path}), h.logs.String())

	f := h.freshness("p")
	require.NotNil(t, f)
	assert.Equal(t, 1, f.Version)
	assert.Equal(t, "p", f.DagID)
	assert.Equal(t, path, f.Definition)
	assert.Equal(t, "p.json", f.Output)
	assert.Equal(t, daemon.StateCurrent, f.State)
	assert.Equal(t, "ok", f.Outcome)
	assert.Empty(t, f.Error)
	assert.Equal(t, digest(t, path), f.DefinitionSHA256, "tied to the definition bytes it came from")
	require.NotNil(t, f.ResolvedAt)
	require.NotNil(t, f.FreshUntil)
	assert.False(t, f.ResolvedAt.Before(before.Truncate(time.Second)))
	assert.Equal(t, 7*time.Minute, f.FreshUntil.Sub(*f.ResolvedAt))
	assert.Equal(t, "run", f.Mode)
	fi, err := os.Stat(filepath.Join(h.out, "p"+daemon.StatusExt))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "same mode as the outputs")
	resolvedAt := *f.ResolvedAt
	goodDigest := f.DefinitionSHA256

	// OpenMetadata goes down: the output stays, the status says stale,
	// with the class and what the output came from.
	h.om.Down(true)
	h.writeDef("p.json", h.pipeline("p", func(p map[string]any) { p["loggerLevel"] = "DEBUG" }))
	require.Equal(t, 1, h.d.Once(context.Background(), []string{path}))
	f = h.freshness("p")
	require.NotNil(t, f)
	assert.Equal(t, daemon.StateStale, f.State)
	assert.Equal(t, "om_unavailable", f.Outcome)
	assert.NotEmpty(t, f.Error)
	assert.Equal(t, "p.json", f.Output)
	assert.Equal(t, goodDigest, f.DefinitionSHA256, "still the digest of the definition the kept output came from")
	assert.NotEqual(t, digest(t, path), f.DefinitionSHA256, "so a task reading the new definition sees the mismatch")
	assert.Equal(t, resolvedAt, *f.ResolvedAt)
	assert.True(t, f.CheckedAt.After(resolvedAt) || f.CheckedAt.Equal(resolvedAt))
	assert.Equal(t, "INFO", dig(h.output("p.json"), "workflowConfig", "loggerLevel"), "last good output kept")

	// Back up: current again, for the new bytes.
	h.om.Down(false)
	require.Equal(t, 0, h.d.Once(context.Background(), []string{path}), h.logs.String())
	f = h.freshness("p")
	assert.Equal(t, daemon.StateCurrent, f.State)
	assert.Equal(t, digest(t, path), f.DefinitionSHA256)
}

func TestFreshnessFailedWithoutOutput(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.om.DeleteService("databaseService", "mysql_prod")
	path := h.writeDef("gone_svc.json", h.pipeline("gone_svc"))
	require.Equal(t, 1, h.d.Once(context.Background(), []string{path}))

	assert.Nil(t, h.output("gone_svc.json"))
	f := h.freshness("gone_svc")
	require.NotNil(t, f, "a failing definition still tells the task why")
	assert.Equal(t, daemon.StateFailed, f.State)
	assert.Equal(t, "om_not_found", f.Outcome)
	assert.Contains(t, f.Error, "mysql_prod")
	assert.Empty(t, f.Output)
	assert.Empty(t, f.DefinitionSHA256)
	assert.Nil(t, f.ResolvedAt)
}

func TestFreshnessRemovedWithTheDefinition(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.start()
	path := h.writeDef("p.json", h.pipeline("p"))
	h.eventually(func() bool { f := h.freshness("p"); return f != nil && f.State == daemon.StateCurrent }, "status written")
	assert.Equal(t, "run", h.freshness("p").Mode)
	require.NoError(t, os.Remove(path))
	h.eventually(func() bool { return h.freshness("p") == nil && h.output("p.json") == nil }, "output and status removed")

	// One that never resolved leaves a status file saying why; removing
	// the definition removes it too.
	h.om.DeleteService("databaseService", "mysql_prod")
	bad := h.writeDef("never.json", h.pipeline("never"))
	h.eventually(func() bool { f := h.freshness("never"); return f != nil && f.State == daemon.StateFailed }, "failed status written")
	require.NoError(t, os.Remove(bad))
	h.eventually(func() bool { return h.freshness("never") == nil }, "its status removed with it")
	assert.Empty(t, dirNames(t, h.out))
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestFreshnessAdoptedFromAPreviousRun restarts over an output directory
// a previous run left: a definition failing now keeps the old output,
// stale, with what the old status file said it came from; a status file
// nobody owns is swept with its output.
func TestFreshnessAdoptedFromAPreviousRun(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	path := h.writeDef("p.json", h.pipeline("p"))
	require.Equal(t, 0, h.d.Once(context.Background(), []string{path}), h.logs.String())
	old := h.freshness("p")
	require.NotNil(t, old)
	// Left by a definition deleted while omsecrets was down.
	snk, err := sink.New(sink.Options{Dir: h.out, Group: -1, AllowDisk: true})
	require.NoError(t, err)
	_, err = snk.Write("orphan.json", []byte(`{"source":{}}`))
	require.NoError(t, err)
	_, err = snk.Write("orphan"+daemon.StatusExt, []byte(`{}`))
	require.NoError(t, err)

	// A new process (a container restart): OpenMetadata is down now.
	h.om.Down(true)
	board := status.New()
	d, err := daemon.New(daemon.Options{Reconciler: h.opts.Reconciler, Sink: snk, Board: board, Refresh: time.Hour, RetryBase: time.Hour, Logger: h.opts.Logger})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	synced := make(chan struct{})
	evs := make(chan watch.Event, 1)
	go func() { d.Run(ctx, evs, synced); close(done) }()
	evs <- watch.Event{Path: path}
	close(synced)
	h.eventually(board.Ready, "first pass over")
	h.eventually(func() bool { _, err := os.Stat(filepath.Join(h.out, "orphan.json")); return os.IsNotExist(err) }, "orphan swept")
	_, err = os.Stat(filepath.Join(h.out, "orphan"+daemon.StatusExt))
	assert.True(t, os.IsNotExist(err), "its status file too")

	f := h.freshness("p")
	require.NotNil(t, f)
	assert.Equal(t, daemon.StateStale, f.State)
	assert.Equal(t, "p.json", f.Output)
	assert.Equal(t, old.DefinitionSHA256, f.DefinitionSHA256, "carried over from the previous run's status")
	cancel()
	<-done
}
