// Package resolver turns OpenMetadata secret references into values.
//
// A reference is a string value that starts with "secret:" (see ParseRef).
// The package owns the reference syntax, the Secret type that never prints
// its value, the store interfaces (Getter and the optional BatchGetter), the
// error classes every store maps its failures to, and the Resolver that
// deduplicates references and fans out to stores.
//
// It does not know about files, documents or OpenMetadata's API: callers
// collect references (see internal/render) and hand them over. Store
// implementations live in subpackages and import this one; this package never
// imports a store.
package resolver
