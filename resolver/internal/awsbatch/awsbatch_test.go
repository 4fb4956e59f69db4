package awsbatch_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/resolver"
	"omsecrets/resolver/internal/awsbatch"
	"omsecrets/resolver/resolvertest"
)

// TestReader: duplicates read once, refused ids fail alone, chunks of Max,
// the fall-back logged once, and reading one by one stops at the first
// failure that is not the id's own.
func TestReader(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var batches [][]string
	var gets []string
	var logs resolvertest.LogBuffer
	r := &awsbatch.Reader{
		Max: 2,
		Check: func(id string) error {
			if id == "" {
				return fmt.Errorf("%w: empty", resolver.ErrBadRef)
			}
			return nil
		},
		Get: func(_ context.Context, id string) (resolver.Secret, error) {
			mu.Lock()
			defer mu.Unlock()
			gets = append(gets, id)
			switch {
			case strings.HasPrefix(id, "missing"):
				return resolver.Secret{}, resolver.ErrNotFound
			case strings.HasPrefix(id, "throttled"):
				return resolver.Secret{}, resolver.Throttled("slow down", 0)
			}
			return resolver.NewSecret("v-" + id), nil
		},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), FallBackWarning: "batch denied", Action: "x:Batch",
	}
	r.Batch = func(_ context.Context, ids []string, out map[string]resolver.Secret) []error {
		mu.Lock()
		batches = append(batches, ids)
		mu.Unlock()
		for _, id := range ids {
			out[id] = resolver.NewSecret("v-" + id)
		}
		return nil
	}
	out, err := r.GetBatch(t.Context(), []string{"a", "b", "a", "", "c"})
	require.Len(t, resolver.Unjoin(err), 1)
	var re *resolver.RefError
	require.True(t, errors.As(err, &re))
	assert.Empty(t, re.Ref.ID)
	assert.Len(t, out, 3)
	assert.Equal(t, [][]string{{"a", "b"}, {"c"}}, batches)
	assert.Equal(t, 2, r.MaxBatch())

	r.FallBack()
	r.FallBack()
	assert.Equal(t, 1, strings.Count(logs.String(), "batch denied"))
	assert.Equal(t, 1, r.MaxBatch())
	out, err = r.GetBatch(t.Context(), []string{"a", "missing-1", "throttled", "never-read"})
	assert.Equal(t, "v-a", out["a"].Value())
	errs := resolver.Unjoin(err)
	require.Len(t, errs, 2)
	assert.ErrorIs(t, errs[0], resolver.ErrNotFound)
	assert.True(t, errors.As(errs[0], &re) && re.Ref.ID == "missing-1")
	assert.ErrorIs(t, errs[1], resolver.ErrThrottled, "the failure of the rest, not of one id")
	assert.False(t, errors.As(errs[1], &re))
	assert.Equal(t, []string{"a", "missing-1", "throttled"}, gets, "no call after a failure that is not the id's own")
}
