package awstest

import (
	"context"
	"strings"
	"testing"

	"omsecrets/resolver"
	"omsecrets/resolver/resolvertest"
)

// TransportFlake reports whether err is the SDK client failing to read a
// large response body from the Server ("malformed response", from "read
// tcp ...: use of closed network connection"). It happens now and then
// under -race only (about 3 runs in 40 of 100 sequential
// BatchGetSecretValue calls, before the change listings too), so tests
// that count calls retry it rather than measure it.
func TransportFlake(err error) bool {
	return err != nil && strings.Contains(err.Error(), "malformed response")
}

// ReadAll reads ids with p's GetBatch on s with its call log reset, again
// after a transport flake, so that the log holds one clean read. It
// returns the values read.
func ReadAll(tb testing.TB, p interface {
	GetBatch(context.Context, []string) (map[string]resolver.Secret, error)
}, s *Server, ids []string) map[string]resolver.Secret {
	tb.Helper()
	for range 5 {
		s.Reset()
		vals, err := p.GetBatch(context.Background(), ids)
		if !TransportFlake(err) {
			if err != nil {
				tb.Fatalf("GetBatch: %v", err)
			}
			return vals
		}
	}
	tb.Fatal("GetBatch kept failing for transport flakes")
	return nil
}

// UnchangedCounted calls p's Unchanged on s with its call log reset,
// again after a transport flake, and returns the result of the attempt
// that did not hit one and its pacer.
func UnchangedCounted(tb testing.TB, p interface {
	Unchanged(context.Context, []resolver.Held, resolver.Pacer) ([]string, error)
}, s *Server, held []resolver.Held) ([]string, *resolvertest.CountingPacer, error) {
	tb.Helper()
	for range 5 {
		s.Reset()
		pacer := &resolvertest.CountingPacer{}
		got, err := p.Unchanged(context.Background(), held, pacer)
		if !TransportFlake(err) {
			return got, pacer, err
		}
	}
	tb.Fatal("Unchanged kept failing for transport flakes")
	return nil, nil, nil
}
