package resolver_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/resolver"
	"omsecrets/resolver/resolvertest"
)

// failFirst returns a Hook that fails the first n calls as a whole with
// err.
func failFirst(n int, err error) func(context.Context, resolvertest.Call) (map[string]error, error) {
	return func(_ context.Context, c resolvertest.Call) (map[string]error, error) {
		if c.N <= n {
			return nil, err
		}
		return nil, nil
	}
}

// retrying returns a Resolver over store "s" with policy and obs.
func retrying(store resolver.Getter, policy resolver.RetryPolicy, obs resolver.Observer) *resolver.Resolver {
	return resolver.New(resolver.Options{Stores: map[string]resolver.Getter{"s": store}, Retry: policy, Observer: obs})
}

// TestRetryTransientThenSuccess checks that transient failures of a
// whole call, by Get or by GetBatch, are retried until the call succeeds.
func TestRetryTransientThenSuccess(t *testing.T) {
	t.Parallel()
	values := map[string]string{"/a": "retry-a", "/b": "retry-b"}
	for _, tc := range []struct {
		name  string
		batch bool
		ids   []string
	}{
		{name: "get", ids: []string{"/a"}}, // one id, so every failing call is its own
		{name: "batch", batch: true, ids: []string{"/a", "/b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bf := resolvertest.NewBatchFake(values, 10)
			fake := &bf.Fake
			var store resolver.Getter = bf
			if !tc.batch {
				store = fake
			}
			fake.Hook = failFirst(2, errTransient)
			var obs recorder
			r := retrying(store, fastRetry, &obs)
			var refs []resolver.StoreRef
			for _, id := range tc.ids {
				refs = append(refs, sref(t, "s", "secret:"+id))
			}
			got, err := r.Resolve(t.Context(), refs)
			require.NoError(t, err)
			for _, sr := range refs {
				assert.Equal(t, values[sr.Ref.ID], got[sr].Value())
			}
			assert.Len(t, fake.Calls(), 3)
			retries := obs.Retries()
			require.Len(t, retries, 2)
			for _, rt := range retries {
				assert.Equal(t, retry{store: "s", result: "unavailable", wait: rt.wait}, rt)
				assert.Less(t, rt.wait, fastRetry.MaxDelay)
			}
			results := []string{}
			for _, c := range obs.Calls() {
				results = append(results, c.result)
			}
			assert.Equal(t, []string{"unavailable", "unavailable", "ok"}, results)
		})
	}
}

// TestRetryAfterHonoured checks that the wait before a retry is at least
// the failure's Retry-After hint, even when the backoff is shorter.
func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
	}{
		{name: "throttled", err: resolver.Throttled("rate exceeded", 300*time.Millisecond)},
		{name: "unavailable", err: resolver.WithRetryAfter(errTransient, 300*time.Millisecond)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				fake := resolvertest.NewBatchFake(map[string]string{"/a": "hint-a"}, 10)
				fake.Hook = failFirst(1, tc.err)
				var obs recorder
				r := retrying(fake, fastRetry, &obs)
				_, err := r.Resolve(t.Context(), []resolver.StoreRef{sref(t, "s", "secret:/a")})
				require.NoError(t, err)
				ts := callTimes(&fake.Fake)
				require.Len(t, ts, 2)
				assert.GreaterOrEqual(t, ts[1].Sub(ts[0]), 300*time.Millisecond)
				retries := obs.Retries()
				require.Len(t, retries, 1)
				assert.Equal(t, 300*time.Millisecond, retries[0].wait)
				assert.Equal(t, resolver.Class(tc.err), retries[0].result)
			})
		})
	}
}

// TestRetryPermanentNotRetried checks that failures that are not
// transient cost one call.
func TestRetryPermanentNotRetried(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
	}{
		{name: "not found", err: resolver.ErrNotFound},
		{name: "permission", err: fmt.Errorf("AccessDeniedException: %w", resolver.ErrPermission)},
		{name: "bad ref", err: resolver.ErrBadRef},
		{name: "unclassified", err: errors.New("boom")},
		{name: "context error without ErrUnavailable", err: context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, batch := range []bool{false, true} {
				fake := resolvertest.NewBatchFake(map[string]string{"/a": "permanent-a"}, 10)
				fake.Hook = failFirst(1, tc.err)
				var store resolver.Getter = fake
				if !batch {
					store = &fake.Fake
				}
				var obs recorder
				r := retrying(store, fastRetry, &obs)
				_, err := r.Resolve(t.Context(), []resolver.StoreRef{sref(t, "s", "secret:/a")})
				require.ErrorIs(t, err, tc.err)
				assert.Len(t, fake.Calls(), 1, "batch %t", batch)
				assert.Empty(t, obs.Retries())
			}
		})
	}
}

// TestRetryThrottledStorm checks that throttling is retried past
// MaxAttempts until it stops, without ever exceeding the rate limit.
func TestRetryThrottledStorm(t *testing.T) {
	t.Parallel()
	const storm = 15
	synctest.Test(t, func(t *testing.T) {
		values := map[string]string{"/a": "storm-a", "/b": "storm-b", "/c": "storm-c"}
		fake := resolvertest.NewBatchFake(values, 2)
		fake.Hook = failFirst(storm, resolver.Throttled("ThrottlingException", 0))
		var obs recorder
		r := resolver.New(resolver.Options{
			Stores:   map[string]resolver.Getter{"s": fake},
			Limits:   map[string]resolver.Limit{"s": {Rate: 100, Burst: 1}},
			Retry:    resolver.RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond},
			Observer: &obs,
		})
		var refs []resolver.StoreRef
		for id := range values {
			refs = append(refs, sref(t, "s", "secret:"+id))
		}
		got, err := r.Resolve(t.Context(), refs)
		require.NoError(t, err)
		assert.Len(t, got, 3)
		assert.Equal(t, storm+2, fake.Batches(), "two chunks, retried through the storm")
		assertBucket(t, callTimes(&fake.Fake), 100, 1, 0.01) // rate.Limiter rounds durations to the nanosecond
		retries := obs.Retries()
		assert.Len(t, retries, storm)
		for _, rt := range retries {
			assert.Equal(t, "throttled", rt.result)
		}
	})
}

// TestRetryPerID checks that only the ids of a batch that failed
// transiently are retried, together in one batch.
func TestRetryPerID(t *testing.T) {
	t.Parallel()
	values := map[string]string{"/a": "perid-a", "/b": "perid-b", "/c": "perid-c", "/d": "perid-d", "/e": "perid-e"}
	fake := resolvertest.NewBatchFake(values, 10)
	fake.Hook = func(_ context.Context, c resolvertest.Call) (map[string]error, error) {
		if c.N == 1 {
			return map[string]error{"/b": errTransient, "/d": resolver.Throttled("slow down", 0), "/e": resolver.ErrPermission}, nil
		}
		return nil, nil
	}
	r := retrying(fake, fastRetry, nil)
	var refs []resolver.StoreRef
	for _, id := range []string{"/a", "/b", "/c", "/d", "/e"} {
		refs = append(refs, sref(t, "s", "secret:"+id))
	}
	got, err := r.Resolve(t.Context(), refs)
	require.Error(t, err)
	assert.ErrorIs(t, refError(t, err, refs[4]), resolver.ErrPermission)
	assert.Len(t, refErrors(t, err), 1)
	assert.Len(t, got, 4)
	for _, sr := range refs[:4] {
		assert.Equal(t, values[sr.Ref.ID], got[sr].Value())
	}
	calls := fake.Calls()
	require.Len(t, calls, 2)
	assert.Equal(t, []string{"/b", "/d"}, calls[1].IDs)
}

// TestRetryMaxAttempts checks that a transient failure other than
// throttling stops after MaxAttempts attempts with the store's error.
func TestRetryMaxAttempts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		maxAttempts int
		want        int
	}{
		{name: "no retries", maxAttempts: 1, want: 1},
		{name: "three", maxAttempts: 3, want: 3},
		{name: "default", maxAttempts: 0, want: resolver.DefaultMaxAttempts},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := resolvertest.NewBatchFake(map[string]string{"/a": "max-a"}, 10)
			fake.Hook = failFirst(1000, errTransient)
			var obs recorder
			policy := fastRetry
			policy.MaxAttempts = tc.maxAttempts
			r := retrying(fake, policy, &obs)
			_, err := r.Resolve(t.Context(), []resolver.StoreRef{sref(t, "s", "secret:/a")})
			require.Error(t, err)
			assert.Equal(t, "unavailable", resolver.Class(err))
			assert.Contains(t, err.Error(), "503")
			assert.Equal(t, tc.want, fake.Batches())
			assert.Len(t, obs.Retries(), tc.want-1)
		})
	}
}

// cancelOnRetry is an Observer that cancels a context when a retry is
// scheduled, so the test knows the Resolver is about to wait.
type cancelOnRetry struct {
	recorder
	cancel context.CancelFunc
}

func (c *cancelOnRetry) Retry(store, result string, wait time.Duration) {
	c.recorder.Retry(store, result, wait)
	c.cancel()
}

// TestRetryStopsOnCancel checks that a canceled context ends a retry wait
// at once, with the last failure and the context's error.
func TestRetryStopsOnCancel(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		err       error
		wantClass string
	}{
		{name: "unavailable", err: errTransient, wantClass: "unavailable"},
		{name: "throttled", err: resolver.Throttled("slow down", 0), wantClass: "throttled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := resolvertest.NewFake(map[string]string{"/a": "cancel-a"})
			fake.Hook = failFirst(1000, tc.err)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			obs := &cancelOnRetry{cancel: cancel}
			// Half an hour of backoff: only the cancellation can end the
			// wait.
			r := resolver.New(resolver.Options{
				Stores:   map[string]resolver.Getter{"s": fake},
				Retry:    resolver.RetryPolicy{BaseDelay: time.Hour, MaxDelay: time.Hour},
				Observer: obs,
				Rand:     func() float64 { return 0.5 },
			})
			o := await(t, resolveAsync(ctx, r, false, []resolver.StoreRef{sref(t, "s", "secret:/a")}))
			require.Error(t, o.err)
			assert.Equal(t, tc.wantClass, resolver.Class(o.err))
			assert.ErrorIs(t, o.err, resolver.ErrUnavailable)
			assert.ErrorIs(t, o.err, context.Canceled)
			assert.Contains(t, o.err.Error(), "retry stopped")
			assert.Equal(t, 1, fake.Gets())
			assert.Len(t, obs.Retries(), 1)
		})
	}
}

// TestRetryThrottledUntilDeadline checks that endless throttling is
// retried until the context's deadline, and no longer.
func TestRetryThrottledUntilDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fake := resolvertest.NewBatchFake(map[string]string{"/a": "deadline-a"}, 10)
		fake.Hook = failFirst(1<<30, resolver.Throttled("slow down", 0))
		r := retrying(fake, resolver.RetryPolicy{MaxAttempts: 1, BaseDelay: 50 * time.Millisecond, MaxDelay: 100 * time.Millisecond}, nil)
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		start := time.Now()
		_, err := r.Resolve(ctx, []resolver.StoreRef{sref(t, "s", "secret:/a")})
		assert.Equal(t, 2*time.Second, time.Since(start))
		require.Error(t, err)
		assert.ErrorIs(t, err, resolver.ErrThrottled)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Greater(t, fake.Batches(), 10, "retried well past MaxAttempts")
	})
}

// shrinking is a BatchFake whose MaxBatch can change between calls, like
// the Secrets Manager store after its batch action is denied.
type shrinking struct {
	*resolvertest.BatchFake
	max atomic.Int32
}

func (s *shrinking) MaxBatch() int { return int(s.max.Load()) }

// TestRetryRechunks checks that a retry reads MaxBatch again: a store
// that dropped to 1 is retried through Get.
func TestRetryRechunks(t *testing.T) {
	t.Parallel()
	values := map[string]string{"/a": "shrink-a", "/b": "shrink-b", "/c": "shrink-c"}
	s := &shrinking{BatchFake: resolvertest.NewBatchFake(values, 10)}
	s.max.Store(10)
	s.Hook = func(_ context.Context, c resolvertest.Call) (map[string]error, error) {
		if c.N == 1 {
			s.max.Store(1)
			return nil, errTransient
		}
		return nil, nil
	}
	r := retrying(s, fastRetry, nil)
	var refs []resolver.StoreRef
	for _, id := range []string{"/a", "/b", "/c"} {
		refs = append(refs, sref(t, "s", "secret:"+id))
	}
	got, err := r.Resolve(t.Context(), refs)
	require.NoError(t, err)
	assert.Len(t, got, 3)
	assert.Equal(t, 1, s.Batches())
	assert.Equal(t, 3, s.Gets())
}
