// Package logging builds omsecrets' slog logger: a text or JSON handler at
// a configured level. Values never reach it: resolver.Secret logs as
// "[redacted]", and callers log reference ids, never values.
package logging

import (
	"fmt"
	"io"
	"log/slog"
)

// New returns a logger writing to w in format "text" or "json" at level.
func New(w io.Writer, format string, level slog.Level) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("unknown log format %q (want text or json)", format)
}
