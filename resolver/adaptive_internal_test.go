package resolver

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeClock is a settable clock for the limiter's adaptation.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func adaptiveLimiter(t *testing.T, l Limit) (*limiter, *fakeClock, *[]float64) {
	t.Helper()
	lim := newLimiter(l)
	require.NotNil(t, lim)
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	lim.now = clk.now
	var heard []float64
	lim.onRate = func(r float64) { heard = append(heard, r) }
	return lim, clk, &heard
}

func TestLimiterHalvesOnThrottleOncePerWindow(t *testing.T) {
	t.Parallel()
	lim, clk, heard := adaptiveLimiter(t, Limit{Rate: 40})
	lim.feedback(true)
	assert.InDelta(t, 20, lim.perSecond(), 1e-9, "first throttle halves")
	// A burst refused together: the other throttles of the same second
	// do not cut again.
	for range 7 {
		clk.advance(100 * time.Millisecond)
		lim.feedback(true)
	}
	assert.InDelta(t, 20, lim.perSecond(), 1e-9, "throttles within the window count once")
	clk.advance(time.Second)
	lim.feedback(true)
	assert.InDelta(t, 10, lim.perSecond(), 1e-9)
	assert.Equal(t, 10.0, bucketRate(lim), "the token bucket follows")
	assert.Equal(t, 10, lim.rate.Burst(), "burst is one second of the lowered rate")
	assert.Equal(t, []float64{20, 10}, *heard)
}

func TestLimiterFloor(t *testing.T) {
	t.Parallel()
	lim, clk, _ := adaptiveLimiter(t, Limit{Rate: 40})
	for range 20 {
		clk.advance(2 * time.Second)
		lim.feedback(true)
	}
	assert.InDelta(t, 0.1, lim.perSecond(), 1e-9, "never below a call every ten seconds")
	low, clk2, _ := adaptiveLimiter(t, Limit{Rate: 0.05})
	for range 5 {
		clk2.advance(2 * time.Second)
		low.feedback(true)
	}
	assert.InDelta(t, 0.05, low.perSecond(), 1e-9, "a limit below the floor is its own floor")
}

func TestLimiterClimbsBackSlowly(t *testing.T) {
	t.Parallel()
	lim, clk, _ := adaptiveLimiter(t, Limit{Rate: 40})
	lim.feedback(true) // 20
	clk.advance(time.Second)
	lim.feedback(false)
	// One second adds Rate/limitClimb.
	assert.InDelta(t, 20+40/limitClimb, lim.perSecond(), 1e-9)
	// From half back to the ceiling takes limitClimb/2 seconds of success.
	for range int(limitClimb) * 6 {
		clk.advance(100 * time.Millisecond)
		lim.feedback(false)
	}
	assert.InDelta(t, 40, lim.perSecond(), 1e-9, "capped at Rate")
	assert.Equal(t, 40, lim.rate.Burst(), "burst back to the configured one")
}

func TestLimiterClimbTakesTime(t *testing.T) {
	t.Parallel()
	lim, clk, _ := adaptiveLimiter(t, Limit{Rate: 40})
	lim.feedback(true) // 20
	// A thousand successes in the same instant add nothing: the climb is
	// per second, not per call, so a fast store is not stormed back.
	for range 1000 {
		lim.feedback(false)
	}
	assert.InDelta(t, 20, lim.perSecond(), 1e-9)
	clk.advance(5 * time.Second)
	lim.feedback(false)
	assert.InDelta(t, 22, lim.perSecond(), 1e-9, "5 s × 40/100 per second")
}

func TestLimiterFixed(t *testing.T) {
	t.Parallel()
	lim, clk, heard := adaptiveLimiter(t, Limit{Rate: 40, Fixed: true})
	for range 5 {
		clk.advance(2 * time.Second)
		lim.feedback(true)
	}
	assert.InDelta(t, 40, lim.perSecond(), 1e-9)
	assert.Empty(t, *heard)
	var none *limiter
	none.feedback(true) // a nil limiter (unlimited store) ignores feedback
	assert.Zero(t, none.perSecond())
}

// TestLimiterFleetConverges simulates n limiters sharing one quota in
// discrete 100 ms steps: each step every limiter asks for its rate's
// worth of calls, the quota grants its share in turn and throttles the
// rest, and each limiter hears its outcome. The fleet's granted rate must
// settle near the quota, and the throttled share must fall far below
// what fixed limits cause.
func TestLimiterFleetConverges(t *testing.T) {
	t.Parallel()
	const n, quota = 50, 40.0
	run := func(fixed bool) (grantedPerSec, throttledShare float64) {
		clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
		lims := make([]*limiter, n)
		for i := range lims {
			lims[i] = newLimiter(Limit{Rate: 40, Fixed: fixed})
			lims[i].now = clk.now
		}
		var granted, throttled, asked float64
		debt := make([]float64, n) // fractional calls carried over
		const steps = 600          // 60 s
		for s := range steps {
			clk.advance(100 * time.Millisecond)
			budget := quota / 10
			for k := range n {
				i := (k + s*7) % n // the order of arrival varies
				debt[i] += lims[i].perSecond() / 10
				for debt[i] >= 1 {
					debt[i]--
					if s >= steps/2 {
						asked++
					}
					ok := budget >= 1
					if ok {
						budget--
					}
					if s >= steps/2 { // the second half: after settling
						if ok {
							granted++
						} else {
							throttled++
						}
					}
					lims[i].feedback(!ok)
				}
			}
		}
		return granted / (steps / 2 / 10), throttled / math.Max(asked, 1)
	}
	adaptiveRate, adaptiveThrottled := run(false)
	fixedRate, fixedThrottled := run(true)
	t.Logf("adaptive: %.1f calls/s granted, %.0f%% throttled; fixed: %.1f calls/s, %.0f%% throttled", adaptiveRate, 100*adaptiveThrottled, fixedRate, 100*fixedThrottled)
	assert.Greater(t, adaptiveRate, 0.8*quota, "the fleet uses most of the quota")
	assert.Less(t, adaptiveThrottled, 0.45, "most calls are granted")
	assert.Greater(t, fixedThrottled, 0.95, "fixed limits storm: almost every call throttled")
}

func bucketRate(l *limiter) float64 { return float64(l.rate.Limit()) }
