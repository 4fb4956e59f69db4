package resolver_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/resolver"
	"omsecrets/resolver/resolvertest"
)

// window returns references to ids /w/<from> up to /w/<to-1> in store s,
// and sets their values in values.
func window(t *testing.T, values map[string]string, from, to int) []resolver.StoreRef {
	t.Helper()
	var refs []resolver.StoreRef
	for i := from; i < to; i++ {
		id := fmt.Sprintf("/w/%02d", i)
		values[id] = "window-value-" + id
		refs = append(refs, sref(t, "s", "secret:"+id))
	}
	return refs
}

// TestSingleflightPlan starts Resolves of overlapping windows one after
// the other while every store call is held, and checks that each call
// fetches only the ids nobody else is fetching, in full batches, and
// waits for the others: every id is fetched once, in the fewest batches
// that plan allows.
func TestSingleflightPlan(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		values := make(map[string]string)
		windows := [][]resolver.StoreRef{
			window(t, values, 0, 20),  // owns 0-19: 2 batches of 10
			window(t, values, 5, 25),  // owns 20-24: 1 batch of 5, waits for 15
			window(t, values, 10, 30), // owns 25-29: 1 batch of 5
			window(t, values, 0, 35),  // owns 30-34: 1 batch of 5
		}
		release := make(chan struct{})
		fake := resolvertest.NewBatchFake(values, 10)
		fake.Hook = gate(release)
		r, _ := newResolver(map[string]resolver.Getter{"s": fake}, 0)

		var results []<-chan outcome
		inFlight, waiting := 0, 0
		for i, refs := range windows {
			results = append(results, resolveAsync(t.Context(), r, i%2 == 1, refs))
			// Wait until this call has planned before starting the next, so
			// the plan is deterministic.
			owned := []int{20, 5, 5, 5}[i]
			inFlight += owned
			waiting += len(refs) - owned
			waitStats(t, r, func(s resolver.Stats) bool { return s.InFlight == inFlight && s.Waiting == waiting }, fmt.Sprintf("call %d planned", i))
		}
		close(release)

		for i, ch := range results {
			o := await(t, ch)
			require.NoError(t, o.err, "call %d", i)
			require.Len(t, o.vals, len(windows[i]))
			for _, sr := range windows[i] {
				assert.Equal(t, values[sr.Ref.ID], o.vals[sr].Value())
			}
		}
		requested := fake.Requested()
		slices.Sort(requested)
		assert.Equal(t, slices.Sorted(mapKeys(values)), requested, "every id fetched once")
		sizes := fake.BatchSizes()
		slices.Sort(sizes)
		assert.Equal(t, []int{5, 5, 5, 10, 10}, sizes)
		assert.Equal(t, resolver.Stats{}, resolver.StatsOf(r), "nothing left in flight")
	})
}

// TestSingleflightConcurrent runs many Resolves of overlapping random-ish
// sets at once against a slow store with a cache: an id is either in
// flight (joined), cached (hit) or fetched, so each is fetched exactly
// once, and each call's own ids go in full batches but one per store.
func TestSingleflightConcurrent(t *testing.T) {
	t.Parallel()
	const callers, maxBatch = 12, 10
	values := make(map[string]string)
	var sets [][]resolver.StoreRef
	for i := range callers {
		from := (i * 7) % 40
		sets = append(sets, window(t, values, from, from+25))
	}
	fake := resolvertest.NewBatchFake(values, maxBatch)
	fake.Delay = 5 * time.Millisecond
	r := resolver.New(resolver.Options{Stores: map[string]resolver.Getter{"s": fake}, CacheTTL: time.Hour})

	var wg sync.WaitGroup
	for _, refs := range sets {
		wg.Go(func() {
			got, err := r.Resolve(context.Background(), refs)
			assert.NoError(t, err)
			for _, sr := range refs {
				assert.Equal(t, values[sr.Ref.ID], got[sr].Value())
			}
		})
	}
	wg.Wait()
	requested := fake.Requested()
	slices.Sort(requested)
	assert.Equal(t, slices.Sorted(mapKeys(values)), requested, "every id fetched exactly once")
	partial := 0
	for _, n := range fake.BatchSizes() {
		if n < maxBatch {
			partial++
		}
	}
	assert.LessOrEqual(t, partial, callers, "at most one partial batch per call")
}

// TestSingleflightOwnerCanceled checks that a call waiting for a fetch
// whose owner's context is canceled fetches the ids itself and succeeds.
func TestSingleflightOwnerCanceled(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		values := make(map[string]string)
		refs := window(t, values, 0, 3)
		fake := resolvertest.NewBatchFake(values, 10)
		// The first call hangs until its context ends; later calls answer.
		fake.Hook = func(ctx context.Context, c resolvertest.Call) (map[string]error, error) {
			if c.N == 1 {
				<-ctx.Done()
				return nil, unavailableCtx(ctx)
			}
			return nil, nil
		}
		r, _ := newResolver(map[string]resolver.Getter{"s": fake}, 0)

		ownerCtx, cancel := context.WithCancel(t.Context())
		defer cancel()
		owner := resolveAsync(ownerCtx, r, false, refs)
		waitStats(t, r, func(s resolver.Stats) bool { return s.InFlight == 3 }, "owner fetching")
		waiter := resolveAsync(t.Context(), r, false, refs)
		waitStats(t, r, func(s resolver.Stats) bool { return s.Waiting == 3 }, "waiter waiting")
		cancel()

		o := await(t, owner)
		require.Error(t, o.err)
		assert.ErrorIs(t, o.err, context.Canceled)
		assert.ErrorIs(t, o.err, resolver.ErrUnavailable)

		o = await(t, waiter)
		require.NoError(t, o.err, "the owner's cancellation is not the waiter's failure")
		for _, sr := range refs {
			assert.Equal(t, values[sr.Ref.ID], o.vals[sr].Value())
		}
		assert.Equal(t, 2, fake.Batches(), "the waiter fetched once more")
		assert.Equal(t, resolver.Stats{}, resolver.StatsOf(r))
	})
}

// TestSingleflightWaiterCanceled checks that a waiter whose own context
// ends stops waiting at once, while the owner's fetch goes on.
func TestSingleflightWaiterCanceled(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		values := make(map[string]string)
		refs := window(t, values, 0, 2)
		release := make(chan struct{})
		fake := resolvertest.NewBatchFake(values, 10)
		fake.Hook = gate(release)
		r, _ := newResolver(map[string]resolver.Getter{"s": fake}, 0)

		owner := resolveAsync(t.Context(), r, false, refs)
		waitStats(t, r, func(s resolver.Stats) bool { return s.InFlight == 2 }, "owner fetching")
		waiterCtx, cancel := context.WithCancel(t.Context())
		waiter := resolveAsync(waiterCtx, r, true, refs)
		waitStats(t, r, func(s resolver.Stats) bool { return s.Waiting == 2 }, "waiter waiting")
		cancel()

		o := await(t, waiter)
		require.Error(t, o.err)
		assert.ErrorIs(t, o.err, context.Canceled)
		assert.Equal(t, "unavailable", resolver.Class(o.err))
		assert.Len(t, refErrors(t, o.err), 2)

		close(release)
		o = await(t, owner)
		require.NoError(t, o.err)
		assert.Len(t, o.vals, 2)
		assert.Equal(t, 1, fake.Batches())
	})
}

// TestRefreshJoinsFetchInFlight checks that a Refresh shares a fetch in
// flight (it is as fresh as its own would be) but not the cache.
func TestRefreshJoinsFetchInFlight(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		fake := resolvertest.NewFake(map[string]string{"/x": "join-value"})
		fake.Hook = gate(release)
		r := resolver.New(resolver.Options{Stores: map[string]resolver.Getter{"s": fake}, CacheTTL: time.Hour})
		x := []resolver.StoreRef{sref(t, "s", "secret:/x")}

		first := resolveAsync(t.Context(), r, false, x)
		waitStats(t, r, func(s resolver.Stats) bool { return s.InFlight == 1 }, "resolve fetching")
		refresh := resolveAsync(t.Context(), r, true, x)
		waitStats(t, r, func(s resolver.Stats) bool { return s.Waiting == 1 }, "refresh waiting")
		close(release)
		for _, ch := range []<-chan outcome{first, refresh} {
			o := await(t, ch)
			require.NoError(t, o.err)
			assert.Equal(t, "join-value", o.vals[x[0]].Value())
		}
		assert.Equal(t, 1, fake.Gets(), "one fetch for both")

		// With the value cached and nothing in flight, Refresh fetches.
		o := await(t, resolveAsync(t.Context(), r, true, x))
		require.NoError(t, o.err)
		assert.Equal(t, 2, fake.Gets())
	})
}
