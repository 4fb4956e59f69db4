package resolver

import (
	"context"
	"fmt"
	"math"

	"golang.org/x/time/rate"
)

// Limit is a client-side bound on the calls the Resolver makes to one
// store, shared by every Resolve and Refresh of that Resolver. One call is
// one Get or one GetBatch, whatever its number of ids, and retries count
// like first attempts.
type Limit struct {
	// Rate is the sustained number of calls per second; 0 (or less) means
	// no rate limit.
	Rate float64
	// Burst is how many calls may start at once after a quiet period; 0
	// (or less) means max(1, ceil(Rate)), one second's worth.
	Burst int
	// MaxInFlight bounds the calls in flight to the store at once over all
	// concurrent Resolve and Refresh calls; 0 (or less) means no bound but
	// Options.Concurrency, which applies to each Resolve call on its own.
	MaxInFlight int
}

// limiter enforces one store's Limit. A nil *limiter allows everything.
type limiter struct {
	rate *rate.Limiter // nil: no rate limit
	sem  chan struct{} // nil: no in-flight bound
}

// newLimiter returns the limiter for l, or nil if l limits nothing.
func newLimiter(l Limit) *limiter {
	var lim limiter
	if l.Rate > 0 && !math.IsInf(l.Rate, 1) {
		burst := l.Burst
		if burst <= 0 {
			burst = max(1, int(math.Min(math.Ceil(l.Rate), math.MaxInt32)))
		}
		lim.rate = rate.NewLimiter(rate.Limit(l.Rate), burst)
	}
	if l.MaxInFlight > 0 {
		lim.sem = make(chan struct{}, l.MaxInFlight)
	}
	if lim.rate == nil && lim.sem == nil {
		return nil
	}
	return &lim
}

// acquire waits until a call may start: first for a free in-flight slot,
// then for a token, so calls leave in the spacing of the token bucket.
// It returns the function that frees the slot once the call is over, or
// an error wrapping ErrUnavailable if ctx ends first or the token would
// come after ctx's deadline (rate.Limiter.Wait refuses at once then).
func (l *limiter) acquire(ctx context.Context) (release func(), err error) {
	if l == nil {
		return func() {}, nil
	}
	release = func() {}
	if l.sem != nil {
		select {
		case l.sem <- struct{}{}:
			release = func() { <-l.sem }
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: wait for a free call slot: %w", ErrUnavailable, ctx.Err())
		}
	}
	if l.rate != nil {
		if err := l.rate.Wait(ctx); err != nil {
			release()
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%w: wait for rate limit: %w", ErrUnavailable, ctx.Err())
			}
			// rate's own error ("would exceed context deadline") wraps
			// nothing; say what it means in our terms.
			return nil, fmt.Errorf("%w: rate limit allows no call before the deadline: %w", ErrUnavailable, context.DeadlineExceeded)
		}
	}
	return release, nil
}
