package awssm

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"

	"omsecrets/resolver"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code      string
		status    int
		wantClass string
	}{
		{code: "ResourceNotFoundException", status: 400, wantClass: "not_found"},
		{code: "InvalidRequestException", status: 400, wantClass: "not_found"},
		{code: "AccessDeniedException", status: 400, wantClass: "permission"},
		{code: "DecryptionFailure", status: 400, wantClass: "permission"},
		{code: "UnrecognizedClientException", status: 400, wantClass: "permission"},
		{code: "InvalidSignatureException", status: 400, wantClass: "permission"},
		{code: "MissingAuthenticationTokenException", status: 400, wantClass: "permission"},
		{code: "InvalidClientTokenId", status: 403, wantClass: "permission"},
		{code: "InvalidParameterException", status: 400, wantClass: "bad_ref"},
		{code: "ValidationException", status: 400, wantClass: "bad_ref"},
		{code: "ThrottlingException", status: 400, wantClass: "throttled"},
		{code: "TooManyRequestsException", status: 400, wantClass: "throttled"},
		{code: "RequestLimitExceeded", status: 400, wantClass: "throttled"},
		{code: "SomethingNew", status: 429, wantClass: "throttled"},
		{code: "InternalServiceError", status: 500, wantClass: "unavailable"},
		{code: "InternalFailure", status: 500, wantClass: "unavailable"},
		{code: "ServiceUnavailable", status: 503, wantClass: "unavailable"},
		{code: "SomethingNew", status: 502, wantClass: "unavailable"},
		{code: "ExpiredTokenException", status: 400, wantClass: "unavailable"},
		{code: "RequestTimeTooSkewed", status: 403, wantClass: "permission"},
		{code: "SomethingNew", status: 400, wantClass: "permission"},
		{code: "SomethingNew", status: 0, wantClass: "permission"},
	} {
		t.Run(tc.code+"/"+strconv.Itoa(tc.status), func(t *testing.T) {
			t.Parallel()
			err := classify("Op", tc.code, "the message", tc.status, 0)
			assert.Equal(t, tc.wantClass, resolver.Class(err), "%v", err)
			assert.Contains(t, err.Error(), "Op")
			assert.Contains(t, err.Error(), tc.code)
			assert.Contains(t, err.Error(), "the message")
			_, hasHint := resolver.RetryAfter(err)
			assert.False(t, hasHint)
		})
	}

	// Retry-After reaches throttled and unavailable errors only.
	err := classify("Op", "ThrottlingException", "", 400, 2*time.Second)
	after, ok := resolver.RetryAfter(err)
	assert.True(t, ok)
	assert.Equal(t, 2*time.Second, after)
	after, _ = resolver.RetryAfter(classify("Op", "ServiceUnavailable", "", 503, 5*time.Second))
	assert.Equal(t, 5*time.Second, after)
	_, ok = resolver.RetryAfter(classify("Op", "AccessDeniedException", "", 400, 5*time.Second))
	assert.False(t, ok)
}

func TestMatches(t *testing.T) {
	t.Parallel()
	const arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbC123"
	for _, tc := range []struct {
		name string
		id   string
		want bool
	}{
		{name: "name", id: "prod/db", want: true},
		{name: "full ARN", id: arn, want: true},
		{name: "partial ARN", id: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db", want: true},
		{name: "ARN cut short", id: arn[:len(arn)-1], want: false},
		{name: "other name", id: "prod/db-AbC123x", want: false},
		{name: "prefix of name", id: "prod", want: false},
		{name: "partial ARN of a longer name", id: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod", want: false},
		{name: "partial form without arn prefix", id: "aws:secretsmanager:eu-west-1:123456789012:secret:prod/db", want: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, matches(tc.id, "prod/db", arn))
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		in     string
		want   time.Duration
		wantOK bool
	}{
		{name: "empty", in: ""},
		{name: "seconds", in: "3", want: 3 * time.Second, wantOK: true},
		{name: "zero", in: "0", want: 0, wantOK: true},
		{name: "spaces", in: " 7 ", want: 7 * time.Second, wantOK: true},
		{name: "capped", in: "86400", want: MaxRetryAfter, wantOK: true},
		{name: "huge", in: "99999999999999999999999", wantOK: false},
		{name: "negative", in: "-1"},
		{name: "fraction", in: "1.5"},
		{name: "http date", in: "Tue, 04 Mar 2025 10:00:30 GMT", want: 30 * time.Second, wantOK: true},
		{name: "date in the past", in: "Tue, 04 Mar 2025 09:00:00 GMT", want: 0, wantOK: true},
		{name: "far date capped", in: "Wed, 05 Mar 2025 10:00:00 GMT", want: MaxRetryAfter, wantOK: true},
		{name: "garbage", in: "soon"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := parseRetryAfter(tc.in, now)
			assert.Equal(t, tc.wantOK, ok)
			assert.Equal(t, tc.want, got)
		})
	}
}

// FuzzParseRetryAfter checks that any header value gives a hint between 0
// and MaxRetryAfter, or none.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", "Tue, 04 Mar 2025 10:00:30 GMT", "-5", "1e9", "18446744073709551616", "Monday, 02-Jan-06 15:04:05 MST"} {
		f.Add(s)
	}
	now := time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := parseRetryAfter(v, now)
		if !ok {
			assert.Zero(t, d)
			return
		}
		assert.GreaterOrEqual(t, d, time.Duration(0))
		assert.LessOrEqual(t, d, MaxRetryAfter)
	})
}

func TestTruncate(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "short", truncate("short"))
	long := strings.Repeat("é", maxMessage) // 2 bytes each
	got := truncate(long)
	assert.True(t, utf8.ValidString(got))
	assert.LessOrEqual(t, len(got), maxMessage+len("..."))
	assert.True(t, strings.HasSuffix(got, "..."))
}

func TestBatchUnavailable(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]bool{
		"AccessDeniedException":     true,
		"UnknownOperationException": true,
		"ThrottlingException":       false,
		"ResourceNotFoundException": false,
	} {
		err := fmt.Errorf("op: %w", &smithy.GenericAPIError{Code: code, Message: "m"})
		assert.Equal(t, want, batchUnavailable(err), code)
	}
	assert.False(t, batchUnavailable(errors.New("connection reset")))
}
