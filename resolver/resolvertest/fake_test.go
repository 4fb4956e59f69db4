package resolvertest_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/resolver"
	"omsecrets/resolver/resolvertest"
)

// fakeCases are the conformance cases for a Fake holding fakeValues and
// fakeErrs.
var (
	fakeValues = map[string]string{
		"/a":     "fake-value-a",
		"/b":     "fake-value-b",
		"/empty": "",
		"/null":  "null",
		"/perm":  "fake-value-shadowed-by-error",
	}
	fakeErrs = map[string]error{
		"/perm": resolver.ErrPermission,
		"/down": fmt.Errorf("backend 503: %w", resolver.ErrUnavailable),
	}
	fakeCases = []resolvertest.Case{
		{Name: "a", ID: "/a", Want: "fake-value-a"},
		{Name: "b", ID: "/b", Want: "fake-value-b"},
		{Name: "empty", ID: "/empty", Want: ""},
		{Name: "null", ID: "/null", WantNull: true},
		{Name: "missing", ID: "/missing", WantErr: resolver.ErrNotFound},
		{Name: "injected permission", ID: "/perm", WantErr: resolver.ErrPermission},
		{Name: "injected unavailable", ID: "/down", WantErr: resolver.ErrUnavailable},
	}
)

func TestFakeConformance(t *testing.T) {
	t.Parallel()
	resolvertest.Run(t, &resolvertest.Fake{Values: fakeValues, Errs: fakeErrs}, fakeCases)
}

func TestBatchFakeConformance(t *testing.T) {
	t.Parallel()
	for _, max := range []int{1, 2, 100} {
		t.Run(fmt.Sprint("max ", max), func(t *testing.T) {
			t.Parallel()
			b := resolvertest.NewBatchFake(fakeValues, max)
			b.Errs = fakeErrs
			resolvertest.Run(t, b, fakeCases)
			assert.Positive(t, b.Batches())
		})
	}
}

func TestFakeIsNotBatchGetter(t *testing.T) {
	t.Parallel()
	var g resolver.Getter = resolvertest.NewFake(nil)
	_, ok := g.(resolver.BatchGetter)
	assert.False(t, ok)
	g = resolvertest.NewBatchFake(nil, 10)
	_, ok = g.(resolver.BatchGetter)
	assert.True(t, ok)
}

func TestFakeCounters(t *testing.T) {
	t.Parallel()
	f := resolvertest.NewFake(map[string]string{"x": "1"})
	_, err := f.Get(t.Context(), "x")
	require.NoError(t, err)
	_, err = f.Get(t.Context(), "y")
	require.ErrorIs(t, err, resolver.ErrNotFound)
	assert.Equal(t, 2, f.Gets())
	assert.Equal(t, 0, f.Batches())
	assert.Equal(t, []string{"x", "y"}, f.Requested())
	assert.Equal(t, 1, f.MaxInFlight())

	f.Reset()
	assert.Zero(t, f.Gets())
	assert.Empty(t, f.Requested())
	assert.Zero(t, f.MaxInFlight())

	b := resolvertest.NewBatchFake(map[string]string{"x": "1", "y": "2"}, 5)
	vals, err := b.GetBatch(t.Context(), []string{"x", "y", "z"})
	var re *resolver.RefError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "z", re.Ref.ID)
	assert.Empty(t, re.Store)
	assert.ErrorIs(t, err, resolver.ErrNotFound)
	assert.Equal(t, "1", vals["x"].Value())
	assert.Equal(t, "2", vals["y"].Value())
	assert.Equal(t, 1, b.Batches())
	assert.Equal(t, 0, b.Gets())
	assert.Equal(t, []int{3}, b.BatchSizes())
	assert.Equal(t, []string{"x", "y", "z"}, b.Requested())
}

func TestFakeCountsConcurrentCalls(t *testing.T) {
	t.Parallel()
	f := &resolvertest.Fake{Values: map[string]string{"x": "1"}, Delay: 50 * time.Millisecond}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			_, err := f.Get(context.Background(), "x")
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	assert.Equal(t, 4, f.Gets())
	assert.Greater(t, f.MaxInFlight(), 1, "4 calls of 50ms started together overlap")
	assert.LessOrEqual(t, f.MaxInFlight(), 4)
}

func TestFakeContext(t *testing.T) {
	t.Parallel()
	f := &resolvertest.Fake{Values: map[string]string{"x": "1"}, Delay: time.Hour}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, err := f.Get(ctx, "x")
	require.Error(t, err)
	assert.ErrorIs(t, err, resolver.ErrUnavailable)
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	_, err = f.Get(ctx, "x")
	assert.ErrorIs(t, err, resolver.ErrUnavailable, "a done context fails at once")
}

func TestBatchFakeContract(t *testing.T) {
	t.Parallel()
	b := resolvertest.NewBatchFake(map[string]string{"x": "1", "y": "2", "z": "3"}, 2)
	for _, tc := range []struct {
		name    string
		ids     []string
		wantMsg string
	}{
		{name: "too many", ids: []string{"x", "y", "z"}, wantMsg: "3 ids, MaxBatch is 2"},
		{name: "duplicate", ids: []string{"x", "x"}, wantMsg: `duplicate id "x"`},
		{name: "empty", ids: nil, wantMsg: "no id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vals, err := b.GetBatch(t.Context(), tc.ids)
			require.Error(t, err)
			assert.Empty(t, vals)
			assert.Contains(t, err.Error(), tc.wantMsg)
			var re *resolver.RefError
			assert.False(t, errors.As(err, &re), "a contract breach fails the whole call")
		})
	}
}

func TestBatchFakeWholeFailure(t *testing.T) {
	t.Parallel()
	b := resolvertest.NewBatchFake(map[string]string{"x": "1"}, 10)
	b.BatchErr = fmt.Errorf("throttled: %w", resolver.ErrUnavailable)
	vals, err := b.GetBatch(t.Context(), []string{"x"})
	assert.Empty(t, vals)
	assert.ErrorIs(t, err, resolver.ErrUnavailable)

	// Get is not affected.
	v, err := b.Get(t.Context(), "x")
	require.NoError(t, err)
	assert.Equal(t, "1", v.Value())
}

func TestBatchFakeSilentMissing(t *testing.T) {
	t.Parallel()
	b := resolvertest.NewBatchFake(map[string]string{"x": "1"}, 10)
	b.Errs = map[string]error{"p": resolver.ErrPermission}
	b.SilentMissing = true
	vals, err := b.GetBatch(t.Context(), []string{"x", "missing", "p"})
	assert.Equal(t, []string{"x"}, slices.Collect(maps.Keys(vals)))
	errs := resolver.Unjoin(err)
	require.Len(t, errs, 1, "only the injected error is reported")
	assert.ErrorIs(t, errs[0], resolver.ErrPermission)
}

func TestFakeHook(t *testing.T) {
	t.Parallel()
	b := resolvertest.NewBatchFake(map[string]string{"x": "1", "y": "2"}, 5)
	var seen []resolvertest.Call
	var mu sync.Mutex
	b.Hook = func(_ context.Context, c resolvertest.Call) (map[string]error, error) {
		mu.Lock()
		seen = append(seen, c)
		mu.Unlock()
		switch c.N {
		case 1:
			return nil, resolver.Throttled("slow down", 0)
		case 2:
			return map[string]error{"y": resolver.ErrPermission}, nil
		case 3:
			return nil, resolver.ErrUnavailable
		}
		return nil, nil
	}

	vals, err := b.GetBatch(t.Context(), []string{"x", "y"})
	assert.Empty(t, vals, "a whole failure returns no value")
	assert.ErrorIs(t, err, resolver.ErrThrottled)
	var re *resolver.RefError
	assert.False(t, errors.As(err, &re), "returned as is")

	vals, err = b.GetBatch(t.Context(), []string{"x", "y"})
	assert.Equal(t, "1", vals["x"].Value())
	assert.NotContains(t, vals, "y")
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "y", re.Ref.ID)
	assert.ErrorIs(t, err, resolver.ErrPermission)

	_, err = b.Get(t.Context(), "x")
	require.ErrorAs(t, err, &re, "a Get's whole failure names the id")
	assert.Equal(t, "x", re.Ref.ID)
	assert.ErrorIs(t, err, resolver.ErrUnavailable)

	v, err := b.Get(t.Context(), "y")
	require.NoError(t, err)
	assert.Equal(t, "2", v.Value())

	calls := b.Calls()
	require.Len(t, calls, 4)
	assert.Equal(t, seen, calls, "the hook sees what Calls records")
	for i, c := range calls {
		assert.Equal(t, i+1, c.N)
		assert.False(t, c.At.IsZero())
	}
	assert.Equal(t, []string{"batch", "batch", "get", "get"}, []string{calls[0].Op, calls[1].Op, calls[2].Op, calls[3].Op})
	assert.Equal(t, []string{"x", "y"}, calls[0].IDs)
	assert.Equal(t, []string{"y"}, calls[3].IDs)

	b.Reset()
	assert.Empty(t, b.Calls())
	_, err = b.Get(t.Context(), "x")
	assert.ErrorIs(t, err, resolver.ErrThrottled, "numbering restarts: the hook's first call again")
	assert.Equal(t, 1, b.Calls()[0].N)
}

func TestFakeHookSeesContext(t *testing.T) {
	t.Parallel()
	f := resolvertest.NewFake(map[string]string{"x": "1"})
	f.Hook = func(ctx context.Context, _ resolvertest.Call) (map[string]error, error) {
		<-ctx.Done()
		return nil, fmt.Errorf("held: %w: %w", ctx.Err(), resolver.ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	_, err := f.Get(ctx, "x")
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, err, resolver.ErrUnavailable)
}
