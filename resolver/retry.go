package resolver

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Retry defaults, used for the zero fields of a RetryPolicy.
const (
	DefaultMaxAttempts = 5
	DefaultBaseDelay   = 100 * time.Millisecond
	DefaultMaxDelay    = 5 * time.Second
)

// RetryPolicy says how the Resolver retries store calls that fail with a
// transient error (see Transient). Zero fields take the defaults above.
//
// The wait before retry n (0-based) is drawn uniformly from
// [0, min(MaxDelay, BaseDelay·2ⁿ)) ("full jitter"), and is at least the
// failure's Retry-After hint (see RetryAfter) when it has one.
//
// A throttled failure (ErrThrottled) is retried until the caller's context
// is done and does not count toward MaxAttempts: the rate limit (see
// Limit) keeps such retries within the store's quota, and a storm of
// throttling ends when the store recovers. Other transient failures give
// up after MaxAttempts attempts of an id. Permanent failures (not found,
// permission, bad reference) are never retried.
type RetryPolicy struct {
	// MaxAttempts bounds the attempts of an id, the first included, for
	// transient failures other than throttling; 1 disables those retries.
	MaxAttempts int
	// BaseDelay is the backoff ceiling of the first retry.
	BaseDelay time.Duration
	// MaxDelay caps the backoff ceiling (not a Retry-After hint).
	MaxDelay time.Duration
}

// withDefaults fills the zero (or negative) fields of p.
func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = DefaultBaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = DefaultMaxDelay
	}
	p.MaxDelay = max(p.MaxDelay, p.BaseDelay)
	return p
}

// backoff returns the wait before retry n (0-based) given a uniform draw u
// in [0, 1): full jitter over an exponential ceiling, as in the AWS SDK
// for Go v2 (aws/retry/jitter_backoff.go, backoffDelay2026:
// t_i = b * min(x * 2^i, MAX_BACKOFF)) and the AWS Architecture Blog's
// "Exponential Backoff And Jitter". Spreading retries over the whole
// window keeps a fleet that failed together from retrying together.
func (p RetryPolicy) backoff(n int, u float64) time.Duration {
	ceiling := math.Min(float64(p.MaxDelay), float64(p.BaseDelay)*math.Exp2(float64(n)))
	return time.Duration(u * ceiling)
}

// fetch resolves ids of one store (at most one batch's worth) and records
// one outcome per id, retrying transient failures under r.retry. Each
// attempt asks only for the ids still failing, chunked by the store's
// MaxBatch at that moment (a store may lower it between calls). It
// returns once every id has an outcome; if ctx ends while it waits to
// retry, the remaining ids fail with their last error and ctx's.
func (r *Resolver) fetch(ctx context.Context, store string, g Getter, ids []string, record func(store, id string, f fetched)) {
	transient := make(map[string]int) // non-throttle transient failures per id
	for n := 0; ; n++ {
		out, stop := r.attempt(ctx, store, g, ids)
		if stop == nil && ctx.Err() != nil {
			stop = fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
		}
		if stop != nil {
			// The context (or its deadline) ended the attempt: no retry
			// can succeed, whatever the errors say.
			for _, id := range ids {
				f, ok := out[id]
				if !ok {
					f = fetched{err: stop}
				}
				record(store, id, f)
			}
			return
		}

		var again []string
		var hint time.Duration
		throttled := false
		for _, id := range ids {
			f, ok := out[id]
			if !ok { // never expected: fail closed rather than record a zero value
				f = fetched{err: fmt.Errorf("%w: store call left id without an outcome", ErrUnavailable)}
				out[id] = f
			}
			if f.err == nil || !Transient(f.err) {
				record(store, id, f)
				continue
			}
			if errors.Is(f.err, ErrThrottled) {
				throttled = true
			} else if transient[id]++; transient[id] >= r.retry.MaxAttempts {
				record(store, id, f)
				continue
			}
			if d, ok := RetryAfter(f.err); ok {
				hint = max(hint, d)
			}
			again = append(again, id)
		}
		if len(again) == 0 {
			return
		}

		wait := max(r.retry.backoff(n, r.rand()), hint)
		result := Class(ErrUnavailable)
		if throttled {
			result = Class(ErrThrottled)
		}
		r.observer.Retry(store, result, wait)
		r.logger.DebugContext(ctx, "store retry", "store", store, "ids", len(again), "result", result, "retry", n+1, "wait", wait)
		if !sleep(ctx, wait) {
			for _, id := range again {
				record(store, id, fetched{err: fmt.Errorf("%w; retry stopped: %w", out[id].err, ctx.Err())})
			}
			return
		}
		ids = again
	}
}

// attempt makes one attempt at ids: one GetBatch per chunk of MaxBatch
// ids, or one Get per id. It returns the outcome of every id it reached,
// and a non-nil stop error if it could not make a call because ctx ended
// or the rate limit would pass ctx's deadline.
func (r *Resolver) attempt(ctx context.Context, store string, g Getter, ids []string) (map[string]fetched, error) {
	out := make(map[string]fetched, len(ids))
	if err := ctx.Err(); err != nil {
		return out, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if bg, ok := g.(BatchGetter); ok && bg.MaxBatch() > 1 {
		for chunk := range slices.Chunk(ids, bg.MaxBatch()) {
			if err := r.callBatch(ctx, store, bg, chunk, out); err != nil {
				return out, err
			}
		}
		return out, nil
	}
	for _, id := range ids {
		if err := r.callGet(ctx, store, g, id, out); err != nil {
			return out, err
		}
	}
	return out, nil
}

// sleep waits for d or until ctx is done, and reports whether ctx is still
// alive.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return ctx.Err() == nil
	case <-ctx.Done():
		return false
	}
}
