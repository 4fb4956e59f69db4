// Package resolvertest holds test helpers for the resolver package and its
// stores: Fake and BatchFake, in-memory stores that count and record their
// calls and can inject errors (fixed per id, or scripted per call through
// a Hook) and delays; Run, the conformance suite every store
// implementation passes; and LogBuffer, which captures what a component
// logs for the leak checks of tests across the module.
//
// It owns nothing used in production and must only be imported from tests.
// It does not test the Resolver itself (see the resolver package's tests)
// or any store's specific behaviour (each store package tests its own).
package resolvertest
