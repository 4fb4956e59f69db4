package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"omsecrets/internal/omclient"
	"omsecrets/internal/render"
	"omsecrets/resolver"
)

// Outcome classes of a definition, besides the reference classes that
// resolver.Class names (not_found, permission, throttled, unavailable,
// bad_ref, masked, unknown_store). Status lines, /status, metrics and
// check's OUTCOME column print them.
const (
	ClassOK           = "ok"
	ClassInvalid      = "invalid"     // the definition file cannot be used
	ClassUnsupported  = "unsupported" // a pipeline type omsecrets does not build
	ClassUnauthorized = "om_unauthorized"
	ClassForbidden    = "om_forbidden"
	ClassGone         = "om_not_found" // the service is gone
	ClassOMDown       = "om_unavailable"
	ClassOM           = "om_error"
	ClassHidden       = "connection_hidden"
	ClassConflict     = "output_conflict" // two definitions, one output name
	ClassWrite        = "write_failed"
	ClassCancelled    = "cancelled"
)

// Sentinel errors of definitions, for callers to attach hints to (see
// Options.Hints) and to test with errors.Is.
var (
	// ErrNoToken: the definition needs the OpenMetadata API but has no bot
	// JWT.
	ErrNoToken = errors.New("no bot JWT")
	// ErrHiddenConnection: OpenMetadata returned the service without its
	// connection.
	ErrHiddenConnection = errors.New("connection hidden")
	// ErrOutputConflict: the output name is another definition's.
	ErrOutputConflict = errors.New("output name taken")
)

// Error is a failure of a whole definition, with its outcome class. Its
// message is one line naming the file.
type Error struct {
	Class string
	Err   error
}

func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Failf returns an *Error of class with a message formatted as
// fmt.Errorf does.
func Failf(class, format string, args ...any) error {
	return &Error{Class: class, Err: fmt.Errorf(format, args...)}
}

// ErrGone is the failure of a one-shot command's definition whose file
// does not exist (Result.Gone): nothing can be written for it.
func ErrGone(path string) error {
	return Failf(ClassInvalid, "%s: no such file", path)
}

// ClassOf names the outcome class of a definition's error: "ok" for nil,
// an *Error's class, a *DefinitionError's first failure's, or else
// resolver.Class.
func ClassOf(err error) string {
	if err == nil {
		return ClassOK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	var de *DefinitionError
	if errors.As(err, &de) && len(de.Failures) > 0 {
		return de.Failures[0].Class()
	}
	return resolver.Class(err)
}

// Transient reports whether err is worth trying again soon: OpenMetadata
// or a store was unavailable or throttled, or a stage ran out of time.
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var de *DefinitionError
	if errors.As(err, &de) {
		for _, f := range de.Failures {
			if resolver.Transient(f.Err) {
				return true
			}
		}
		return false
	}
	if ClassOf(err) == ClassWrite {
		// A full tmpfs, a quota, an I/O error: worth trying again soon,
		// not only at the next refresh.
		return true
	}
	return resolver.Transient(err) || errors.Is(err, omclient.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}

// omClass maps an OpenMetadata client error to an outcome class.
func omClass(err error) string {
	switch {
	case errors.Is(err, context.Canceled):
		return ClassCancelled
	case errors.Is(err, context.DeadlineExceeded):
		return ClassOMDown
	case errors.Is(err, omclient.ErrUnauthorized):
		return ClassUnauthorized
	case errors.Is(err, omclient.ErrForbidden):
		return ClassForbidden
	case errors.Is(err, omclient.ErrNotFound):
		return ClassGone
	case errors.Is(err, omclient.ErrUnavailable):
		return ClassOMDown
	}
	return ClassOM
}

// omMessage adds what an operator should do to the client's error.
func omMessage(err error) error {
	switch {
	case errors.Is(err, omclient.ErrUnauthorized):
		return fmt.Errorf("%w (is the bot JWT expired or revoked?)", err)
	case errors.Is(err, omclient.ErrForbidden):
		return fmt.Errorf("%w (the token must be the ingestion bot's)", err)
	case errors.Is(err, omclient.ErrNotFound):
		return fmt.Errorf("%w (the service was deleted or renamed in OpenMetadata)", err)
	}
	return err
}

// Failure is one problem in a definition: a reference that did not
// resolve, or a field that is wrong in itself.
type Failure struct {
	Field string // path in the document; "" for the whole definition
	Ref   string // the reference, if the problem is one
	Store string
	Err   error
}

// Class names the failure's error class (see resolver.Class).
func (f Failure) Class() string {
	if errors.Is(f.Err, ErrForbiddenRef) {
		return ClassForbiddenRef
	}
	c := resolver.Class(f.Err)
	if c == "error" && f.Ref == "" {
		// A field that is wrong in itself (too deep, a duplicate key,
		// not representable in JSON): the definition cannot be used.
		return ClassInvalid
	}
	return c
}

func (f Failure) Error() string {
	var b strings.Builder
	if f.Field != "" {
		b.WriteString(resolver.Clip(f.Field) + ": ")
	}
	if f.Ref != "" {
		fmt.Fprintf(&b, "%s (store %s): ", f.Ref, f.Store)
	}
	b.WriteString(f.Class() + ": " + reason(f.Err))
	return b.String()
}

// reason is the innermost message, without the reference a RefError adds.
func reason(err error) string {
	var fe *render.FieldError
	if errors.As(err, &fe) {
		return fe.Err.Error()
	}
	return resolver.WithoutRef(err).Error()
}

// DefinitionError lists every failure of one definition's references and
// fields. Its message is one line naming the file.
type DefinitionError struct {
	Path     string
	Failures []Failure
}

func (e *DefinitionError) Error() string {
	parts := make([]string, len(e.Failures))
	for i, f := range e.Failures {
		parts[i] = f.Error()
	}
	noun := "problems"
	if len(parts) == 1 {
		noun = "problem"
	}
	return fmt.Sprintf("%s: %d %s: %s", e.Path, len(parts), noun, strings.Join(parts, "; "))
}

// Unwrap returns the failures' errors, so errors.Is finds their classes.
func (e *DefinitionError) Unwrap() []error {
	out := make([]error, len(e.Failures))
	for i, f := range e.Failures {
		out[i] = f.Err
	}
	return out
}

// LogFailure logs a definition's failure once, at error level: one line
// per failure of a *DefinitionError, naming its field, reference and
// store, or one line for any other error. extra attributes are added to
// every line. Messages name ids and fields, never values.
// maxLoggedFailures bounds the lines LogFailure writes for one
// definition.
const maxLoggedFailures = 10

func LogFailure(logger *slog.Logger, path string, err error, extra ...any) {
	var de *DefinitionError
	if !errors.As(err, &de) {
		attrs := append([]any{"definition", path, "class", ClassOf(err), "error", err.Error()}, extra...)
		logger.Error("definition not resolved", attrs...)
		return
	}
	for i, f := range de.Failures {
		if i == maxLoggedFailures {
			// Thousands of failing references must not flood the log:
			// the rest are counted (check lists them all).
			attrs := append([]any{"definition", path, "class", ClassOf(err), "more_problems", len(de.Failures) - i}, extra...)
			logger.Error("definition not resolved: further problems not logged", attrs...)
			return
		}
		attrs := []any{"definition", path, "class", f.Class()}
		if f.Field != "" {
			attrs = append(attrs, "field", resolver.Clip(f.Field))
		}
		if f.Ref != "" {
			attrs = append(attrs, "reference", f.Ref, "store", f.Store)
		}
		attrs = append(append(attrs, "error", f.Error()), extra...)
		logger.Error("definition not resolved", attrs...)
	}
}
