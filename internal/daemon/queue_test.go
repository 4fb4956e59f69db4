package daemon

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The queue tests run inside synctest bubbles, with the queue made there
// too, so its wake channel and every context timer belong to the bubble:
// time only moves when every goroutine is blocked, so a wait is exact and
// instant. A take that should return but blocks is caught two ways:
// mustTake bounds it with a bubble-time deadline and fails with a message,
// and a goroutine stuck with no timer left to fire is reported by synctest
// as a deadlock, where a background context would hang the test binary.

// mustTakeWithin bounds mustTake; in bubble time it costs nothing.
const mustTakeWithin = time.Minute

// mustTake calls q.take with a deadline and fails t if it ran out: the
// caller knows a path is takeable, so take must return, and at once.
func mustTake(t *testing.T, q *queue, n int) []Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), mustTakeWithin)
	defer cancel()
	start := time.Now()
	jobs := q.take(ctx, n)
	require.NotNil(t, jobs, "take(%d) returned nothing after %v, though a path was takeable", n, time.Since(start))
	assert.Zero(t, time.Since(start), "take waited although a path was takeable")
	return jobs
}

func TestQueueCoalescesAndKeepsOneRunPerPath(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		q := newQueue()
		q.add("a", false)
		q.add("b", false)
		q.add("a", true) // merged, and fresh sticks
		jobs := mustTake(t, q, 10)
		assert.Equal(t, []Job{{Path: "a", Fresh: true}, {Path: "b"}}, jobs)
		assert.False(t, q.idle())

		// a changes while it runs: it is not handed out again until done.
		q.add("a", false)
		q.add("c", false)
		got := mustTake(t, q, 10)
		assert.Equal(t, []Job{{Path: "c"}}, got)

		short, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		assert.Nil(t, q.take(short, 10), "a is in flight, nothing else pending")
		assert.Equal(t, 50*time.Millisecond, time.Since(start), "take waits until its context ends")

		q.done(jobs)
		assert.Equal(t, []Job{{Path: "a"}}, mustTake(t, q, 10), "a runs once more after its run")
		q.done([]Job{{Path: "a"}})
		q.done(got)
		assert.True(t, q.idle())
	})
}

func TestQueueTakeRespectsMax(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		q := newQueue()
		for _, p := range []string{"1", "2", "3", "4", "5"} {
			q.add(p, false)
		}
		assert.Equal(t, []Job{{Path: "1"}, {Path: "2"}}, mustTake(t, q, 2))
		assert.Equal(t, []Job{{Path: "3"}, {Path: "4"}}, mustTake(t, q, 2))
		assert.Equal(t, []Job{{Path: "5"}}, mustTake(t, q, 2))
	})
}

// TestQueueTakeWakesOnAdd checks that a take blocked on an empty queue
// returns as soon as a path is added, and one blocked on a path in flight
// as soon as that run is done: no bubble time passes in between.
func TestQueueTakeWakesOnAdd(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		q := newQueue()
		ctx, cancel := context.WithTimeout(t.Context(), mustTakeWithin)
		defer cancel()
		got := make(chan []Job, 1)
		// returned is what the blocked take returned once everything
		// else is blocked too, without letting bubble time pass.
		returned := func() []Job {
			t.Helper()
			synctest.Wait()
			select {
			case jobs := <-got:
				return jobs
			default:
				require.FailNow(t, "take is still blocked")
				return nil
			}
		}

		go func() { got <- q.take(ctx, 10) }()
		synctest.Wait()
		require.Len(t, got, 0, "take returned from an empty queue")
		time.Sleep(time.Second)
		require.Len(t, got, 0, "take returned from an empty queue")
		q.add("a", false)
		jobs := returned()
		assert.Equal(t, []Job{{Path: "a"}}, jobs)

		q.add("a", true)
		go func() { got <- q.take(ctx, 10) }()
		synctest.Wait()
		require.Len(t, got, 0, "take handed out a path in flight")
		q.done(jobs)
		assert.Equal(t, []Job{{Path: "a", Fresh: true}}, returned())
	})
}

func TestQueueWorkersNeverOverlapOnAPath(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		q := newQueue()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var mu sync.Mutex
		running := map[string]bool{}
		runs := map[string]int{}
		overlap := false
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for {
					jobs := q.take(ctx, 3)
					if jobs == nil {
						return
					}
					mu.Lock()
					for _, j := range jobs {
						if running[j.Path] {
							overlap = true
						}
						running[j.Path] = true
						runs[j.Path]++
					}
					mu.Unlock()
					// A run takes bubble time, so the other workers
					// take what they can meanwhile.
					time.Sleep(time.Millisecond)
					mu.Lock()
					for _, j := range jobs {
						running[j.Path] = false
					}
					mu.Unlock()
					q.done(jobs)
				}
			})
		}
		// Each round adds every path again while the last round's runs
		// are half done, so idle workers are offered paths in flight.
		paths := []string{"a", "b", "c", "d", "e"}
		for range 60 {
			for _, p := range paths {
				q.add(p, false)
			}
			time.Sleep(500 * time.Microsecond)
		}
		// Every worker ends up blocked in take on an empty queue; until
		// then let the runs' bubble time go by.
		for deadline := time.Now().Add(time.Minute); !q.idle(); {
			require.True(t, time.Now().Before(deadline), "the queue is not idle after a minute of bubble time")
			time.Sleep(time.Millisecond)
		}
		cancel()
		wg.Wait()
		assert.False(t, overlap, "a path ran in two workers at once")
		for _, p := range paths {
			assert.GreaterOrEqual(t, runs[p], 2, "%s was added again while it ran, so it ran once more", p)
		}
	})
}
