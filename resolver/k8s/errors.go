package k8s

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"omsecrets/resolver"
)

// maxDetail bounds the API server message an error quotes.
const maxDetail = 400

// classify maps an error of a GET (or of opening a watch) to the
// resolver's classes. Messages name the HTTP status and the API server's
// reason; they quote the server's message only for 403, where it names
// the user and the verb RBAC refused (it is the server's own text, never
// a body a proxy wrote), and never a value or a token.
func classify(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || !isAPIStatus(err)) {
		return fmt.Errorf("%w: %w", resolver.ErrUnavailable, ctx.Err())
	}
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		return transportError(err)
	}
	status := st.Status()
	code := int(status.Code)
	what := fmt.Sprintf("the API server answered %d %s", code, http.StatusText(code))
	if status.Reason != "" && status.Reason != metav1.StatusReasonUnknown {
		what += " (" + string(status.Reason) + ")"
	}
	retryAfter := time.Duration(0)
	if secs, ok := apierrors.SuggestsClientDelay(err); ok && secs > 0 {
		retryAfter = time.Duration(secs) * time.Second
	}
	switch {
	case code == http.StatusNotFound:
		return fmt.Errorf("%w: no such Secret", resolver.ErrNotFound)
	case code == http.StatusForbidden:
		return fmt.Errorf("%w: RBAC refused to %s it: %s", resolver.ErrPermission, forbiddenVerb(err), forbiddenDetail(err))
	case code == http.StatusUnauthorized:
		return fmt.Errorf("%w: %s: the credentials were refused (an expired or revoked token)", resolver.ErrPermission, what)
	case code == http.StatusTooManyRequests:
		return resolver.Throttled(what, retryAfter)
	case code >= 500 || code == http.StatusRequestTimeout || code == 0 && apierrors.IsTimeout(err):
		return resolver.WithRetryAfter(fmt.Errorf("%w: %s", resolver.ErrUnavailable, what), retryAfter)
	default:
		// Any other refusal of a GET by a valid name: asking again will
		// not change it.
		return fmt.Errorf("%w: %s", resolver.ErrPermission, what)
	}
}

func isAPIStatus(err error) bool {
	var st apierrors.APIStatus
	return errors.As(err, &st)
}

// transportError classes a failure below HTTP: an untrusted certificate
// is a setup error retrying will not fix; anything else (refused or
// dropped connections, DNS, timeouts) is transient.
func transportError(err error) error {
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var host x509.HostnameError
	if errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &host) {
		return fmt.Errorf("%w: the API server's TLS certificate is not trusted: %s", resolver.ErrPermission, clip(err.Error()))
	}
	return fmt.Errorf("%w: %s", resolver.ErrUnavailable, clip(err.Error()))
}

// isUnauthorized reports whether err is the API server's 401.
func isUnauthorized(err error) bool {
	return err != nil && apierrors.IsUnauthorized(err)
}

// verbRE finds the verb in the message of an RBAC denial: `User "x"
// cannot get resource "secrets" ...`.
var verbRE = regexp.MustCompile(`cannot ([a-z]+) resource`)

// forbiddenVerb names the verb RBAC refused, from the server's message.
func forbiddenVerb(err error) string {
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		if m := verbRE.FindStringSubmatch(st.Status().Message); m != nil {
			return m[1]
		}
	}
	return "read"
}

// forbiddenDetail is the API server's message of a 403, which names the
// user and the verb, clipped and quoted.
func forbiddenDetail(err error) string {
	var st apierrors.APIStatus
	if errors.As(err, &st) && st.Status().Message != "" {
		return strconv.Quote(clip(st.Status().Message))
	}
	return "403 Forbidden"
}

// clip bounds a message and drops characters that would garble a log
// line (resolver.OneLine).
func clip(s string) string { return resolver.OneLine(s, maxDetail) }
