package resolver_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/resolver"
	"omsecrets/resolver/db"
	"omsecrets/resolver/resolvertest"
)

const ttl = time.Minute

// cached returns a Resolver over stores with a cache of ttl on clk, the
// given Rand (default if nil) and fastRetry.
func cached(stores map[string]resolver.Getter, clk *clock, rnd func() float64, obs resolver.Observer) *resolver.Resolver {
	return resolver.New(resolver.Options{
		Stores:   stores,
		CacheTTL: ttl,
		Now:      clk.Now,
		Rand:     rnd,
		Retry:    fastRetry,
		Observer: obs,
	})
}

// TestCacheHitMiss checks that a second Resolve within the TTL costs no
// store call, that #key variants of one id share one entry, and that the
// observer sees the lookups.
func TestCacheHitMiss(t *testing.T) {
	t.Parallel()
	fake := resolvertest.NewBatchFake(map[string]string{"/db": `{"user":"cache-user","password":"cache-pass"}`, "/b": "cache-b"}, 10)
	var obs recorder
	r := cached(map[string]resolver.Getter{"aws": fake}, newClock(), nil, &obs)
	whole, user, pass, b := sref(t, "aws", "secret:/db"), sref(t, "aws", "secret:/db#user"), sref(t, "aws", "secret:/db#password"), sref(t, "aws", "secret:/b")

	got, err := r.Resolve(t.Context(), []resolver.StoreRef{user, b})
	require.NoError(t, err)
	assert.Equal(t, "cache-user", got[user].Value())
	assert.Equal(t, 1, fake.Batches())
	hit, miss := hits(obs.Lookups())
	assert.Equal(t, 0, hit)
	assert.Equal(t, 2, miss)

	// Other keys of the cached id, and the id itself, come from the cache.
	got, err = r.Resolve(t.Context(), []resolver.StoreRef{pass, whole, b})
	require.NoError(t, err)
	assert.Equal(t, "cache-pass", got[pass].Value())
	assert.Equal(t, `{"user":"cache-user","password":"cache-pass"}`, got[whole].Value())
	assert.Equal(t, "cache-b", got[b].Value())
	assert.Equal(t, 1, fake.Batches(), "served from the cache")
	hit, miss = hits(obs.Lookups())
	assert.Equal(t, 2, hit, "one lookup per id, not per reference")
	assert.Equal(t, 2, miss)
	assert.Equal(t, 2, resolver.StatsOf(r).CacheEntries)
}

// TestCacheKeyVariantsShareFetch checks that references to keys of one id
// made by separate Resolve calls cost one fetch.
func TestCacheKeyVariantsShareFetch(t *testing.T) {
	t.Parallel()
	fake := resolvertest.NewFake(map[string]string{"/x": `{"a":"variant-a","b":"variant-b"}`})
	r := cached(map[string]resolver.Getter{"s": fake}, newClock(), nil, nil)
	a, b := sref(t, "s", "secret:/x#a"), sref(t, "s", "secret:/x#b")
	got, err := r.Resolve(t.Context(), []resolver.StoreRef{a})
	require.NoError(t, err)
	assert.Equal(t, "variant-a", got[a].Value())
	got, err = r.Resolve(t.Context(), []resolver.StoreRef{b})
	require.NoError(t, err)
	assert.Equal(t, "variant-b", got[b].Value())
	assert.Equal(t, 1, fake.Gets())
}

// TestCacheExpiry checks an entry's exact lifetime, TTL minus the jitter
// share Rand picks, with an injected clock.
func TestCacheExpiry(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		u    float64
		life time.Duration
	}{
		{name: "no jitter", u: 0, life: ttl},
		{name: "half jitter", u: 0.5, life: ttl - ttl/20},
		{name: "most jitter", u: 0.999, life: ttl - time.Duration(0.999*0.1*float64(ttl))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := resolvertest.NewFake(map[string]string{"/x": "expiry-value"})
			clk := newClock()
			r := cached(map[string]resolver.Getter{"s": fake}, clk, func() float64 { return tc.u }, nil)
			x := []resolver.StoreRef{sref(t, "s", "secret:/x")}

			_, err := r.Resolve(t.Context(), x)
			require.NoError(t, err)
			clk.Add(tc.life - time.Nanosecond)
			_, err = r.Resolve(t.Context(), x)
			require.NoError(t, err)
			assert.Equal(t, 1, fake.Gets(), "alive until its expiry")

			clk.Add(time.Nanosecond)
			got, err := r.Resolve(t.Context(), x)
			require.NoError(t, err)
			assert.Equal(t, 2, fake.Gets(), "fetched again at its expiry")
			assert.Equal(t, "expiry-value", got[x[0]].Value())
		})
	}
}

// TestCacheJitterSpread checks, with the default randomness, that entries
// fetched together live between 90% and 100% of the TTL and do not all
// expire at once.
func TestCacheJitterSpread(t *testing.T) {
	t.Parallel()
	const n = 200
	values := make(map[string]string, n)
	var refs []resolver.StoreRef
	for i := range n {
		id := fmt.Sprintf("/j/%03d", i)
		values[id] = "jitter-value"
		refs = append(refs, sref(t, "s", "secret:"+id))
	}
	fake := resolvertest.NewBatchFake(values, 20)
	clk := newClock()
	r := cached(map[string]resolver.Getter{"s": fake}, clk, nil, nil)
	fetchedAt := func(d time.Duration) int {
		clk.Add(d)
		fake.Reset()
		_, err := r.Resolve(t.Context(), refs)
		require.NoError(t, err)
		return len(fake.Requested())
	}

	require.Equal(t, n, fetchedAt(0))
	assert.Zero(t, fetchedAt(ttl*9/10), "no entry lives less than 90% of the TTL")
	mid := fetchedAt(ttl / 20) // 95% of the TTL
	assert.Positive(t, mid, "some entries expired by 95%% of the TTL")
	assert.Less(t, mid, n, "not all entries expired by 95%% of the TTL")
	// At 100% every first-round entry has expired; those fetched again at
	// 95% live on.
	assert.Equal(t, n-mid, fetchedAt(ttl/20), "no entry lives more than the TTL")
}

// TestCacheErrorsNotCached checks that a failed fetch is fetched again by
// the next Resolve, whatever the error class.
func TestCacheErrorsNotCached(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
	}{
		{name: "not found", err: resolver.ErrNotFound},
		{name: "permission", err: resolver.ErrPermission},
		{name: "unavailable", err: errTransient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := resolvertest.NewFake(map[string]string{"/x": "errors-value"})
			// Only the first call fails: a retry, or a cached failure,
			// would show in the outcomes.
			fake.Hook = func(_ context.Context, c resolvertest.Call) (map[string]error, error) {
				if c.N == 1 {
					return nil, tc.err
				}
				return nil, nil
			}
			r := resolver.New(resolver.Options{
				Stores:   map[string]resolver.Getter{"s": fake},
				CacheTTL: ttl,
				Retry:    resolver.RetryPolicy{MaxAttempts: 1, BaseDelay: time.Millisecond},
			})
			x := []resolver.StoreRef{sref(t, "s", "secret:/x")}
			_, err := r.Resolve(t.Context(), x)
			require.ErrorIs(t, err, tc.err)
			assert.Zero(t, resolver.StatsOf(r).CacheEntries)

			got, err := r.Resolve(t.Context(), x)
			require.NoError(t, err)
			assert.Equal(t, "errors-value", got[x[0]].Value())
			assert.Equal(t, 2, fake.Gets())
			assert.Equal(t, 1, resolver.StatsOf(r).CacheEntries, "the success is cached")
		})
	}
}

// TestCacheDisabled checks that a zero TTL fetches on every Resolve and
// keeps nothing.
func TestCacheDisabled(t *testing.T) {
	t.Parallel()
	fake := resolvertest.NewFake(map[string]string{"/x": "disabled-value"})
	var obs recorder
	r := resolver.New(resolver.Options{Stores: map[string]resolver.Getter{"s": fake}, Observer: &obs})
	x := []resolver.StoreRef{sref(t, "s", "secret:/x")}
	for range 3 {
		_, err := r.Resolve(t.Context(), x)
		require.NoError(t, err)
	}
	assert.Equal(t, 3, fake.Gets())
	assert.Zero(t, resolver.StatsOf(r).CacheEntries)
	assert.Empty(t, obs.Lookups(), "no cache, no lookups")
}

// TestCacheSkipsValueIDs checks that a store whose ids are values is
// neither cached nor reported to the observer's cache lookups.
func TestCacheSkipsValueIDs(t *testing.T) {
	t.Parallel()
	var obs recorder
	r := cached(map[string]resolver.Getter{"db": db.New()}, newClock(), nil, &obs)
	sr := resolver.StoreRef{Store: "db", Ref: resolver.Ref{ID: "cache-db-value"}}
	for range 2 {
		got, err := r.Resolve(t.Context(), []resolver.StoreRef{sr})
		require.NoError(t, err)
		assert.Equal(t, "cache-db-value", got[sr].Value())
	}
	assert.Equal(t, resolver.Stats{}, resolver.StatsOf(r))
	assert.Empty(t, obs.Lookups())
	assert.Len(t, obs.Calls(), 2, "resolved by the store each time")
}

// TestCacheSweep checks that entries of ids nobody asks for any more are
// removed by the sweep that runs when a value is stored, at most once per
// TTL.
func TestCacheSweep(t *testing.T) {
	t.Parallel()
	fake := resolvertest.NewFake(map[string]string{"/a": "sweep-a", "/b": "sweep-b", "/c": "sweep-c", "/d": "sweep-d"})
	clk := newClock()
	r := cached(map[string]resolver.Getter{"s": fake}, clk, nil, nil)
	resolve := func(ids ...string) {
		var refs []resolver.StoreRef
		for _, id := range ids {
			refs = append(refs, sref(t, "s", "secret:"+id))
		}
		_, err := r.Resolve(t.Context(), refs)
		require.NoError(t, err)
	}

	resolve("/a", "/b")
	require.Equal(t, 2, resolver.StatsOf(r).CacheEntries)
	clk.Add(2 * ttl)
	assert.Equal(t, 2, resolver.StatsOf(r).CacheEntries, "expired entries stay until a sweep")
	resolve("/c")
	assert.Equal(t, 1, resolver.StatsOf(r).CacheEntries, "the sweep removed /a and /b")

	clk.Add(ttl / 2)
	resolve("/d")
	assert.Equal(t, 2, resolver.StatsOf(r).CacheEntries, "nothing expired")
}

// rotating is a store whose value changes on every call, like a secret
// that is rotated between fetches.
type rotating struct{ n atomic.Int32 }

func (s *rotating) Get(context.Context, string) (resolver.Secret, error) {
	return resolver.NewSecret(fmt.Sprintf("rotated-%d", s.n.Add(1))), nil
}

// TestRefreshBypassesCache checks that Refresh always fetches and that
// later Resolves see what it fetched.
func TestRefreshBypassesCache(t *testing.T) {
	t.Parallel()
	store := &rotating{}
	var obs recorder
	r := cached(map[string]resolver.Getter{"s": store}, newClock(), nil, &obs)
	x := sref(t, "s", "secret:/x")
	value := func(refresh bool) string {
		t.Helper()
		o := await(t, resolveAsync(t.Context(), r, refresh, []resolver.StoreRef{x}))
		require.NoError(t, o.err)
		return o.vals[x].Value()
	}

	assert.Equal(t, "rotated-1", value(false))
	assert.Equal(t, "rotated-1", value(false), "cached")
	assert.Equal(t, "rotated-2", value(true), "refresh fetches")
	assert.Equal(t, "rotated-3", value(true), "every time")
	assert.Equal(t, "rotated-3", value(false), "and updates the cache")
	assert.Equal(t, int32(3), store.n.Load())
	hit, miss := hits(obs.Lookups())
	assert.Equal(t, 2, hit)
	assert.Equal(t, 1, miss, "Refresh does not look up")
}

// TestRefreshFailure checks what a failed Refresh does to the cached
// value: a permanent failure drops it (a deleted or revoked secret is not
// served from the cache), a transient one keeps it.
func TestRefreshFailure(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		err       error
		keep      bool
		wantCalls int
	}{
		{name: "not found drops", err: resolver.ErrNotFound, keep: false, wantCalls: 3},
		{name: "permission drops", err: resolver.ErrPermission, keep: false, wantCalls: 3},
		{name: "unavailable keeps", err: errTransient, keep: true, wantCalls: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := resolvertest.NewFake(map[string]string{"/x": "refresh-value"})
			fake.Hook = func(_ context.Context, c resolvertest.Call) (map[string]error, error) {
				if c.N == 2 { // the Refresh
					return nil, tc.err
				}
				return nil, nil
			}
			r := resolver.New(resolver.Options{
				Stores:   map[string]resolver.Getter{"s": fake},
				CacheTTL: ttl,
				Retry:    resolver.RetryPolicy{MaxAttempts: 1},
			})
			x := []resolver.StoreRef{sref(t, "s", "secret:/x")}
			_, err := r.Resolve(t.Context(), x)
			require.NoError(t, err)
			_, err = r.Refresh(t.Context(), x)
			require.ErrorIs(t, err, tc.err)
			assert.Equal(t, tc.keep, resolver.StatsOf(r).CacheEntries == 1)

			got, err := r.Resolve(t.Context(), x)
			require.NoError(t, err)
			assert.Equal(t, "refresh-value", got[x[0]].Value())
			assert.Equal(t, tc.wantCalls, fake.Gets())
		})
	}
}
