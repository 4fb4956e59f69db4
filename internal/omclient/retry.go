package omclient

import (
	"errors"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// backoff is the retryablehttp.Backoff of every Client. For a 429 or 503
// carrying a Retry-After header it waits what the server asked, but at
// least lo and at most hi: retryablehttp.DefaultBackoff honours the header
// on 429/503 too, with no upper bound, so a "Retry-After: 3600" from a proxy
// would park a reconcile for an hour. Otherwise it waits lo·2^attempt,
// capped at hi, with jitter: a uniform pick in the upper half, so that
// sidecars restarted together do not retry in lockstep (DefaultBackoff has
// no jitter).
func backoff(lo, hi time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) {
		if d, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			return min(max(d, lo), hi)
		}
	}
	d := hi
	if attempt >= 0 && attempt < 62 {
		if m := lo << attempt; m > 0 && m>>attempt == lo && m < hi {
			d = m
		}
	}
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

// retryAfter parses a Retry-After value (RFC 9110 §10.2.3): delay seconds
// or an HTTP date, relative to now. It reports false for an empty or
// malformed value; a negative delay is malformed, a past date is 0. The
// result is never negative.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			// Overflow: as good as forever; backoff caps it.
			if !errors.Is(err, strconv.ErrRange) {
				return 0, false
			}
			n = math.MaxUint64
		}
		if n > uint64(math.MaxInt64/int64(time.Second)) {
			return time.Duration(math.MaxInt64), true
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}
