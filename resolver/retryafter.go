package resolver

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxRetryAfter caps a store's retry hint (ParseRetryAfter), so that a
// wrong header cannot stall a store for hours.
const MaxRetryAfter = 10 * time.Minute

// ParseRetryAfter reads a server's retry hint from h, the one parser of
// every store: retry-after-ms or x-ms-retry-after-ms (milliseconds, as
// Azure sends them and azcore reads them), else Retry-After (RFC 9110
// 10.2.3: delay seconds, or an HTTP date taken relative to now). It
// returns 0 without a usable hint (none, malformed, not positive, a date
// in the past) and at most MaxRetryAfter (a number too large to parse
// counts as more).
func ParseRetryAfter(h http.Header, now time.Time) time.Duration {
	if h == nil {
		return 0
	}
	for _, name := range []string{"Retry-After-Ms", "X-Ms-Retry-After-Ms"} {
		if d, ok := delay(h.Get(name), time.Millisecond); ok && d > 0 {
			return d
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if d, ok := delay(v, time.Second); ok {
		return d
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	return min(max(t.Sub(now), 0), MaxRetryAfter)
}

// delay parses v as a count of unit (digits only), capped at
// MaxRetryAfter; ok is false if v is not digits.
func delay(v string, unit time.Duration) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" || strings.Trim(v, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n > uint64(MaxRetryAfter/unit) {
		return MaxRetryAfter, true // digits only: too many to parse
	}
	return time.Duration(n) * unit, true
}
