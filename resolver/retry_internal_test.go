package resolver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	p := RetryPolicy{BaseDelay: 100 * time.Millisecond, MaxDelay: 5 * time.Second}
	for _, tc := range []struct {
		name string
		n    int
		u    float64
		want time.Duration
	}{
		{name: "first retry, top of window", n: 0, u: 0.5, want: 50 * time.Millisecond},
		{name: "no jitter draw", n: 3, u: 0, want: 0},
		{name: "window doubles", n: 3, u: 0.5, want: 400 * time.Millisecond},
		{name: "capped", n: 6, u: 0.5, want: 2500 * time.Millisecond},
		{name: "far past the cap does not overflow", n: 5000, u: 0.999, want: time.Duration(0.999 * float64(5*time.Second))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, p.backoff(tc.n, tc.u))
		})
	}
}

func TestRetryPolicyDefaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   RetryPolicy
		want RetryPolicy
	}{
		{name: "zero", want: RetryPolicy{MaxAttempts: DefaultMaxAttempts, BaseDelay: DefaultBaseDelay, MaxDelay: DefaultMaxDelay}},
		{name: "negative", in: RetryPolicy{MaxAttempts: -1, BaseDelay: -1, MaxDelay: -1}, want: RetryPolicy{MaxAttempts: DefaultMaxAttempts, BaseDelay: DefaultBaseDelay, MaxDelay: DefaultMaxDelay}},
		{name: "kept", in: RetryPolicy{MaxAttempts: 2, BaseDelay: time.Second, MaxDelay: time.Minute}, want: RetryPolicy{MaxAttempts: 2, BaseDelay: time.Second, MaxDelay: time.Minute}},
		{name: "cap below base is raised", in: RetryPolicy{BaseDelay: time.Second, MaxDelay: time.Millisecond}, want: RetryPolicy{MaxAttempts: DefaultMaxAttempts, BaseDelay: time.Second, MaxDelay: time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, tc.in.withDefaults())
		})
	}
}

func TestNewLimiter(t *testing.T) {
	t.Parallel()
	assert.Nil(t, newLimiter(Limit{}), "zero limit")
	assert.Nil(t, newLimiter(Limit{Rate: -1, Burst: 3}), "negative rate")
	l := newLimiter(Limit{Rate: 2.5})
	if assert.NotNil(t, l) {
		assert.Equal(t, 3, l.rate.Burst(), "ceil(rate)")
	}
	l = newLimiter(Limit{Rate: 0.2})
	if assert.NotNil(t, l) {
		assert.Equal(t, 1, l.rate.Burst(), "at least 1")
	}
}
