package resolver_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/resolver"
)

// forgetting is a store that records what it is told to forget.
type forgetting struct {
	mu     sync.Mutex
	gets   int
	forgot []string
}

func (f *forgetting) Get(context.Context, string) (resolver.Secret, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets++
	return resolver.NewSecret("forget-value"), nil
}

func (f *forgetting) Forget(ids []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forgot = append(f.forgot, ids...)
}

// TestForget: forgotten ids leave the cache (the next Resolve fetches
// them) and reach a Forgetter store; other stores and ids are untouched.
func TestForget(t *testing.T) {
	t.Parallel()
	st := &forgetting{}
	r := resolver.New(resolver.Options{Stores: map[string]resolver.Getter{"k8s": st}, CacheTTL: time.Hour})
	a, b := sref(t, "k8s", "secret:a"), sref(t, "k8s", "secret:b")
	_, err := r.Resolve(t.Context(), []resolver.StoreRef{a, b})
	require.NoError(t, err)
	require.Equal(t, 2, resolver.StatsOf(r).CacheEntries)

	r.Forget("k8s", []string{"a"})
	r.Forget("nosuch", []string{"b"})
	r.Forget("k8s", nil)
	assert.Equal(t, 1, resolver.StatsOf(r).CacheEntries)
	assert.Equal(t, []string{"a"}, st.forgot)
	_, err = r.Resolve(t.Context(), []resolver.StoreRef{a, b})
	require.NoError(t, err)
	assert.Equal(t, 3, st.gets, "a fetched again, b from the cache")
}
