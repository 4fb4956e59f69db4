package omclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestQuoteName(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"plain", "mysql", "mysql"},
		{"dotted", "my.svc", `"my.svc"`},
		{"quoted dotted", `"my.svc"`, `"my.svc"`},
		{"quoted plain loses quotes", `"mysql"`, "mysql"},
		{"inner quote left alone", `a"b`, `a"b`},
		{"inner quote and dot left alone", `a".b`, `a".b`},
		{"lone quote", `"`, `"`},
		{"empty quotes", `""`, `""`},
		{"space", "my svc", "my svc"},
		{"dots only", "..", `".."`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, quoteName(tt.in))
		})
	}
}

func TestEscapeSegment(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"uuid", "891b373d-a253-4639-ad54-fc17491a7d5d", "891b373d-a253-4639-ad54-fc17491a7d5d"},
		{"quoted dotted", `"my.svc"`, "%22my.svc%22"},
		{"slash", "a/b", "a%2Fb"},
		{"space plus percent", "a b+c%", "a%20b%2Bc%25"},
		{"query chars", "a?b#c&d=e", "a%3Fb%23c%26d%3De"},
		{"unicode", "ü", "%C3%BC"},
		{"unreserved", "A-z_0.9~", "A-z_0.9~"},
		{"dot", ".", "%2E"},
		{"dot dot", "..", "%2E%2E"},
		{"dots inside", "a..b", "a..b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := escapeSegment(tt.in)
			assert.Equal(t, tt.want, got)
			back, err := url.PathUnescape(got)
			require.NoError(t, err)
			assert.Equal(t, tt.in, back)
		})
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name string
		in   string
		want time.Duration
		ok   bool
	}{
		{"empty", "", 0, false},
		{"seconds", "120", 120 * time.Second, true},
		{"zero", "0", 0, true},
		{"spaces", " 3 ", 3 * time.Second, true},
		{"negative", "-1", 0, false},
		{"fraction", "1.5", 0, false},
		{"garbage", "soon", 0, false},
		{"huge", "99999999999999999999999", time.Duration(1<<63 - 1), true},
		{"just too big", "9223372037", time.Duration(1<<63 - 1), true},
		{"future date", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"past date", now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"rfc850 date", "Thursday, 02-Jan-25 03:04:15 GMT", 10 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := retryAfter(tt.in, now)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	withRetryAfter := func(status int, v string) *http.Response {
		return &http.Response{StatusCode: status, Header: http.Header{"Retry-After": {v}}}
	}
	lo, hi := 100*time.Millisecond, 2*time.Second

	t.Run("retry-after honoured on 429 and 503", func(t *testing.T) {
		t.Parallel()
		assert.Equal(t, time.Second, backoff(lo, hi, 0, withRetryAfter(429, "1")))
		assert.Equal(t, time.Second, backoff(lo, hi, 3, withRetryAfter(503, "1")))
	})
	t.Run("retry-after capped and floored", func(t *testing.T) {
		t.Parallel()
		assert.Equal(t, hi, backoff(lo, hi, 0, withRetryAfter(429, "3600")))
		assert.Equal(t, hi, backoff(lo, hi, 0, withRetryAfter(429, "99999999999999999999")))
		assert.Equal(t, lo, backoff(lo, hi, 0, withRetryAfter(503, "0")))
	})
	t.Run("retry-after ignored elsewhere", func(t *testing.T) {
		t.Parallel()
		for range 50 {
			d := backoff(lo, hi, 0, withRetryAfter(500, "1"))
			assert.True(t, d >= lo/2 && d <= lo, "%s", d)
		}
	})
	t.Run("exponential with jitter", func(t *testing.T) {
		t.Parallel()
		for attempt := range 8 {
			base := min(lo<<attempt, hi)
			seen := map[time.Duration]bool{}
			for range 50 {
				d := backoff(lo, hi, attempt, nil)
				require.True(t, d >= base/2 && d <= base, "attempt %d: %s not in [%s, %s]", attempt, d, base/2, base)
				seen[d] = true
			}
			assert.Greater(t, len(seen), 1, "attempt %d: no jitter", attempt)
		}
	})
	t.Run("no overflow", func(t *testing.T) {
		t.Parallel()
		for _, attempt := range []int{40, 62, 63, 100, 1 << 30} {
			d := backoff(lo, hi, attempt, nil)
			assert.True(t, d >= hi/2 && d <= hi, "attempt %d: %s", attempt, d)
		}
	})
}

func TestCleanMessage(t *testing.T) {
	t.Parallel()
	jwt := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJib3QifQ.c2lnbmF0dXJl"
	long := strings.Repeat("é", 150) // 300 bytes
	tests := []struct {
		name, in, token, want string
	}{
		{"plain", "Expired token!", "", "Expired token!"},
		{"token", "bad token abc123 given", "abc123", "bad token [redacted] given"},
		{"jwt", "token " + jwt + " is invalid", "", "token [redacted] is invalid"},
		{"bearer", "header was Bearer xyz.opaque", "", "header was Bearer [redacted]"},
		{"first line", "line one\nline two with secret", "", "line one"},
		{"crlf", "line one\r\nline two", "", "line one"},
		{"controls and tabs", "a\tb\x00c\x7fd\u2028e", "", "a bcd e"},
		{"invalid utf8", "a\xffb", "", "ab"},
		{"trimmed", "  spaced  ", "", "spaced"},
		{"empty", "", "tok", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, cleanMessage(tt.in, tt.token))
		})
	}

	got := cleanMessage(long, "")
	assert.LessOrEqual(t, len(got), maxMessage)
	assert.True(t, strings.HasSuffix(got, "..."))
	assert.True(t, utf8.ValidString(got), "cut on a rune boundary")

	// A token near the cut is redacted before cutting, so no prefix of it
	// survives.
	tok := "TOKEN-" + strings.Repeat("x", 60)
	got = cleanMessage(strings.Repeat("a", 180)+" "+tok, tok)
	assert.NotContains(t, got, "TOKEN-")
}

func TestErrorMessage(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, body, want string }{
		{"dropwizard", `{"code":404,"message":"databaseService instance for x not found"}`, "databaseService instance for x not found"},
		{"old responseMessage", `{"responseMessage":"Not Authorized! Invalid Token"}`, "Not Authorized! Invalid Token"},
		{"message wins", `{"message":"a","responseMessage":"b"}`, "a"},
		{"html", `<html><body>502 Bad Gateway</body></html>`, ""},
		{"empty", ``, ""},
		{"array", `[1]`, ""},
		{"message not a string", `{"message":{"x":1}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, errorMessage([]byte(tt.body), ""))
		})
	}
}

func TestAPIError(t *testing.T) {
	t.Parallel()
	classes := []error{ErrUnauthorized, ErrForbidden, ErrNotFound, ErrUnavailable, ErrBadResponse, ErrBadRef}
	certErr := &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}
	tests := []struct {
		name string
		err  *APIError
		want error // the only class it matches; nil for none
		text string
	}{
		{"401", &APIError{Method: "GET", Path: "/p", StatusCode: 401, Message: "Expired token!", Attempts: 1}, ErrUnauthorized, "GET /p: 401 Unauthorized: Expired token!"},
		{"403", &APIError{Method: "GET", Path: "/p", StatusCode: 403}, ErrForbidden, "GET /p: 403 Forbidden"},
		{"404", &APIError{Method: "GET", Path: "/p", StatusCode: 404, Message: "m"}, ErrNotFound, "GET /p: 404 Not Found: m"},
		{"429", &APIError{Method: "GET", Path: "/p", StatusCode: 429, Attempts: 5}, ErrUnavailable, "GET /p: 429 Too Many Requests (after 5 attempts)"},
		{"500", &APIError{Method: "GET", Path: "/p", StatusCode: 500}, ErrUnavailable, "GET /p: 500 Internal Server Error"},
		{"503", &APIError{Method: "GET", Path: "/p", StatusCode: 503}, ErrUnavailable, "GET /p: 503 Service Unavailable"},
		{"400", &APIError{Method: "GET", Path: "/p", StatusCode: 400}, nil, "GET /p: 400 Bad Request"},
		{"302", &APIError{Method: "GET", Path: "/p", StatusCode: 302}, nil, "GET /p: 302 Found"},
		{"no response", &APIError{Method: "GET", Path: "/p", Err: errors.New("connection refused"), Attempts: 3}, ErrUnavailable, "GET /p: connection refused (after 3 attempts)"},
		{"nil cause", &APIError{Method: "GET", Path: "/p"}, ErrUnavailable, "GET /p: no response"},
		{"multi-line cause", &APIError{Method: "GET", Path: "/p", Err: errors.New("a\nb")}, ErrUnavailable, "GET /p: a"},
		{"certificate", &APIError{Method: "GET", Path: "/p", Err: certErr}, nil, "GET /p: tls: failed to verify certificate: x509: certificate signed by unknown authority"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.text, tt.err.Error())
			for _, c := range classes {
				assert.Equal(t, c == tt.want, errors.Is(tt.err, c), "class %v", c)
			}
		})
	}

	ctxErr := &APIError{Method: "GET", Path: "/p", Err: fmt.Errorf("wrapped: %w", context.Canceled)}
	assert.ErrorIs(t, ctxErr, context.Canceled)
	assert.ErrorIs(t, ctxErr, ErrUnavailable)
}

func TestDecodeService(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    string
		conn    string // "" for nil
		fqn     string
		wantErr string
	}{
		{"full", `{"id":"i","name":"n.x","fullyQualifiedName":"\"n.x\"","serviceType":"Mysql","connection":{"config":{"a":1}},"deleted":true}`, `{"config":{"a":1}}`, `"n.x"`, ""},
		{"no connection", `{"id":"i","name":"n"}`, "", "n", ""},
		{"null connection", `{"id":"i","name":"n","connection":null}`, "", "n", ""},
		{"fqn from name", `{"id":"i","name":"a.b"}`, "", `"a.b"`, ""},
		{"connection string", `{"id":"i","name":"n","connection":"secret-value-here"}`, "", "", "connection is not a JSON object"},
		{"connection array", `{"id":"i","name":"n","connection":[1]}`, "", "", "connection is not a JSON object"},
		{"no id", `{"name":"n"}`, "", "", "entity has no id or name"},
		{"not an object", `["secret-value-here"]`, "", "", "body is a JSON array, not an object"},
		{"wrong type", `{"id":42,"name":"n"}`, "", "", "field id is a JSON number"},
		{"syntax", `{"id":"i","password":secret-value-here}`, "", "", "invalid JSON at byte 22"},
		{"truncated", `{"id":"i","name":"secret-value-here`, "", "", "invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			svc, err := decodeService("databaseService", []byte(tt.body))
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.NotContains(t, err.Error(), "secret-value-here")
				assert.NotContains(t, err.Error(), "e'", "no quoted character of the body")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "databaseService", svc.EntityType)
			assert.Equal(t, tt.fqn, svc.FQN)
			assert.Equal(t, tt.body, string(svc.Raw))
			if tt.conn == "" {
				assert.Nil(t, svc.Connection)
			} else {
				assert.JSONEq(t, tt.conn, string(svc.Connection))
			}
		})
	}
}

func TestParseBaseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want, wantErr string
	}{
		{"plain", "http://openmetadata:8585/api", "http://openmetadata:8585/api", ""},
		{"trailing slash", "https://om.example.com/api/", "https://om.example.com/api", ""},
		{"prefix", "https://example.com/openmetadata/api//", "https://example.com/openmetadata/api", ""},
		{"no scheme", "openmetadata:8585/api", "", "scheme must be http or https"},
		{"no scheme no port", "openmetadata/api", "", "scheme must be http or https"},
		{"ftp", "ftp://om/api", "", "scheme must be http or https"},
		{"no host", "http:///api", "", "has no host"},
		{"no api", "http://openmetadata:8585", "", "must end in /api"},
		{"other path", "http://openmetadata:8585/v1", "", "must end in /api"},
		{"user info", "http://admin:hunter2@om/api", "", "holds user info"},
		{"query", "http://om/api?token=abc", "", "query or fragment"},
		{"fragment", "http://om/api#x", "", "query or fragment"},
		{"empty", " ", "", "empty base URL"},
		{"bad", "http://[::1/api", "", "does not parse"},
		{"bad with password", "http://u:hunter2@[::1/api", "", "does not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseBaseURL(tt.in)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.NotContains(t, err.Error(), "hunter2")
				assert.NotContains(t, err.Error(), "\n")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestCheckToken(t *testing.T) {
	t.Parallel()
	assert.NoError(t, checkToken("eyJ.abc.def"))
	for _, tok := range []string{"", "two words", "line\nbreak", "tab\tbed", "del\x7f"} {
		err := checkToken(tok)
		require.ErrorIs(t, err, ErrBadRef, "%q", tok)
		if tok != "" {
			assert.NotContains(t, err.Error(), tok)
		}
	}
}

func TestAttemptLoggerLogsAtDebug(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := attemptLogger{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	l.Error("request failed", "url", "http://om/api/v1/services/databaseServices/x")
	l.Warn("w")
	l.Info("i")
	l.Debug("d")
	assert.Equal(t, 4, strings.Count(buf.String(), "level=DEBUG"), buf.String())
	assert.NotContains(t, buf.String(), "level=ERROR")
}
