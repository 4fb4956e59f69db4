package resolver_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/resolver"
	"omsecrets/resolver/db"
	"omsecrets/resolver/resolvertest"
)

// TestObserverStoreCalls checks the op, size and result reported for
// each store call: a batch's result is that of the call as a whole.
func TestObserverStoreCalls(t *testing.T) {
	t.Parallel()
	one := resolvertest.NewFake(map[string]string{"/a": "obs-a"})
	batch := resolvertest.NewBatchFake(map[string]string{"/b": "obs-b"}, 10)
	var obs recorder
	r := resolver.New(resolver.Options{Stores: map[string]resolver.Getter{"one": one, "batch": batch}, Observer: &obs})
	_, err := r.Resolve(t.Context(), []resolver.StoreRef{
		sref(t, "one", "secret:/a"), sref(t, "one", "secret:/x"),
		sref(t, "batch", "secret:/b"), sref(t, "batch", "secret:/y"),
	})
	require.ErrorIs(t, err, resolver.ErrNotFound)
	assert.ElementsMatch(t, []storeCall{
		{store: "one", op: "get", ids: 1, result: "ok"},
		{store: "one", op: "get", ids: 1, result: "not_found"},
		{store: "batch", op: "batch", ids: 2, result: "ok"},
	}, obs.Calls())
}

// TestNothingIdentifyingLeaks resolves planted values through every
// path of this package's new machinery (cache, Refresh, retries of whole
// calls and of single ids, a store whose ids are values) and checks that
// no error, log line or observer argument carries a value, or an id of
// the store whose ids are values.
func TestNothingIdentifyingLeaks(t *testing.T) {
	t.Parallel()
	const value = "leak-" + planted
	values := map[string]string{"/a": value, "/b": `{"k":"` + value + `"}`, "/c": value}
	batch := resolvertest.NewBatchFake(values, 10)
	batch.Hook = func(_ context.Context, c resolvertest.Call) (map[string]error, error) {
		switch c.N {
		case 1:
			return nil, resolver.Throttled("slow down", 0)
		case 2:
			return map[string]error{"/b": errTransient}, nil
		case 3, 4, 5, 6, 7:
			return map[string]error{"/c": errTransient}, nil
		}
		return nil, nil
	}
	var logs resolvertest.LogBuffer
	var obs recorder
	r := resolver.New(resolver.Options{
		Stores:   map[string]resolver.Getter{"aws": batch, "db": db.New()},
		CacheTTL: ttl,
		Retry:    fastRetry,
		Observer: &obs,
		Logger:   slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	refs := []resolver.StoreRef{
		sref(t, "aws", "secret:/a"), sref(t, "aws", "secret:/b#k"), sref(t, "aws", "secret:/b#missing"), sref(t, "aws", "secret:/c"),
		{Store: "db", Ref: resolver.Ref{ID: value}}, {Store: "db", Ref: resolver.Ref{ID: value, Key: "k"}},
	}
	var errs []string
	for _, refresh := range []bool{false, false, true} {
		o := await(t, resolveAsync(t.Context(), r, refresh, refs))
		require.Error(t, o.err)
		errs = append(errs, o.err.Error(), fmt.Sprintf("%+v", o.err))
		assert.Equal(t, value, o.vals[refs[0]].Value())
		assert.Equal(t, value, o.vals[refs[1]].Value())
	}
	assert.Len(t, obs.Retries(), 6, "throttled once, /b once, then /c four times in the Refresh")
	assert.Contains(t, logs.String(), `"msg":"store retry"`)

	var seen []string
	for _, c := range obs.Calls() {
		seen = append(seen, c.store, c.op, c.result)
	}
	for _, l := range obs.Lookups() {
		seen = append(seen, l.store)
	}
	for _, rt := range obs.Retries() {
		seen = append(seen, rt.store, rt.result)
	}
	for name, out := range map[string]string{"errors": strings.Join(errs, "\n"), "logs": logs.String(), "observer": strings.Join(seen, " ")} {
		assert.NotContains(t, out, planted, name)
	}
}
