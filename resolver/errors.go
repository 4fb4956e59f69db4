package resolver

import (
	"errors"
	"fmt"
	"time"
)

// Error classes. Every store maps its failures to one of these, wrapped in a
// *RefError that names the reference; callers test them with errors.Is.
var (
	// ErrNotFound: the secret (or the selected key) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrPermission: the store refused access to the secret.
	ErrPermission = errors.New("permission denied")
	// ErrUnavailable: the store could not answer now (throttling, 5xx,
	// timeouts, network); retrying later may succeed.
	ErrUnavailable = errors.New("store unavailable")
	// ErrBadRef: the reference is malformed or cannot apply to the stored
	// value (for example a #key on a secret that is not a JSON object).
	ErrBadRef = errors.New("bad reference")
	// ErrMasked: the value is OpenMetadata's mask "*********", which the
	// server returns to tokens that are not a bot's.
	ErrMasked = errors.New("masked value: the OpenMetadata API token used upstream is not a bot's, so secrets came back as *********")
	// ErrUnknownStore: no store is configured under the requested name.
	ErrUnknownStore = errors.New("unknown store")
	// ErrThrottled: the store refused the call for rate (AWS
	// ThrottlingException, HTTP 429). Stores wrap it together with
	// ErrUnavailable (see Throttled), so it is retried like any transient
	// failure but counted apart.
	ErrThrottled = errors.New("throttled")
)

// retryAfterError carries a server's Retry-After hint.
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// Throttled returns an error that wraps both ErrUnavailable and
// ErrThrottled, with detail (which must not quote a value) and, when
// retryAfter > 0, the server's Retry-After hint for RetryAfter.
func Throttled(detail string, retryAfter time.Duration) error {
	err := fmt.Errorf("%w: %w: %s", ErrUnavailable, ErrThrottled, detail)
	return WithRetryAfter(err, retryAfter)
}

// WithRetryAfter attaches a Retry-After hint to err; a hint <= 0 returns
// err unchanged.
func WithRetryAfter(err error, after time.Duration) error {
	if err == nil || after <= 0 {
		return err
	}
	return &retryAfterError{err: err, after: after}
}

// RetryAfter returns the Retry-After hint attached to err by
// WithRetryAfter or Throttled, if any.
func RetryAfter(err error) (time.Duration, bool) {
	var ra *retryAfterError
	if errors.As(err, &ra) {
		return ra.after, true
	}
	return 0, false
}

// Transient reports whether retrying err may succeed: it is
// ErrUnavailable (throttling, 5xx, timeouts, network). Callers still stop
// retrying when their own context is done.
func Transient(err error) bool {
	return errors.Is(err, ErrUnavailable)
}

// RefError records a failure to resolve one reference. It carries the
// reference and the store name, never a value.
type RefError struct {
	Store string
	Ref   Ref
	Err   error
	// HideID is set for stores whose ids are values (see ValueIDs): the
	// message then shows the id as [redacted].
	HideID bool
}

// Error names the reference (its id hidden when HideID) and the store.
func (e *RefError) Error() string {
	ref := e.Ref.Label(e.HideID)
	if e.Store == "" {
		return fmt.Sprintf("%s: %v", ref, e.Err)
	}
	return fmt.Sprintf("%s (store %s): %v", ref, e.Store, e.Err)
}

// Unwrap returns the underlying error.
func (e *RefError) Unwrap() error { return e.Err }

// WithoutRef returns the error a *RefError in err's chain wraps, or err
// when there is none: the failure without the reference and store the
// RefError names, for messages that name them themselves. The Resolver
// uses it too, on a store's own RefError, so that the RefError it returns
// is the only one in the chain.
func WithoutRef(err error) error {
	var re *RefError
	if errors.As(err, &re) {
		return re.Err
	}
	return err
}

// Class names the error class of err for status lines and metrics:
// "ok" for nil, "not_found", "permission", "throttled", "unavailable", "bad_ref",
// "masked", "unknown_store", or "error" for anything else.
func Class(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrPermission):
		return "permission"
	case errors.Is(err, ErrThrottled):
		return "throttled"
	case errors.Is(err, ErrUnavailable):
		return "unavailable"
	case errors.Is(err, ErrBadRef):
		return "bad_ref"
	case errors.Is(err, ErrMasked):
		return "masked"
	case errors.Is(err, ErrUnknownStore):
		return "unknown_store"
	default:
		return "error"
	}
}
