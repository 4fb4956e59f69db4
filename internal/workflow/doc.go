// Package workflow reads workflow definition files into Definitions: today
// the self-contained workflow config that `metadata ingest -c` reads (JSON
// or YAML). It checks the shape and knows where OpenMetadata keeps the
// secrets-manager provider; it does not resolve references or write files.
package workflow
