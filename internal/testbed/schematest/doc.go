// Package schematest is a test-only helper that validates the OpenMetadata
// documents omsecrets produces (above all the workflow config that
// `metadata ingest -c` reads) against the real OpenMetadata JSON Schemas.
//
// The schemas are not part of this repository. They live in the shared
// fixture directory ../shared/openmetadata beside the repository root (the
// directory holding go.mod), whose SOURCE.md records where every file came
// from and how the set is incomplete. This package owns:
//
//   - locating that directory ([Dir]), and [SharedDir] for tests that
//     need it: they skip when it is absent, and fail under CI=true;
//   - loading the schema set by file path, with `$id` and `$schema` dropped,
//     draft-07 semantics and format assertions off;
//   - patching the gaps SOURCE.md lists: connection schemas that were not
//     copied become the false schema, the three missing entity files and
//     the two dangling definitions become the true schema `{}`;
//   - translating the few ECMAScript/Java `pattern`s that Go's regexp
//     cannot compile;
//   - the [RequireValid] helper, which logs and carries on when the shared
//     directory is absent (and fails under CI=true).
//
// Only _test.go files may import this package; non-test code must never
// depend on it.
package schematest
