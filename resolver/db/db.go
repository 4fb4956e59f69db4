package db

import (
	"context"
	"fmt"

	"omsecrets/resolver"
)

var (
	_ resolver.Getter   = (*Store)(nil)
	_ resolver.ValueIDs = (*Store)(nil)
)

// Store is the db provider: every id resolves to itself. The zero Store is
// ready to use and is safe for concurrent use.
type Store struct{}

// New returns a Store.
func New() *Store { return &Store{} }

// Get returns id as the value. It fails only for an empty id, which no
// reference can produce, with an error wrapping resolver.ErrBadRef. It does
// not look at ctx: it does no I/O.
func (*Store) Get(_ context.Context, id string) (resolver.Secret, error) {
	if id == "" {
		return resolver.Secret{}, fmt.Errorf("empty secret id: %w", resolver.ErrBadRef)
	}
	return resolver.NewSecret(id), nil
}

// IDsAreValues reports true: a reference's id is its value here, so it must
// never be printed as an id.
func (*Store) IDsAreValues() bool { return true }
