package resolver_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"omsecrets/resolver"
	"omsecrets/resolver/resolvertest"
)

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// recorder is an Observer that keeps every event.
type recorder struct {
	mu      sync.Mutex
	calls   []storeCall
	lookups []lookup
	retries []retry
}

type storeCall struct {
	store, op string
	ids       int
	result    string
}

type lookup struct {
	store string
	hit   bool
}

type retry struct {
	store, result string
	wait          time.Duration
}

var _ resolver.Observer = (*recorder)(nil)

func (r *recorder) StoreCall(store, op string, ids int, result string, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, storeCall{store, op, ids, result})
}

func (r *recorder) CacheLookup(store string, hit bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lookups = append(r.lookups, lookup{store, hit})
}

func (r *recorder) Retry(store, result string, wait time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.retries = append(r.retries, retry{store, result, wait})
}

func (r *recorder) Calls() []storeCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func (r *recorder) Lookups() []lookup {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.lookups)
}

func (r *recorder) Retries() []retry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.retries)
}

// hits counts the lookups that hit and missed.
func hits(ls []lookup) (hit, miss int) {
	for _, l := range ls {
		if l.hit {
			hit++
		} else {
			miss++
		}
	}
	return hit, miss
}

// resolveAsync runs r.Resolve (or Refresh) in a goroutine and returns the
// channel its outcome arrives on.
func resolveAsync(ctx context.Context, r *resolver.Resolver, refresh bool, refs []resolver.StoreRef) <-chan outcome {
	ch := make(chan outcome, 1)
	go func() {
		var o outcome
		if refresh {
			o.vals, o.err = r.Refresh(ctx, refs)
		} else {
			o.vals, o.err = r.Resolve(ctx, refs)
		}
		ch <- o
	}()
	return ch
}

type outcome struct {
	vals map[resolver.StoreRef]resolver.Secret
	err  error
}

// await returns the outcome from ch, failing the test if it takes longer
// than a generous bound (it is not a timing assertion: only a hang fails).
// In a synctest bubble the bound is bubble time: a hang fails at once.
func await(t *testing.T, ch <-chan outcome) outcome {
	t.Helper()
	select {
	case o := <-ch:
		return o
	case <-time.After(30 * time.Second):
		require.FailNow(t, "resolve did not return")
		return outcome{}
	}
}

// waitStats waits until every other goroutine of the caller's synctest
// bubble is blocked (each call is in the store, waiting for another's
// fetch, or done) and checks that r's stats then satisfy ok.
func waitStats(t *testing.T, r *resolver.Resolver, ok func(resolver.Stats) bool, msg string) {
	t.Helper()
	synctest.Wait()
	s := resolver.StatsOf(r)
	require.True(t, ok(s), "%s: stats %+v", msg, s)
}

// gate returns a Hook that holds every call until release is closed (or
// the call's context ends, failing it as the store would).
func gate(release <-chan struct{}) func(context.Context, resolvertest.Call) (map[string]error, error) {
	return func(ctx context.Context, _ resolvertest.Call) (map[string]error, error) {
		select {
		case <-release:
			return nil, nil
		case <-ctx.Done():
			return nil, unavailableCtx(ctx)
		}
	}
}

// unavailableCtx is the error a store returns when ctx ends mid-call.
func unavailableCtx(ctx context.Context) error {
	return fmt.Errorf("test store: %w: %w", ctx.Err(), resolver.ErrUnavailable)
}

// transient is a transient store error that is not throttling.
var errTransient = fmt.Errorf("test store: 503: %w", resolver.ErrUnavailable)
