package resolver

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limit is a client-side rate limit on the calls the Resolver makes to
// one store, shared by every Resolve and Refresh of that Resolver: a token
// bucket. One call is one Get, one GetBatch whatever its number of ids, or
// one listing page of a ChangeLister, and retries count like first
// attempts. The calls one Resolve has in flight at once are bounded by
// Options.Concurrency, not here.
//
// The rate adapts to the store's throttling, so that many Resolvers (a
// fleet of sidecars) sharing one account-wide quota settle on it without
// talking to each other: a throttled call cuts the rate by half (at most
// once a second, so that one refused burst counts once), down to 0.1
// call/s; each second without throttling adds a hundredth of Rate back,
// up to Rate. That is additive increase, multiplicative decrease, as TCP
// and the AWS SDK's adaptive retry mode do. The floor is low so that
// even a fleet of hundreds fits a quota of 40 calls/s; the climb is slow
// because a fleet climbs by the sum of its members' steps.
type Limit struct {
	// Rate is the sustained number of calls per second, the ceiling of
	// the adaptive rate; 0 (or less) means no rate limit.
	Rate float64
	// Burst is how many calls may start at once after a quiet period; 0
	// (or less) means max(1, ceil(Rate)), one second's worth. A throttled
	// limit's burst is one second of its lowered rate.
	Burst int
	// Fixed turns adaptation off: the rate stays Rate whatever the store
	// answers (today's behaviour before adaptation).
	Fixed bool
}

// Adaptation constants (see Limit).
const (
	// limitBeta is the share of the rate kept after throttling.
	limitBeta = 0.5
	// limitClimb: the rate climbs back by Rate/limitClimb per second.
	limitClimb = 100.0
	// limitDecreaseWindow: throttles closer together than this after a
	// cut count as one (a burst refused together).
	limitDecreaseWindow = time.Second
)

// limiter enforces one store's Limit. A nil *limiter allows everything.
type limiter struct {
	rate                *rate.Limiter
	ceiling, floor      float64
	burst               int
	adaptive            bool
	now                 func() time.Time
	onRate              func(perSecond float64) // nil: nobody listens
	mu                  sync.Mutex
	current             float64
	lastCut, lastChange time.Time
}

// newLimiter returns the limiter for l, or nil if l limits nothing.
func newLimiter(l Limit) *limiter {
	if l.Rate <= 0 || math.IsInf(l.Rate, 1) || math.IsNaN(l.Rate) {
		return nil
	}
	burst := l.Burst
	if burst <= 0 {
		burst = max(1, int(math.Min(math.Ceil(l.Rate), math.MaxInt32)))
	}
	return &limiter{
		rate:     rate.NewLimiter(rate.Limit(l.Rate), burst),
		ceiling:  l.Rate,
		floor:    math.Min(0.1, l.Rate),
		burst:    burst,
		adaptive: !l.Fixed,
		now:      time.Now,
		current:  l.Rate,
	}
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

// feedback adapts the rate to one call's outcome: throttled or not.
// Calls that failed otherwise say nothing about the quota and are not
// reported.
func (l *limiter) feedback(throttled bool) {
	if l == nil || !l.adaptive {
		return
	}
	l.mu.Lock()
	now := l.now()
	old := l.current
	switch {
	case throttled:
		if !l.lastCut.IsZero() && now.Sub(l.lastCut) < limitDecreaseWindow {
			l.mu.Unlock()
			return
		}
		l.current = math.Max(l.floor, l.current*limitBeta)
		l.lastCut, l.lastChange = now, now
	case l.current < l.ceiling:
		if l.lastChange.IsZero() {
			l.lastChange = now
		}
		climb := now.Sub(l.lastChange).Seconds() * l.ceiling / limitClimb
		if climb < l.ceiling/limitClimb/10 {
			l.mu.Unlock()
			return // adjust at most ten times per climbing step
		}
		l.current = math.Min(l.ceiling, l.current+climb)
		l.lastChange = now
	default:
		l.mu.Unlock()
		return
	}
	cur := l.current
	if cur != old {
		l.rate.SetLimitAt(now, rate.Limit(cur))
		l.rate.SetBurstAt(now, min(l.burst, max(1, int(math.Ceil(cur)))))
	}
	onRate := l.onRate
	l.mu.Unlock()
	if cur != old && onRate != nil {
		onRate(cur)
	}
}

// perSecond returns the current rate (0 for a nil limiter: unlimited).
func (l *limiter) perSecond() float64 {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.current
}
