// Package reconcile runs the pipeline that turns definitions into resolved
// workflow configs: choose each definition's store, collect its references,
// resolve the references of all definitions in one planned pass, substitute
// the values and marshal the output. It fails closed: a definition with any
// problem yields no output, only a list of failures.
//
// It does no file I/O; callers read definitions and write outputs (see
// package sink).
package reconcile
