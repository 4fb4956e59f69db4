package daemon

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/status"
	"omsecrets/internal/watch"
)

type recordingRun struct {
	mu    sync.Mutex
	jobs  []Job
	delay time.Duration
}

func (r *recordingRun) run(_ context.Context, jobs []Job) {
	time.Sleep(r.delay)
	r.mu.Lock()
	r.jobs = append(r.jobs, jobs...)
	r.mu.Unlock()
}

func (r *recordingRun) count(path string, fresh bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, j := range r.jobs {
		if j.Path == path && j.Fresh == fresh {
			n++
		}
	}
	return n
}

func newTestLoop(rr *recordingRun, refresh time.Duration, known []string) *loop {
	return &loop{
		workers:  2,
		batchMax: 10,
		refresh:  refresh,
		logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		board:    status.New(),
		run:      rr.run,
		known:    func() []string { return known },
	}
}

func TestLoopReadyAfterInitialEvents(t *testing.T) {
	t.Parallel()
	rr := &recordingRun{delay: 30 * time.Millisecond}
	l := newTestLoop(rr, time.Hour, nil)
	events := make(chan watch.Event)
	synced := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.serve(ctx, events, synced); close(done) }()

	for _, p := range []string{"a.json", "b.json", "c.json"} {
		events <- watch.Event{Path: p}
	}
	assert.False(t, l.board.Ready(), "not ready before the initial scan is over")
	close(synced)
	require.Eventually(t, l.board.Ready, 5*time.Second, 5*time.Millisecond)
	for _, p := range []string{"a.json", "b.json", "c.json"} {
		assert.Equal(t, 1, rr.count(p, false), p)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not return after cancel")
	}
}

func TestLoopReadyWithNoDefinitions(t *testing.T) {
	t.Parallel()
	l := newTestLoop(&recordingRun{}, time.Hour, nil)
	synced := make(chan struct{})
	close(synced)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l.serve(ctx, make(chan watch.Event), synced)
	require.Eventually(t, l.board.Ready, 5*time.Second, 5*time.Millisecond)
}

func TestLoopRefreshQueuesFreshJobs(t *testing.T) {
	t.Parallel()
	rr := &recordingRun{}
	l := newTestLoop(rr, 20*time.Millisecond, []string{"a.json", "b.json"})
	synced := make(chan struct{})
	close(synced)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go l.serve(ctx, make(chan watch.Event), synced)
	require.Eventually(t, func() bool { return rr.count("a.json", true) >= 2 && rr.count("b.json", true) >= 2 },
		5*time.Second, 5*time.Millisecond)
}

func TestJitterAroundBounds(t *testing.T) {
	t.Parallel()
	seen := map[time.Duration]bool{}
	for range 1000 {
		d := jitterAround(10 * time.Second)
		require.GreaterOrEqual(t, d, 9*time.Second)
		require.LessOrEqual(t, d, 11*time.Second)
		seen[d] = true
	}
	assert.Greater(t, len(seen), 100, "jitter varies")
	assert.Equal(t, time.Duration(0), jitterAround(0))
}

// TestLoopOnIdleOncePerQuietSpell: onIdle runs once after work has been
// followed by idleAfter of quiet, not again while nothing happens, and
// again after the next batch's quiet.
func TestLoopOnIdleOncePerQuietSpell(t *testing.T) {
	t.Parallel()
	rr := &recordingRun{}
	l := newTestLoop(rr, time.Hour, nil)
	var idles atomic.Int32
	l.onIdle = func() { idles.Add(1) }
	l.idleAfter = 60 * time.Millisecond
	events := make(chan watch.Event)
	synced := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.serve(ctx, events, synced); close(done) }()
	defer func() { cancel(); <-done }()

	time.Sleep(200 * time.Millisecond)
	assert.Zero(t, idles.Load(), "no work yet: nothing to give back")
	events <- watch.Event{Path: "a.json"}
	close(synced)
	require.Eventually(t, func() bool { return idles.Load() == 1 }, 5*time.Second, 5*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	assert.Equal(t, int32(1), idles.Load(), "once per quiet spell")
	events <- watch.Event{Path: "b.json"}
	require.Eventually(t, func() bool { return idles.Load() == 2 }, 5*time.Second, 5*time.Millisecond)
}
