// Package metrics owns omsecrets' Prometheus collectors. They live on an
// explicit Registry (never the global one) behind a Recorder with typed
// methods, so callers never build label values by hand and no label can
// carry a secret: labels are store names, operations, outcome classes and
// event kinds, all from small fixed sets.
//
// It does not serve HTTP; internal/status mounts Handler.
package metrics
