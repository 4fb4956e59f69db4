package awserr

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"omsecrets/resolver"
)

// maxMessage bounds the AWS error message quoted in an error.
const maxMessage = 300

// Codes maps an AWS error code that only one store returns to a resolver
// error, given detail (the operation, the code and the quoted message, to
// end the error's text) and the server's Retry-After hint. It returns nil
// for a code it does not know, which the shared codes then classify.
type Codes func(code, detail string, retryAfter time.Duration) error

// Map translates an error of the SDK call op into a resolver error class,
// consulting codes (which may be nil) before the shared AWS codes. The
// message carries op, the AWS error code and message, or the transport
// failure; never a response body.
//
// An error of the credential provider's own call (STS, for web identity
// or an assumed role) is classified without the store's codes, and op
// then names that call too: "GetSecretValue: credentials: STS
// AssumeRoleWithWebIdentity". A credential failure that already is
// resolver.ErrPermission (an unusable web identity token file) stays so.
func Map(op string, err error, codes Codes) error {
	status, retryAfter := responseInfo(err)
	if cred := credentialOp(err); cred != "" {
		op += ": credentials: " + cred
		codes = nil
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return Classify(op, ae.ErrorCode(), ae.ErrorMessage(), status, retryAfter, codes)
	}
	var de *smithy.DeserializationError
	switch {
	case status == http.StatusTooManyRequests:
		return throttled(op, fmt.Sprintf("HTTP %d", status), retryAfter)
	case errors.As(err, &de):
		if cut := readFailure(de); cut != nil {
			// The connection failed under the answer (net/http closes
			// it now and then on its own: internal/testbed/awstest's
			// ownBodies tells how); another call may well succeed.
			return resolver.WithRetryAfter(fmt.Errorf("%w: %s: reading the response failed (HTTP %d): %v", resolver.ErrUnavailable, op, status, cut), retryAfter)
		}
		// The decoder's message may quote the body, which may hold a
		// value: leave it out.
		return resolver.WithRetryAfter(fmt.Errorf("%w: %s: malformed response (HTTP %d)", resolver.ErrUnavailable, op, status), retryAfter)
	case errors.Is(err, resolver.ErrPermission):
		return fmt.Errorf("%w: %v", resolver.ErrPermission, err)
	default:
		// Timeouts, cancellation, refused or dropped connections, and
		// credential retrieval failures.
		return resolver.WithRetryAfter(fmt.Errorf("%w: %v", resolver.ErrUnavailable, err), retryAfter)
	}
}

// readFailure returns the transport error under de if the answer's body
// could not be read (the connection failed, or ended before the body
// did), or nil if the body was read and did not decode. Its text names
// addresses, never the body.
func readFailure(de *smithy.DeserializationError) error {
	var ne net.Error
	if errors.As(de.Err, &ne) {
		return ne
	}
	if errors.Is(de.Err, io.ErrUnexpectedEOF) {
		return io.ErrUnexpectedEOF
	}
	return nil
}

// Classify maps an AWS error code (with its message, the HTTP status if
// known, 0 if not, and the Retry-After hint) of the call op to a resolver
// error class: codes (which may be nil) first, then the codes AWS services
// share (the AWS API references' Common Errors), then the HTTP status.
func Classify(op, code, msg string, status int, retryAfter time.Duration, codes Codes) error {
	detail := op + ": " + code
	if msg != "" {
		detail += ": " + truncate(msg)
	}
	if codes != nil {
		if err := codes(code, detail, retryAfter); err != nil {
			return err
		}
	}
	switch code {
	case "AccessDeniedException", "AccessDenied", "NotAuthorized",
		// STS refusing a web identity token: retrying the same token
		// will not change its mind.
		"InvalidIdentityToken", "IDPRejectedClaim", "RegionDisabledException",
		"UnrecognizedClientException", "InvalidClientTokenId", "InvalidSignatureException", "SignatureDoesNotMatch",
		"IncompleteSignature", "IncompleteSignatureException", "MissingAuthenticationToken", "MissingAuthenticationTokenException":
		return fmt.Errorf("%w: %s", resolver.ErrPermission, detail)
	case "InvalidParameterException", "ValidationException", "ValidationError", "SerializationException":
		return fmt.Errorf("%w: %s", resolver.ErrBadRef, detail)
	case "RequestTimeTooSkewed":
		// Retrying with the same clock cannot succeed.
		return fmt.Errorf("%w: the clock of this host is off by more than AWS allows (check NTP): %s", resolver.ErrPermission, detail)
	case "ExpiredTokenException", "ExpiredToken", "RequestExpired":
		// Refreshed credentials, or a rotated web identity token, may
		// succeed.
		return resolver.WithRetryAfter(fmt.Errorf("%w: %s", resolver.ErrUnavailable, detail), retryAfter)
	case "InternalServerError", "InternalFailure", "ServiceUnavailable", "ServiceUnavailableException",
		// STS could not reach the identity provider; often transient.
		"IDPCommunicationError":
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

// Code returns the AWS error code err carries, or "" if it carries none
// (a transport failure, for example).
func Code(err error) string {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return ""
	}
	return ae.ErrorCode()
}

// credentialOp names the SDK call under the outermost one in err, the
// call a credential provider made to sign the outer one ("STS
// AssumeRoleWithWebIdentity"), or returns "" if there is none.
func credentialOp(err error) string {
	var outer, inner *smithy.OperationError
	if !errors.As(err, &outer) {
		return ""
	}
	name := ""
	for e := outer.Err; errors.As(e, &inner); e = inner.Err {
		name = inner.ServiceID + " " + inner.OperationName
	}
	return name
}

// throttled returns resolver.Throttled(detail, retryAfter) behind a
// wrapper naming op.
func throttled(op, detail string, retryAfter time.Duration) error {
	return fmt.Errorf("%s: %w", op, resolver.Throttled(detail, retryAfter))
}

// responseInfo returns the HTTP status of the response err came with (0 if
// none) and its Retry-After hint.
func responseInfo(err error) (status int, retryAfter time.Duration) {
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.Response == nil {
		return 0, 0
	}
	retryAfter = resolver.ParseRetryAfter(re.Response.Header, time.Now())
	return re.HTTPStatusCode(), retryAfter
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
