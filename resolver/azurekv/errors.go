package azurekv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"omsecrets/resolver"
)

// forbiddenHints explain Key Vault's 403 inner error codes (answers quoted
// in SDK issues; Key Vault's REST reference leaves them out).
var forbiddenHints = map[string]string{
	"SecretDisabled":      "the secret (or the version asked for) is disabled: enable it, or pin an enabled version",
	"ForbiddenByRbac":     "no role assignment lets the identity read the secret (assign it Key Vault Secrets User on the vault or the secret)",
	"AccessDenied":        "the vault's access policies do not give the identity Get on secrets",
	"ForbiddenByFirewall": "the vault's network rules refuse this client's address",
	"ForbiddenByPolicy":   "a policy of the vault refuses the request",
}

// classify turns the error of a GetSecret call into a resolver error
// class. It never keeps the SDK's error, whose text quotes response
// bodies, and never quotes a body that may hold a value.
func classify(ctx context.Context, err error) error {
	var te *tokenError
	var re *azcore.ResponseError
	var ue *url.Error
	switch {
	case errors.As(err, &te):
		return te.err()
	case errors.As(err, &re):
		return responseError(re, forbiddenHints)
	case ctx.Err() != nil:
		return fmt.Errorf("%w: %v", resolver.ErrUnavailable, ctx.Err())
	case errors.As(err, &ue):
		// The URL names the secret and version, never a value.
		return fmt.Errorf("%w: %s", resolver.ErrUnavailable, oneLine(ue.Error()))
	case challengeFailure(err):
		return fmt.Errorf("%w: Key Vault's authentication challenge cannot be used: %s", resolver.ErrPermission, oneLine(err.Error()))
	}
	// A 200 answer whose body did not decode: the decoder's text may
	// quote the body.
	return fmt.Errorf("%w: malformed response from Key Vault", resolver.ErrUnavailable)
}

// challengeFailure reports whether err is azsecrets' challenge policy
// refusing a 401's challenge: no WWW-Authenticate header, no resource in
// it, or a resource that does not match the vault's domain (a vault URL
// that is not Key Vault's). The policy's errors have no type of their
// own.
func challengeFailure(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "WWW-Authenticate") || strings.Contains(msg, "challenge resource")
}

// responseError classes a Key Vault error answer by its status and
// codes, explaining a 403's inner code by hints; the message quotes Key Vault's error code and message, which
// name the secret, never its value.
func responseError(re *azcore.ResponseError, hints map[string]string) error {
	code, inner, msg := re.ErrorCode, "", ""
	var header http.Header
	if re.RawResponse != nil {
		header = re.RawResponse.Header
		if body, err := runtime.Payload(re.RawResponse); err == nil {
			if c, i, m, ok := parseKVError(body); ok {
				code, inner, msg = c, i, m
			}
		}
	}
	detail := fmt.Sprintf("Key Vault answered HTTP %d", re.StatusCode)
	if code != "" && safeCode(code) {
		detail += " " + code
	}
	if inner != "" && safeCode(inner) {
		detail += " (" + inner + ")"
	}
	if msg != "" {
		detail += ": " + oneLine(msg)
	}
	ra := retryAfter(header)
	switch status := re.StatusCode; {
	case status == http.StatusNotFound:
		return fmt.Errorf("%w: %s", resolver.ErrNotFound, detail)
	case status == http.StatusTooManyRequests:
		return resolver.Throttled(detail, ra)
	case status >= 500 || status == http.StatusRequestTimeout:
		return resolver.WithRetryAfter(fmt.Errorf("%w: %s", resolver.ErrUnavailable, detail), ra)
	case status == http.StatusBadRequest:
		return fmt.Errorf("%w: Key Vault refused the request: %s", resolver.ErrBadRef, detail)
	case status == http.StatusUnauthorized:
		return fmt.Errorf("%w: Key Vault refused the token: %s", resolver.ErrPermission, detail)
	case status == http.StatusForbidden:
		if h, ok := hints[inner]; ok {
			return fmt.Errorf("%w: %s: %s", resolver.ErrPermission, h, detail)
		}
		return fmt.Errorf("%w: %s", resolver.ErrPermission, detail)
	}
	// Any other client error: Key Vault refused the request and
	// retrying will not change that.
	return fmt.Errorf("%w: %s", resolver.ErrPermission, detail)
}

// parseKVError reads Key Vault's error body {"error":{"code":...,
// "message":...,"innererror":{"code":...}}}.
func parseKVError(body []byte) (code, inner, msg string, ok bool) {
	var e struct {
		Error *struct {
			Code       string `json:"code"`
			Message    string `json:"message"`
			InnerError *struct {
				Code string `json:"code"`
			} `json:"innererror"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error == nil {
		return "", "", "", false
	}
	if e.Error.InnerError != nil {
		inner = e.Error.InnerError.Code
	}
	return e.Error.Code, inner, e.Error.Message, true
}

// safeCode reports whether s looks like an error code: at most 64
// letters, digits, '.' and '_'.
func safeCode(s string) bool {
	if len(s) > 64 {
		return false
	}
	for i := range len(s) {
		if !isLetter(s[i]) && !isDigit(s[i]) && s[i] != '.' && s[i] != '_' {
			return false
		}
	}
	return true
}

// retryAfter reads the server's hint from h (resolver.ParseRetryAfter:
// retry-after-ms and x-ms-retry-after-ms first, as azcore reads them).
func retryAfter(h http.Header) time.Duration { return resolver.ParseRetryAfter(h, time.Now()) }
