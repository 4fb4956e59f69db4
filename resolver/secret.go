package resolver

import (
	"crypto/hmac"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
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
	// version is the store's token for the value (see Version).
	version string
}

// NewSecret wraps a value.
func NewSecret(v string) Secret { return Secret{v: &v} }

// WithVersion returns s carrying version, the store's token for the
// value it read: Secrets Manager's VersionId, Parameter Store's Version,
// a Kubernetes resourceVersion. A token is not secret (it says nothing of
// the value) but it is opaque: only the store that made it interprets it,
// when the Resolver asks it whether a value is still current (see
// ChangeLister). "" means the store gave none.
func (s Secret) WithVersion(version string) Secret {
	s.version = version
	return s
}

// Version returns the store's token for the value, "" if none (see
// WithVersion). The Resolver gives values of stores that have no version
// a content hash (see ContentVersion).
func (s Secret) Version() string { return s.version }

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

// contentKey keys ContentVersion: a token made under it means nothing
// outside this process, so it cannot be used to guess a value.
var contentKey = func() []byte {
	k := make([]byte, 32)
	_, _ = crand.Read(k) // crypto/rand.Read never fails (Go 1.24)
	return k
}()

// ContentVersion is the version token of a value whose store has no
// version of its own: a keyed hash of the value ("h:" and 32 hex
// digits), the same for the same value within one process. The Resolver
// gives it to the values of such stores.
func ContentVersion(s Secret) string {
	m := hmac.New(sha256.New, contentKey)
	if s.IsNull() {
		m.Write([]byte{0})
	} else {
		m.Write([]byte{1})
		m.Write([]byte(s.Value()))
	}
	return "h:" + hex.EncodeToString(m.Sum(nil)[:16])
}
