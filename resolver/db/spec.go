package db

import (
	"context"

	"omsecrets/resolver"
)

// Spec describes the db store to the store table: OpenMetadata's default
// provider, whose ids are the values (DBSecretsManager keeps secrets in
// OpenMetadata's own database and hands them out in the clear).
var Spec = resolver.Spec{
	Name:      "db",
	Providers: []string{"db", "noop"}, // noop: OpenMetadata's name before 1.0
	Summary:   "the id is the value (secret:foo is foo), as OpenMetadata's DBSecretsManager",
	BatchSize: 1,
	Open: func(context.Context, resolver.StoreConfig) (resolver.Getter, error) {
		return New(), nil
	},
}
