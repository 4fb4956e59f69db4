// Package db implements OpenMetadata's default secrets provider, "db", as a
// resolver.Getter.
//
// With the db provider OpenMetadata keeps secret fields in its own database
// and a reference's id is the value itself: "secret:foo" resolves to "foo",
// as OpenMetadata's Python DBSecretsManager does (get_string_value returns
// the secret id). The Resolver's rules still apply on top: the id "null"
// resolves to JSON null, and a "#key" selects a key of an id that is a JSON
// object.
//
// Because the id is the value, an id of this store is as sensitive as a
// value: do not log it.
//
// The package owns only that identity mapping. It does not read
// OpenMetadata's database, decrypt anything or talk to the OpenMetadata API.
package db
