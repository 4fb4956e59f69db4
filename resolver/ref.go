package resolver

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Prefix marks a string value as a secret reference.
const Prefix = "secret:"

// Ref is a parsed secret reference: "secret:<ID>" or "secret:<ID>#<Key>".
//
// ID is used verbatim by the store. Key, when set, selects one top-level key
// of a secret whose value is a JSON object. Ref is comparable and is used as
// a map key.
type Ref struct {
	ID  string
	Key string
}

// String returns the reference in its source form, "secret:<id>[#key]". It
// never contains a secret value, so it is safe to log.
func (r Ref) String() string {
	if r.Key == "" {
		return Prefix + r.ID
	}
	return Prefix + r.ID + "#" + r.Key
}

// Label returns the reference as it may be printed: String, or, with
// hideID, String with the id replaced by [redacted]. hideID is for stores
// whose ids are the values themselves (see ValueIDs and
// Resolver.HidesIDs). It is the one way ids are hidden: RefError's
// message, the Resolver's logs and the callers' messages and status
// entries all print references through it.
func (r Ref) Label(hideID bool) string {
	if hideID {
		return Ref{ID: Redacted, Key: r.Key}.String()
	}
	return Ref{ID: Clip(r.ID), Key: Clip(r.Key)}.String()
}

// maxLabel bounds the id and the key in a Label, so that a huge id
// written in a definition is not repeated whole in every log line.
const maxLabel = 256

// Clip shortens s to 256 bytes (at a rune boundary) plus a note of its
// length: for printing ids, keys and field paths a definition chose.
func Clip(s string) string {
	if len(s) <= maxLabel {
		return s
	}
	cut := maxLabel
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s…[%d bytes]", s[:cut], len(s))
}

// MaxRefLen bounds a reference: no store holds ids this long (AWS
// allows 2048 bytes, Kubernetes 253, Azure 127, GCP 255).
const MaxRefLen = 8192

// IsRef reports whether s is a secret reference, that is whether it starts
// with "secret:". A "secret:" later in a string is plain text.
func IsRef(s string) bool { return strings.HasPrefix(s, Prefix) }

// ParseRef parses a string that IsRef. The text after "secret:" up to the
// first '#' is the ID; the rest, if any, is the key. None of the supported
// stores allow '#' in an ID, so the first '#' is always the separator and a
// key may itself contain '#'.
//
// It returns an error wrapping ErrBadRef for a string that is not a
// reference, an empty ID, an empty key after '#', or a reference with a
// character that is not printable (controls, line separators, bidi
// overrides): no store accepts those, and they would corrupt or disguise
// log and status lines.
func ParseRef(s string) (Ref, error) {
	if !IsRef(s) {
		return Ref{}, fmt.Errorf("%w: missing %q prefix", ErrBadRef, Prefix)
	}
	rest := s[len(Prefix):]
	id, key, hasKey := strings.Cut(rest, "#")
	if id == "" {
		return Ref{}, fmt.Errorf("%w: empty secret id", ErrBadRef)
	}
	if hasKey && key == "" {
		return Ref{}, fmt.Errorf("%w: empty key after '#'", ErrBadRef)
	}
	if len(rest) > MaxRefLen {
		return Ref{}, fmt.Errorf("%w: reference longer than %d bytes", ErrBadRef, MaxRefLen)
	}
	if strings.ContainsFunc(rest, notPrintable) {
		return Ref{}, fmt.Errorf("%w: unprintable character in reference", ErrBadRef)
	}
	return Ref{ID: id, Key: key}, nil
}

func notPrintable(r rune) bool { return !unicode.IsPrint(r) }
