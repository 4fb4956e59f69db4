package awssm

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"omsecrets/resolver"
)

// MaxRetryAfter caps the Retry-After hint passed on to the resolver, so a
// wrong header cannot stall a store for hours.
const MaxRetryAfter = 10 * time.Minute

// maxMessage bounds the AWS error message quoted in an error.
const maxMessage = 300

// mapError translates an error of the SDK call op into a resolver error
// class. The message carries op, the AWS error code and message, or the
// transport failure; never a response body.
func mapError(op string, err error) error {
	status, retryAfter := responseInfo(err)
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return classify(op, ae.ErrorCode(), ae.ErrorMessage(), status, retryAfter)
	}
	var de *smithy.DeserializationError
	switch {
	case status == http.StatusTooManyRequests:
		return throttled(op, fmt.Sprintf("HTTP %d", status), retryAfter)
	case errors.As(err, &de):
		// The decoder's message may quote the body, which may hold a
		// value: leave it out.
		return resolver.WithRetryAfter(fmt.Errorf("%w: %s: malformed response (HTTP %d)", resolver.ErrUnavailable, op, status), retryAfter)
	default:
		// Timeouts, cancellation, refused or dropped connections, and
		// credential retrieval failures.
		return resolver.WithRetryAfter(fmt.Errorf("%w: %v", resolver.ErrUnavailable, err), retryAfter)
	}
}

// classify maps an AWS error code (with its message, the HTTP status if
// known and the Retry-After hint) to a resolver error class. Codes: the
// Secrets Manager API reference (GetSecretValue, BatchGetSecretValue,
// APIErrorType, Common Errors).
func classify(op, code, msg string, status int, retryAfter time.Duration) error {
	detail := op + ": " + code
	if msg != "" {
		detail += ": " + truncate(msg)
	}
	switch code {
	case "ResourceNotFoundException":
		return fmt.Errorf("%w: %s", resolver.ErrNotFound, detail)
	case "InvalidRequestException":
		// For example a secret marked for deletion: it cannot be read
		// until it is restored.
		return fmt.Errorf("%w: secret cannot be read in its current state: %s", resolver.ErrNotFound, detail)
	case "DecryptionFailure":
		return fmt.Errorf("%w: cannot decrypt the secret with its KMS key (check kms:Decrypt): %s", resolver.ErrPermission, detail)
	case "AccessDeniedException", "AccessDenied", "NotAuthorized",
		"UnrecognizedClientException", "InvalidClientTokenId", "InvalidSignatureException", "SignatureDoesNotMatch",
		"IncompleteSignature", "IncompleteSignatureException", "MissingAuthenticationToken", "MissingAuthenticationTokenException":
		return fmt.Errorf("%w: %s", resolver.ErrPermission, detail)
	case "InvalidParameterException", "ValidationException", "ValidationError", "SerializationException":
		return fmt.Errorf("%w: %s", resolver.ErrBadRef, detail)
	case "RequestTimeTooSkewed":
		// Retrying with the same clock cannot succeed.
		return fmt.Errorf("%w: the clock of this host is off by more than AWS allows (check NTP): %s", resolver.ErrPermission, detail)
	case "ExpiredTokenException", "ExpiredToken", "RequestExpired":
		// Refreshed credentials may succeed.
		return resolver.WithRetryAfter(fmt.Errorf("%w: %s", resolver.ErrUnavailable, detail), retryAfter)
	case "InternalServiceError", "InternalServerError", "InternalFailure", "ServiceUnavailable", "ServiceUnavailableException":
		return resolver.WithRetryAfter(fmt.Errorf("%w: %s", resolver.ErrUnavailable, detail), retryAfter)
	}
	if _, ok := retry.DefaultThrottleErrorCodes[code]; ok || status == http.StatusTooManyRequests {
		return throttled(op, strings.TrimPrefix(detail, op+": "), retryAfter)
	}
	if status >= http.StatusInternalServerError {
		return resolver.WithRetryAfter(fmt.Errorf("%w: %s (HTTP %d)", resolver.ErrUnavailable, detail, status), retryAfter)
	}
	// Any other client error: the service refused the request, and
	// retrying the same request will not change its mind.
	if status != 0 {
		detail += fmt.Sprintf(" (HTTP %d)", status)
	}
	return fmt.Errorf("%w: unexpected error: %s", resolver.ErrPermission, detail)
}

// throttled returns resolver.Throttled(detail, retryAfter) behind a
// wrapper naming op.
func throttled(op, detail string, retryAfter time.Duration) error {
	return fmt.Errorf("%s: %w", op, resolver.Throttled(detail, retryAfter))
}

// batchUnavailable reports whether err says the whole BatchGetSecretValue
// action is unavailable to this client: AccessDeniedException (an IAM
// policy that allows only GetSecretValue, as OpenMetadata documents), or
// UnknownOperationException (an endpoint, such as an older emulator or a
// proxy, without the batch action).
func batchUnavailable(err error) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.ErrorCode() {
	case "AccessDeniedException", "UnknownOperationException":
		return true
	}
	return false
}

// responseInfo returns the HTTP status of the response err came with (0 if
// none) and its Retry-After hint.
func responseInfo(err error) (status int, retryAfter time.Duration) {
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.Response == nil {
		return 0, 0
	}
	retryAfter, _ = parseRetryAfter(re.Response.Header.Get("Retry-After"), time.Now())
	return re.HTTPStatusCode(), retryAfter
}

// parseRetryAfter parses an HTTP Retry-After value (RFC 9110 10.2.3):
// delay seconds or an HTTP date, which is taken relative to now. It
// returns false for an empty or malformed value; a date in the past is a
// zero delay. The result is capped at MaxRetryAfter.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		secs, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, false
		}
		if secs > uint64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter, true
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(t.Sub(now), 0), MaxRetryAfter), true
}

// truncate shortens an AWS error message for quoting.
func truncate(msg string) string {
	if len(msg) <= maxMessage {
		return msg
	}
	// Cut on a rune boundary.
	cut := maxMessage
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + "..."
}
