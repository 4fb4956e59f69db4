package daemon_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// histogramCount returns the sample count of histogram name.
func (h *harness) histogramCount(name string) uint64 {
	h.t.Helper()
	mfs, err := h.metrics.Registry().Gather()
	require.NoError(h.t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			var n uint64
			for _, m := range mf.GetMetric() {
				n += m.GetHistogram().GetSampleCount()
			}
			return n
		}
	}
	return 0
}

// TestRunRecordsLatencyAndRefreshDuration: a definition changed after
// readiness is timed from hand-over to output, and each periodic
// refresh's duration is recorded once all of its definitions ran.
func TestRunRecordsLatencyAndRefreshDuration(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *options) { o.Refresh = 300 * time.Millisecond })
	h.writeDef("a.json", h.pipeline("a"))
	h.start()
	h.eventually(func() bool { return h.board.Ready() }, "ready")
	readyAt := time.Now()
	assert.Zero(t, h.histogramCount("omsecrets_definition_to_output_seconds"), "the initial scan is not a change")
	h.writeDef("b.json", h.pipeline("b"))
	h.eventually(func() bool { return h.histogramCount("omsecrets_definition_to_output_seconds") >= 1 }, "a new definition's latency is recorded")
	h.eventually(func() bool { return h.histogramCount("omsecrets_refresh_duration_seconds") >= 2 }, "refreshes are timed")
	// The last full pass is the last refresh's end, not the start-up's.
	mfs, err := h.metrics.Registry().Gather()
	require.NoError(t, err)
	var last float64
	for _, mf := range mfs {
		if mf.GetName() == "omsecrets_last_full_pass_timestamp_seconds" {
			last = mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	assert.Greater(t, last, float64(readyAt.Add(250*time.Millisecond).UnixNano())/1e9, "a refresh ended after the start-up pass")
}

// TestRunStartJitter: the first pass waits up to StartJitter, and a
// sidecar alone still becomes ready within it.
func TestRunStartJitter(t *testing.T) {
	t.Parallel()
	const jitter = 400 * time.Millisecond
	var first time.Time
	h := newHarness(t, func(o *options) { o.StartJitter = jitter })
	h.writeDef("a.json", h.pipeline("a"))
	start := time.Now()
	h.start()
	h.eventually(func() bool { return h.board.Ready() }, "ready")
	first = time.Now()
	assert.Less(t, first.Sub(start), jitter+5*time.Second, "ready soon after the jitter")
	// The delay is random in [0, jitter): over several daemons at least
	// one must wait a noticeable time, and none longer than jitter plus a
	// pass. (One daemon alone may draw ~0.)
	var waited []time.Duration
	for range 6 {
		h := newHarness(t, func(o *options) { o.StartJitter = jitter })
		h.writeDef("a.json", h.pipeline("a"))
		s := time.Now()
		h.start()
		h.eventually(func() bool { return h.board.Ready() }, "ready")
		waited = append(waited, time.Since(s))
	}
	longest := waited[0]
	for _, w := range waited {
		longest = max(longest, w)
	}
	assert.Greater(t, longest, jitter/4, "some first pass was delayed: %v", waited)
}
