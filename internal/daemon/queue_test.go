package daemon

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestQueueCoalescesAndKeepsOneRunPerPath(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := newQueue()
	q.add("a", false)
	q.add("b", false)
	q.add("a", true) // merged, and fresh sticks
	jobs := q.take(ctx, 10)
	assert.Equal(t, []Job{{Path: "a", Fresh: true}, {Path: "b"}}, jobs)
	assert.False(t, q.idle())

	// a changes while it runs: it is not handed out again until done.
	q.add("a", false)
	q.add("c", false)
	got := q.take(ctx, 10)
	assert.Equal(t, []Job{{Path: "c"}}, got)

	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	assert.Nil(t, q.take(short, 10), "a is in flight, nothing else pending")

	q.done(jobs)
	assert.Equal(t, []Job{{Path: "a"}}, q.take(ctx, 10), "a runs once more after its run")
	q.done([]Job{{Path: "a"}})
	q.done(got)
	assert.True(t, q.idle())
}

func TestQueueTakeRespectsMax(t *testing.T) {
	t.Parallel()
	q := newQueue()
	for _, p := range []string{"1", "2", "3", "4", "5"} {
		q.add(p, false)
	}
	ctx := context.Background()
	assert.Len(t, q.take(ctx, 2), 2)
	assert.Len(t, q.take(ctx, 2), 2)
	last := q.take(ctx, 2)
	assert.Equal(t, []Job{{Path: "5"}}, last)
}

func TestQueueWorkersNeverOverlapOnAPath(t *testing.T) {
	t.Parallel()
	q := newQueue()
	ctx, cancel := context.WithCancel(context.Background())
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
	for i := range 300 {
		q.add([]string{"a", "b", "c", "d", "e"}[i%5], false)
	}
	require.Eventually(t, q.idle, 10*time.Second, 5*time.Millisecond)
	cancel()
	wg.Wait()
	assert.False(t, overlap, "a path ran in two workers at once")
	for _, p := range []string{"a", "b", "c", "d", "e"} {
		assert.GreaterOrEqual(t, runs[p], 1, p)
	}
}
