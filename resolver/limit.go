package resolver

import (
	"context"
	"fmt"
	"math"

	"golang.org/x/time/rate"
)

// Limit is a client-side rate limit on the calls the Resolver makes to
// one store, shared by every Resolve and Refresh of that Resolver: a token
// bucket. One call is one Get or one GetBatch, whatever its number of ids,
// and retries count like first attempts. The calls one Resolve has in
// flight at once are bounded by Options.Concurrency, not here.
type Limit struct {
	// Rate is the sustained number of calls per second; 0 (or less) means
	// no rate limit.
	Rate float64
	// Burst is how many calls may start at once after a quiet period; 0
	// (or less) means max(1, ceil(Rate)), one second's worth.
	Burst int
}

// limiter enforces one store's Limit. A nil *limiter allows everything.
type limiter struct {
	rate *rate.Limiter
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
	if lim.rate == nil {
		return nil
	}
	return &lim
}

// acquire waits until a call may start: for a token, so calls leave in
// the spacing of the token bucket. It returns an error wrapping
// ErrUnavailable if ctx ends first or the token would come after ctx's
// deadline (rate.Limiter.Wait refuses at once then).
func (l *limiter) acquire(ctx context.Context) error {
	if l == nil {
		return nil
	}
	if err := l.rate.Wait(ctx); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%w: wait for rate limit: %w", ErrUnavailable, ctx.Err())
		}
		// rate's own error ("would exceed context deadline") wraps
		// nothing; say what it means in our terms.
		return fmt.Errorf("%w: rate limit allows no call before the deadline: %w", ErrUnavailable, context.DeadlineExceeded)
	}
	return nil
}
