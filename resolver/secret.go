package resolver

import (
	"fmt"
	"log/slog"
)

// Redacted is what a Secret prints in place of its value.
const Redacted = "[redacted]"

// Mask is the value OpenMetadata returns for a secret field to a user that
// is not allowed to see it (any user but a bot). A resolved value equal to
// Mask means the token used upstream was not a bot's.
const Mask = "*********"

// Secret holds one resolved value. Its String, GoString, Format, LogValue,
// MarshalJSON and MarshalText methods all print "[redacted]", so a Secret
// that reaches a log line, an error or a panic message does not leak. Only
// Value returns the plaintext.
//
// The value sits behind a pointer: fmt prints the fields of a struct's
// unexported fields without calling their methods, so a Secret held in
// such a field would otherwise print its plaintext with %+v. Through the
// pointer it prints an address. Compare Secrets with Value, not ==.
//
// The zero Secret is the empty string. A Secret is immutable and safe for
// concurrent use.
type Secret struct {
	v    *string
	null bool
}

// NewSecret wraps a value.
func NewSecret(v string) Secret { return Secret{v: &v} }

// NullSecret returns the Secret that stands for JSON null (OpenMetadata
// stores the literal "null" for an unset secret field).
func NullSecret() Secret { return Secret{null: true} }

// Value returns the plaintext. Call it only where the value is written to
// its destination.
func (s Secret) Value() string {
	if s.v == nil {
		return ""
	}
	return *s.v
}

// IsNull reports whether the secret stands for JSON null.
func (s Secret) IsNull() bool { return s.null }

// String implements fmt.Stringer.
func (s Secret) String() string { return Redacted }

// GoString implements fmt.GoStringer, for %#v.
func (s Secret) GoString() string { return Redacted }

// Format implements fmt.Formatter so that every verb (%s, %v, %q, %x, ...)
// prints the redaction marker.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Redacted)) }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler.
func (s Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }
