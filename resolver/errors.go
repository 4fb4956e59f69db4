package resolver

import (
	"errors"
	"fmt"
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
)

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
	ref := e.Ref.String()
	if e.HideID {
		ref = e.Ref.Redacted()
	}
	if e.Store == "" {
		return fmt.Sprintf("%s: %v", ref, e.Err)
	}
	return fmt.Sprintf("%s (store %s): %v", ref, e.Store, e.Err)
}

// Unwrap returns the underlying error.
func (e *RefError) Unwrap() error { return e.Err }

// Class names the error class of err for status lines and metrics:
// "ok" for nil, "not_found", "permission", "unavailable", "bad_ref",
// "masked", "unknown_store", or "error" for anything else.
func Class(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrNotFound):
		return "not_found"
	case errors.Is(err, ErrPermission):
		return "permission"
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
