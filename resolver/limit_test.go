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

// callTimes returns the arrival times of fake's calls, sorted.
func callTimes(fake *resolvertest.Fake) []time.Time {
	var ts []time.Time
	for _, c := range fake.Calls() {
		ts = append(ts, c.At)
	}
	slices.SortFunc(ts, time.Time.Compare)
	return ts
}

// assertBucket checks that the call times ts never exceed a token bucket
// of rate and burst: any run of calls from ts[i] to ts[j] holds at most
// burst + rate·(ts[j]-ts[i]) calls, plus slack calls. Use it on a fake
// clock, where a call arrives when its token is granted.
func assertBucket(t *testing.T, ts []time.Time, rate float64, burst int, slack float64) {
	t.Helper()
	for i := range ts {
		for j := i + 1; j < len(ts); j++ {
			allowed := float64(burst) + rate*ts[j].Sub(ts[i]).Seconds() + slack
			if float64(j-i+1) > allowed {
				assert.Failf(t, "rate exceeded", "%d calls in %v, bucket allows %.2f", j-i+1, ts[j].Sub(ts[i]), allowed)
				return
			}
		}
	}
}

// assertBucketSince checks that the call times ts, of calls made through
// a full bucket of rate and burst from start on, never ran ahead of it:
// the k-th call (from 1) arrives no earlier than start + (k-burst)/rate.
// Unlike assertBucket it holds in real time on a loaded machine: a late
// goroutine can bunch calls together, but no call can arrive before its
// token.
func assertBucketSince(t *testing.T, start time.Time, ts []time.Time, rate float64, burst int) {
	t.Helper()
	for k := burst + 1; k <= len(ts); k++ {
		earliest := start.Add(time.Duration(float64(k-burst) / rate * float64(time.Second)))
		if ts[k-1].Before(earliest.Add(-time.Millisecond)) { // the bucket's float rounding
			assert.Failf(t, "rate exceeded", "call %d arrived %v after the start, the bucket allows it after %v", k, ts[k-1].Sub(start), earliest.Sub(start))
			return
		}
	}
}

// TestRateLimitBucket runs 40 batch calls, 8 at a time, through a limit
// of 50 calls per second with a burst of 1 and checks their arrival times
// against the bucket, in real time.
func TestRateLimitBucket(t *testing.T) {
	t.Parallel()
	values := make(map[string]string)
	var refs []resolver.StoreRef
	for i := range 80 {
		id := fmt.Sprintf("/r/%02d", i)
		values[id] = "rate-value"
		refs = append(refs, sref(t, "s", "secret:"+id))
	}
	fake := resolvertest.NewBatchFake(values, 2)
	var obs recorder
	r := resolver.New(resolver.Options{
		Stores:   map[string]resolver.Getter{"s": fake},
		Limits:   map[string]resolver.Limit{"s": {Rate: 50, Burst: 1}},
		Observer: &obs,
	})

	start := time.Now()
	got, err := r.Resolve(t.Context(), refs)
	require.NoError(t, err)
	assert.Len(t, got, 80)
	require.Equal(t, 40, fake.Batches())
	assert.Len(t, obs.Calls(), 40)
	// Tokens leave on the bucket's schedule, but a goroutine may reach the
	// store late (by tens of milliseconds under -race on a loaded
	// machine) and arrive together with the next ones, so gaps between
	// arrivals prove nothing in real time: check each arrival against the
	// schedule from the start instead. TestRateLimitOptions and
	// TestRateLimitSharedAcrossCalls check the gaps on a fake clock.
	ts := callTimes(&fake.Fake)
	assertBucketSince(t, start, ts, 50, 1)
	assert.GreaterOrEqual(t, ts[39].Sub(start), 779*time.Millisecond, "39 intervals of 20ms after the first call")
}

// TestRateLimitOptions checks which limit a store gets (its entry in
// Options.Limits; none when it has none) and the default burst, on a fake
// clock where the spacing of calls is exact. A store's default limit is
// its Spec.Limit, which cmd puts in Options.Limits (TestStoreLimits there).
func TestRateLimitOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		limits map[string]resolver.Limit
		calls  int
		want   []time.Duration // arrival of each call after the first
	}{
		{name: "no limit", calls: 3, want: []time.Duration{0, 0, 0}},
		{name: "limit", limits: map[string]resolver.Limit{"s": {Rate: 10, Burst: 1}}, calls: 3, want: []time.Duration{0, 100 * time.Millisecond, 200 * time.Millisecond}},
		{name: "zero limit is unlimited", limits: map[string]resolver.Limit{"s": {}}, calls: 3, want: []time.Duration{0, 0, 0}},
		{name: "limit of another store", limits: map[string]resolver.Limit{"other": {Rate: 10, Burst: 1}}, calls: 2, want: []time.Duration{0, 0}},
		{name: "default burst is a second's worth", limits: map[string]resolver.Limit{"s": {Rate: 4}}, calls: 6, want: []time.Duration{0, 0, 0, 0, 250 * time.Millisecond, 500 * time.Millisecond}},
		{name: "burst", limits: map[string]resolver.Limit{"s": {Rate: 10, Burst: 2}}, calls: 4, want: []time.Duration{0, 0, 100 * time.Millisecond, 200 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				values := make(map[string]string)
				var refs []resolver.StoreRef
				for i := range tc.calls {
					id := fmt.Sprintf("/l/%d", i)
					values[id] = "limit-value"
					refs = append(refs, sref(t, "s", "secret:"+id))
				}
				fake := resolvertest.NewFake(values)
				r := resolver.New(resolver.Options{Stores: map[string]resolver.Getter{"s": fake}, Limits: tc.limits})
				start := time.Now()
				_, err := r.Resolve(t.Context(), refs)
				require.NoError(t, err)
				var got []time.Duration
				for _, at := range callTimes(fake) {
					got = append(got, at.Sub(start))
				}
				assert.Equal(t, tc.want, got)
			})
		})
	}
}

// TestRateLimitSharedAcrossCalls checks that one store's limit holds over
// concurrent Resolve calls, not per call.
func TestRateLimitSharedAcrossCalls(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		values := make(map[string]string)
		fake := resolvertest.NewBatchFake(values, 5)
		var sets [][]resolver.StoreRef
		for i := range 4 {
			var refs []resolver.StoreRef
			for j := range 10 {
				id := fmt.Sprintf("/shared/%d/%d", i, j)
				values[id] = "shared-value"
				refs = append(refs, sref(t, "s", "secret:"+id))
			}
			sets = append(sets, refs)
		}
		r := resolver.New(resolver.Options{
			Stores: map[string]resolver.Getter{"s": fake},
			Limits: map[string]resolver.Limit{"s": {Rate: 10, Burst: 1}},
		})
		var wg sync.WaitGroup
		for _, refs := range sets {
			wg.Go(func() {
				_, err := r.Resolve(t.Context(), refs)
				assert.NoError(t, err)
			})
		}
		wg.Wait()
		require.Equal(t, 8, fake.Batches())
		ts := callTimes(&fake.Fake)
		assertBucket(t, ts, 10, 1, 0.01) // rate.Limiter rounds durations to the nanosecond
		assert.Equal(t, 700*time.Millisecond, ts[7].Sub(ts[0]))
	})
}

// TestConcurrencyIsPerCall checks that Options.Concurrency bounds the
// calls in flight of each Resolve on its own, not of the Resolver: three
// concurrent Resolves of Concurrency 4 have up to 12 calls in flight.
func TestConcurrencyIsPerCall(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		values := make(map[string]string)
		var sets [][]resolver.StoreRef
		for i := range 3 {
			var refs []resolver.StoreRef
			for j := range 8 {
				id := fmt.Sprintf("/f/%d/%d", i, j)
				values[id] = "inflight-value"
				refs = append(refs, sref(t, "s", "secret:"+id))
			}
			sets = append(sets, refs)
		}
		fake := &resolvertest.Fake{Values: values, Delay: 10 * time.Millisecond}
		r := resolver.New(resolver.Options{Stores: map[string]resolver.Getter{"s": fake}, Concurrency: 4})
		var wg sync.WaitGroup
		for _, refs := range sets {
			wg.Go(func() {
				_, err := r.Resolve(t.Context(), refs)
				assert.NoError(t, err)
			})
		}
		wg.Wait()
		assert.Equal(t, 24, fake.Gets())
		assert.Equal(t, 3*4, fake.MaxInFlight())
	})
}

// TestRateLimitDeadline checks that a call the rate limit cannot allow
// before the context's deadline fails at once, without a store call, as
// unavailable with context.DeadlineExceeded.
func TestRateLimitDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fake := resolvertest.NewFake(map[string]string{"/a": "deadline-a", "/b": "deadline-b"})
		r := resolver.New(resolver.Options{
			Stores: map[string]resolver.Getter{"s": fake},
			Limits: map[string]resolver.Limit{"s": {Rate: 1, Burst: 1}},
		})
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		defer cancel()
		start := time.Now()
		got, err := r.Resolve(ctx, []resolver.StoreRef{sref(t, "s", "secret:/a"), sref(t, "s", "secret:/b")})
		assert.Zero(t, time.Since(start), "no wait for a token that comes too late")
		require.Error(t, err)
		assert.Len(t, got, 1)
		assert.Equal(t, 1, fake.Gets())
		re := refErrors(t, err)
		require.Len(t, re, 1)
		assert.ErrorIs(t, re[0], resolver.ErrUnavailable)
		assert.ErrorIs(t, re[0], context.DeadlineExceeded)
		assert.Contains(t, re[0].Error(), "rate limit")
	})
}
