// Package render decodes a workflow document (JSON or YAML) into an ordered
// tree, finds every secret reference in it, substitutes resolved values and
// marshals the result. It does no I/O and never resolves anything itself.
//
// Both formats decode into one tree of yaml.Node values so that key order,
// number literals and (for YAML) comments survive a round trip.
package render
