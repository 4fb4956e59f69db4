package envvar

import (
	"context"
	"fmt"
	"os"
	"strings"

	"omsecrets/resolver"
)

var _ resolver.Getter = (*Store)(nil)

// DefaultPrefix is the prefix of every variable name unless New is given
// another.
const DefaultPrefix = "OMSECRETS_SECRET_"

// Store reads secrets from environment variables. It is safe for concurrent
// use if its lookup function is (os.LookupEnv is).
type Store struct {
	prefix string
	lookup func(string) (string, bool)
}

// New returns a Store that reads the variable VarName(prefix, id) for id
// through lookup. An empty prefix means DefaultPrefix, so that a Store
// always has one; a nil lookup means os.LookupEnv. Tests pass a lookup over
// a map so that they need not change the process environment.
func New(prefix string, lookup func(string) (string, bool)) *Store {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if lookup == nil {
		lookup = os.LookupEnv
	}
	return &Store{prefix: prefix, lookup: lookup}
}

// Prefix returns the prefix of the variables the Store reads.
func (s *Store) Prefix() string { return s.prefix }

// VarName returns the variable that holds the secret id: prefix followed by
// id upper-cased, with every run of characters outside [A-Za-z0-9] replaced
// by one '_' and leading and trailing '_' trimmed. It returns "" if id has
// no letter or digit. It uses prefix as given, empty or not.
func VarName(prefix, id string) string {
	var b strings.Builder
	pending := false // a run of other characters is waiting to become '_'
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		default:
			// Bytes of a multi-byte UTF-8 character land here one by
			// one, which makes the same single '_'.
			pending = true
			continue
		}
		if pending && b.Len() > 0 {
			b.WriteByte('_')
		}
		pending = false
		b.WriteByte(c)
	}
	if b.Len() == 0 {
		return ""
	}
	return prefix + b.String()
}

// Get implements resolver.Getter. It does not look at ctx: a lookup does
// no I/O.
func (s *Store) Get(_ context.Context, id string) (resolver.Secret, error) {
	name := VarName(s.prefix, id)
	if name == "" {
		return resolver.Secret{}, fmt.Errorf("secret %q: id has no letter or digit to name an environment variable: %w", id, resolver.ErrBadRef)
	}
	v, ok := s.lookup(name)
	if !ok {
		return resolver.Secret{}, fmt.Errorf("secret %q: environment variable %s is not set: %w", id, name, resolver.ErrNotFound)
	}
	return resolver.NewSecret(v), nil
}
