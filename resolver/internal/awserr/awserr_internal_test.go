package awserr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
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
		{code: "AccessDeniedException", status: 400, wantClass: "permission"},
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
		{code: "InternalServerError", status: 500, wantClass: "unavailable"},
		{code: "InternalFailure", status: 500, wantClass: "unavailable"},
		{code: "ServiceUnavailable", status: 503, wantClass: "unavailable"},
		{code: "SomethingNew", status: 502, wantClass: "unavailable"},
		{code: "ExpiredTokenException", status: 400, wantClass: "unavailable"},
		{code: "InvalidIdentityToken", status: 400, wantClass: "permission"},
		{code: "IDPRejectedClaim", status: 403, wantClass: "permission"},
		{code: "AccessDenied", status: 403, wantClass: "permission"},
		{code: "RegionDisabledException", status: 403, wantClass: "permission"},
		{code: "IDPCommunicationError", status: 400, wantClass: "unavailable"},
		{code: "RequestTimeTooSkewed", status: 403, wantClass: "permission"},
		{code: "SomethingNew", status: 400, wantClass: "permission"},
		{code: "SomethingNew", status: 0, wantClass: "permission"},
	} {
		t.Run(tc.code+"/"+strconv.Itoa(tc.status), func(t *testing.T) {
			t.Parallel()
			err := Classify("Op", tc.code, "the message", tc.status, 0, nil)
			assert.Equal(t, tc.wantClass, resolver.Class(err), "%v", err)
			assert.Contains(t, err.Error(), "Op: ")
			assert.Contains(t, err.Error(), tc.code+": the message")
			_, hasHint := resolver.RetryAfter(err)
			assert.False(t, hasHint)
		})
	}

	// Retry-After reaches throttled and unavailable errors only.
	err := Classify("Op", "ThrottlingException", "", 400, 2*time.Second, nil)
	after, ok := resolver.RetryAfter(err)
	assert.True(t, ok)
	assert.Equal(t, 2*time.Second, after)
	after, _ = resolver.RetryAfter(Classify("Op", "ServiceUnavailable", "", 503, 5*time.Second, nil))
	assert.Equal(t, 5*time.Second, after)
	_, ok = resolver.RetryAfter(Classify("Op", "AccessDeniedException", "", 400, 5*time.Second, nil))
	assert.False(t, ok)
}

// TestClassifyCodes checks that a store's codes come first and get the
// detail and hint, and that a code they do not know falls through.
func TestClassifyCodes(t *testing.T) {
	t.Parallel()
	codes := func(code, detail string, retryAfter time.Duration) error {
		if code == "AccessDeniedException" {
			return fmt.Errorf("%w: mine after %v: %s", resolver.ErrNotFound, retryAfter, detail)
		}
		return nil
	}
	err := Classify("Op", "AccessDeniedException", "m", 400, time.Second, codes)
	assert.ErrorIs(t, err, resolver.ErrNotFound)
	assert.EqualError(t, err, resolver.ErrNotFound.Error()+": mine after 1s: Op: AccessDeniedException: m")
	assert.ErrorIs(t, Classify("Op", "ValidationException", "m", 400, 0, codes), resolver.ErrBadRef)
}

func TestMap(t *testing.T) {
	t.Parallel()
	response := func(status int, retryAfter string, err error) error {
		h := http.Header{}
		if retryAfter != "" {
			h.Set("Retry-After", retryAfter)
		}
		return &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status, Header: h}},
			Err:      err,
		}
	}
	for _, tc := range []struct {
		name      string
		err       error
		wantClass string
		wantHint  time.Duration
		wantText  string
	}{
		{
			name:      "api error",
			err:       fmt.Errorf("op: %w", response(400, "", &smithy.GenericAPIError{Code: "SomethingNew", Message: "bad"})),
			wantClass: "permission",
			wantText:  "unexpected error: Op: SomethingNew: bad (HTTP 400)",
		},
		{
			name:      "api error with hint",
			err:       response(503, "4", &smithy.GenericAPIError{Code: "ServiceUnavailable"}),
			wantClass: "unavailable",
			wantHint:  4 * time.Second,
			wantText:  "Op: ServiceUnavailable",
		},
		{
			name:      "429 without code",
			err:       response(429, "2", errors.New("body")),
			wantClass: "throttled",
			wantHint:  2 * time.Second,
			wantText:  "Op: ",
		},
		{
			name:      "malformed response",
			err:       response(200, "", &smithy.DeserializationError{Err: errors.New("the secret value")}),
			wantClass: "unavailable",
			wantText:  "Op: malformed response (HTTP 200)",
		},
		{
			// As the SDK reports a connection closed under a 200
			// answer (TestBodyClosedUnderTransport in
			// internal/testbed/awstest makes one): transient.
			name: "connection closed under the answer",
			err: &smithy.OperationError{ServiceID: "Secrets Manager", OperationName: "ListSecrets", Err: &awshttp.ResponseError{
				RequestID: "r",
				ResponseError: response(200, "", &smithy.DeserializationError{
					Err: &net.OpError{Op: "read", Net: "tcp", Err: net.ErrClosed},
				}).(*smithyhttp.ResponseError),
			}},
			wantClass: "unavailable",
			wantText:  "Op: reading the response failed (HTTP 200): read tcp: use of closed network connection",
		},
		{
			name:      "answer cut short",
			err:       response(200, "", &smithy.DeserializationError{Err: fmt.Errorf("failed to decode response body, %w", io.ErrUnexpectedEOF)}),
			wantClass: "unavailable",
			wantText:  "Op: reading the response failed (HTTP 200): unexpected EOF",
		},
		{
			name:      "transport",
			err:       context.DeadlineExceeded,
			wantClass: "unavailable",
			wantText:  "context deadline exceeded",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := Map("Op", tc.err, nil)
			assert.Equal(t, tc.wantClass, resolver.Class(err), "%v", err)
			assert.Contains(t, err.Error(), tc.wantText)
			assert.NotContains(t, err.Error(), "the secret value")
			hint, _ := resolver.RetryAfter(err)
			assert.Equal(t, tc.wantHint, hint)
		})
	}
}

// TestMapCredentials checks errors of a credential provider's STS call
// inside a store call: named after both calls, classified without the
// store's codes; and a credential failure that is ErrPermission keeps it.
func TestMapCredentials(t *testing.T) {
	t.Parallel()
	inStore := func(inner error) error {
		return &smithy.OperationError{ServiceID: "Secrets Manager", OperationName: "GetSecretValue",
			Err: fmt.Errorf("get identity: get credentials: failed to refresh cached credentials, %w", inner)}
	}
	sts := func(err error) error {
		return fmt.Errorf("failed to retrieve credentials, %w", &smithy.OperationError{ServiceID: "STS", OperationName: "AssumeRoleWithWebIdentity", Err: err})
	}
	storeCodes := func(code, detail string, _ time.Duration) error {
		if code == "InvalidIdentityToken" {
			return fmt.Errorf("%w: the store's own: %s", resolver.ErrNotFound, detail)
		}
		return nil
	}

	err := Map("GetSecretValue", inStore(sts(&smithy.GenericAPIError{Code: "InvalidIdentityToken", Message: "no key"})), storeCodes)
	assert.Equal(t, "permission", resolver.Class(err), "%v", err)
	assert.EqualError(t, err, "permission denied: GetSecretValue: credentials: STS AssumeRoleWithWebIdentity: InvalidIdentityToken: no key")

	err = Map("GetSecretValue", inStore(sts(&smithy.GenericAPIError{Code: "ExpiredTokenException", Message: "expired"})), storeCodes)
	assert.Equal(t, "unavailable", resolver.Class(err))

	err = Map("GetSecretValue", inStore(sts(context.DeadlineExceeded)), storeCodes)
	assert.Equal(t, "unavailable", resolver.Class(err))

	// The store's own error, not a credential one.
	err = Map("GetSecretValue", &smithy.OperationError{ServiceID: "Secrets Manager", OperationName: "GetSecretValue", Err: &smithy.GenericAPIError{Code: "InvalidIdentityToken"}}, storeCodes)
	assert.Equal(t, "not_found", resolver.Class(err), "the store's codes apply to its own call")
	assert.NotContains(t, err.Error(), "credentials")

	classed := &classedError{}
	err = Map("GetSecretValue", inStore(fmt.Errorf("failed to retrieve jwt from provide source, %w", classed)), storeCodes)
	assert.Equal(t, "permission", resolver.Class(err))
	assert.Contains(t, err.Error(), "token file unusable")
}

// classedError is a credential failure that is resolver.ErrPermission, as
// awsconfig's token file errors are.
type classedError struct{}

func (*classedError) Error() string        { return "token file unusable" }
func (*classedError) Is(target error) bool { return target == resolver.ErrPermission }

func TestCode(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "ThrottlingException", Code(fmt.Errorf("op: %w", &smithy.GenericAPIError{Code: "ThrottlingException"})))
	assert.Empty(t, Code(errors.New("connection reset")))
	assert.Empty(t, Code(nil))
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
