package omclient

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Error classes. Failures of [Client.Service] match at most one of them with
// errors.Is.
var (
	// ErrUnauthorized: 401, the token is invalid, expired or missing.
	ErrUnauthorized = errors.New("openmetadata rejected the token")
	// ErrForbidden: 403, the token is valid but lacks permission (likely not
	// a bot's, or its role lacks ViewAll).
	ErrForbidden = errors.New("openmetadata denied access")
	// ErrNotFound: 404, the service does not exist (any more).
	ErrNotFound = errors.New("service not found")
	// ErrUnavailable: 429, 5xx, timeouts, refused or dropped connections,
	// after retries ran out; retrying later may succeed.
	ErrUnavailable = errors.New("openmetadata unavailable")
	// ErrBadResponse: a 2xx response that is not a service entity, or a body
	// over MaxBodySize.
	ErrBadResponse = errors.New("unexpected response from openmetadata")
	// ErrBadRef: the reference cannot be fetched (unsupported type, no id
	// and no name) or the token cannot be sent; no request was made.
	ErrBadRef = errors.New("invalid service reference or token")
)

// maxMessage is the longest APIError.Message, in bytes.
const maxMessage = 200

// APIError is a failed request: an HTTP status other than 200, or, with
// StatusCode 0, no response at all (Err says why). It never holds the token
// or a response body.
type APIError struct {
	// Method and Path are the request's, e.g. "GET" and
	// "/api/v1/services/databaseServices/<id>" (escaped, without query).
	Method, Path string
	// StatusCode is the last response's status, 0 if none arrived.
	StatusCode int
	// Message is OpenMetadata's "message" (or older "responseMessage")
	// field: first line only, at most 200 bytes, with anything
	// token-shaped replaced by [redacted]. Empty if the body had none.
	Message string
	// Attempts is the number of HTTP attempts made, retries included.
	Attempts int
	// Err is the transport failure when StatusCode is 0 (a timeout, a
	// refused connection, a certificate error, or the caller's context).
	Err error
}

// Error is one line: method, path, status and message, or the transport
// failure, e.g. "GET /api/v1/services/databaseServices/x: 404 Not Found:
// databaseService instance for x not found".
func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: ", e.Method, e.Path)
	if e.StatusCode == 0 {
		cause := "no response"
		if e.Err != nil {
			cause = cleanMessage(e.Err.Error(), "")
		}
		b.WriteString(cause)
	} else {
		fmt.Fprintf(&b, "%d %s", e.StatusCode, http.StatusText(e.StatusCode))
		if e.Message != "" {
			b.WriteString(": ")
			b.WriteString(e.Message)
		}
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	return b.String()
}

// Unwrap returns the transport failure, if any, so that errors.Is finds
// context.DeadlineExceeded or context.Canceled.
func (e *APIError) Unwrap() error { return e.Err }

// Is maps the status to the package's error classes: 401 ErrUnauthorized,
// 403 ErrForbidden, 404 ErrNotFound, 429 and 5xx ErrUnavailable, and no
// response ErrUnavailable unless certificate verification failed (which
// waiting will not fix).
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrForbidden:
		return e.StatusCode == http.StatusForbidden
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrUnavailable:
		if e.StatusCode == 0 {
			return !isCertError(e.Err)
		}
		return e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500
	}
	return false
}

// isCertError reports a failed certificate verification.
func isCertError(err error) bool {
	var verr *tls.CertificateVerificationError
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var host x509.HostnameError
	return errors.As(err, &verr) || errors.As(err, &unknown) ||
		errors.As(err, &invalid) || errors.As(err, &host)
}

// errorBody is OpenMetadata's error body: dropwizard's ErrorMessage
// {"code":404,"message":"..."} as CatalogGenericExceptionMapper writes it,
// or {"responseMessage":"..."} from the WebServiceException and
// AuthenticationException of older servers.
type errorBody struct {
	Message         string `json:"message"`
	ResponseMessage string `json:"responseMessage"`
}

// errorMessage returns the message of an error body, cleaned with
// cleanMessage, or "" if body is not such an object.
func errorMessage(body []byte, token string) string {
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err != nil {
		return ""
	}
	m := eb.Message
	if m == "" {
		m = eb.ResponseMessage
	}
	return cleanMessage(m, token)
}

var (
	// jwtShaped matches a JWT (three base64url parts, the first a JSON
	// object's encoding) anywhere in a message.
	jwtShaped = regexp.MustCompile(`eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*(\.[A-Za-z0-9_-]*)?`)
	// bearer matches an Authorization header value.
	bearer = regexp.MustCompile(`(?i)\bbearer\s+\S+`)
)

// cleanMessage makes a server message safe and short for an error string:
// token (when not empty), anything JWT-shaped and "Bearer x" are replaced by
// [redacted]; only the first line is kept; other white space becomes ' ',
// and invalid UTF-8 and non-graphic characters are dropped; the result is trimmed to at most maxMessage bytes,
// ending in "..." when cut. Redaction comes first, so a cut never leaves
// part of a token.
func cleanMessage(s, token string) string {
	if token != "" {
		s = strings.ReplaceAll(s, token, "[redacted]")
	}
	s = jwtShaped.ReplaceAllString(s, "[redacted]")
	s = bearer.ReplaceAllString(s, "Bearer [redacted]")
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	s = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r):
			return ' '
		case r == utf8.RuneError || !unicode.IsGraphic(r):
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) <= maxMessage {
		return s
	}
	cut := maxMessage - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.TrimSpace(s[:cut]) + "..."
}
