package resolver_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"

	"omsecrets/resolver"
)

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	ra := func(v string) http.Header { return http.Header{"Retry-After": {v}} }
	for _, tc := range []struct {
		name string
		h    http.Header
		want time.Duration
	}{
		{name: "none", h: nil},
		{name: "empty", h: ra("")},
		{name: "seconds", h: ra("3"), want: 3 * time.Second},
		{name: "zero", h: ra("0")},
		{name: "spaces", h: ra(" 7 "), want: 7 * time.Second},
		{name: "capped", h: ra("86400"), want: resolver.MaxRetryAfter},
		{name: "too many digits", h: ra("99999999999999999999999"), want: resolver.MaxRetryAfter},
		{name: "negative", h: ra("-1")},
		{name: "fraction", h: ra("1.5")},
		{name: "http date", h: ra("Tue, 04 Mar 2025 10:00:30 GMT"), want: 30 * time.Second},
		{name: "date in the past", h: ra("Tue, 04 Mar 2025 09:00:00 GMT")},
		{name: "far date capped", h: ra("Wed, 05 Mar 2025 10:00:00 GMT"), want: resolver.MaxRetryAfter},
		{name: "garbage", h: ra("soon")},
		{name: "milliseconds first", h: http.Header{"Retry-After-Ms": {"1500"}, "Retry-After": {"9"}}, want: 1500 * time.Millisecond},
		{name: "x-ms milliseconds", h: http.Header{"X-Ms-Retry-After-Ms": {"250"}}, want: 250 * time.Millisecond},
		{name: "bad milliseconds", h: http.Header{"X-Ms-Retry-After-Ms": {"x"}, "Retry-After": {"2"}}, want: 2 * time.Second},
		{name: "zero milliseconds", h: http.Header{"Retry-After-Ms": {"0"}, "Retry-After": {"2"}}, want: 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, resolver.ParseRetryAfter(tc.h, now))
		})
	}
}

// FuzzParseRetryAfter checks that any header values give a hint between
// 0 and MaxRetryAfter.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", "Tue, 04 Mar 2025 10:00:30 GMT", "-5", "1e9", "18446744073709551616", "Monday, 02-Jan-06 15:04:05 MST"} {
		f.Add(s, s)
	}
	now := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, ms, v string) {
		d := resolver.ParseRetryAfter(http.Header{"Retry-After-Ms": {ms}, "Retry-After": {v}}, now)
		if d < 0 || d > resolver.MaxRetryAfter {
			t.Fatalf("hint %v out of [0, %v]", d, resolver.MaxRetryAfter)
		}
	})
}

func TestOneLine(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "1 error occurred: * permission denied", resolver.OneLine("1 error occurred:\n\t* permission denied\n\n", 100))
	assert.Equal(t, "a b c d", resolver.OneLine("a\u202eb\u0085c\u200bd", 100), "format characters and NEL")
	assert.Equal(t, "x?y", resolver.OneLine("x\xffy", 100))
	assert.Equal(t, "a b", resolver.OneLine("a\u2028b", 100))
	assert.Equal(t, "ab…", resolver.OneLine("abcdef", 2))
	assert.Equal(t, "…", resolver.OneLine("юникод", 1), "never cuts a rune")
	assert.Equal(t, "ю…", resolver.OneLine("юникод", 3))
}

// FuzzOneLine: any text gives one valid, printable line within the bound
// (plus the ellipsis).
func FuzzOneLine(f *testing.F) {
	for _, s := range []string{"", "a\nb", "\xff\xfe", "юникод\u202e", strings.Repeat("x ", 100)} {
		f.Add(s, 10)
	}
	f.Fuzz(func(t *testing.T, s string, limit int) {
		limit = max(0, limit%512)
		got := resolver.OneLine(s, limit)
		if !utf8.ValidString(got) || len(got) > limit+len("…") {
			t.Fatalf("OneLine(%q, %d) = %q", s, limit, got)
		}
		for _, r := range got {
			if r != ' ' && !unicode.IsPrint(r) {
				t.Fatalf("OneLine(%q) kept %U", s, r)
			}
		}
	})
}
