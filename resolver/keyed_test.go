package resolver_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/resolver"
	"omsecrets/resolver/resolvertest"
)

// keyedFake is a Fake whose secrets hold named values (resolver.KeyedValues).
type keyedFake struct {
	resolvertest.Fake
}

func (*keyedFake) DefaultKey() string { return "value" }

// notifyingFake is a Fake that reports changes (resolver.ChangeNotifier).
type notifyingFake struct {
	resolvertest.Fake
	mu sync.Mutex
	fn func([]string)
}

func (n *notifyingFake) Notify(fn func([]string)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.fn = fn
}

func (n *notifyingFake) change(ids ...string) {
	n.mu.Lock()
	fn := n.fn
	n.mu.Unlock()
	fn(ids)
}

func TestKeyedValuesSelectKeysOfOneFetch(t *testing.T) {
	t.Parallel()
	st := &keyedFake{Fake: resolvertest.Fake{Values: map[string]string{
		"db-creds": `{"value":"keyed-default","username":"keyed-user","unset":null}`,
		"plain":    `"not an object"`,
	}}}
	r := resolver.New(resolver.Options{Stores: map[string]resolver.Getter{"k": st}, CacheTTL: time.Hour})
	ref := func(id, key string) resolver.StoreRef {
		return resolver.StoreRef{Store: "k", Ref: resolver.Ref{ID: id, Key: key}}
	}
	vals, err := r.Resolve(t.Context(), []resolver.StoreRef{ref("db-creds", ""), ref("db-creds", "username"), ref("db-creds", "unset")})
	require.NoError(t, err)
	assert.Equal(t, "keyed-default", vals[ref("db-creds", "")].Value(), "a reference without #key reads DefaultKey")
	assert.Equal(t, "keyed-user", vals[ref("db-creds", "username")].Value())
	assert.True(t, vals[ref("db-creds", "unset")].IsNull())
	assert.Equal(t, 1, st.Gets(), "three keys of one secret cost one fetch")

	_, err = r.Resolve(t.Context(), []resolver.StoreRef{ref("db-creds", "password")})
	require.ErrorIs(t, err, resolver.ErrNotFound)
	assert.Contains(t, err.Error(), `key "password" not in secret`)
	assert.NotContains(t, err.Error(), "keyed-")
	assert.Equal(t, 1, st.Gets(), "served from the cache")

	_, err = r.Resolve(t.Context(), []resolver.StoreRef{ref("plain", "")})
	require.ErrorIs(t, err, resolver.ErrBadRef, "a keyed store's value must be an object")
}

func TestChangeNotificationDropsTheCacheAndReachesOnChange(t *testing.T) {
	t.Parallel()
	st := &notifyingFake{Fake: resolvertest.Fake{Values: map[string]string{"a": "v1", "b": "b1"}}}
	type change struct {
		store string
		ids   []string
	}
	changes := make(chan change, 4)
	r := resolver.New(resolver.Options{
		Stores:   map[string]resolver.Getter{"k": st},
		CacheTTL: time.Hour,
		OnChange: func(store string, ids []string) { changes <- change{store, ids} },
	})
	a := resolver.StoreRef{Store: "k", Ref: resolver.Ref{ID: "a"}}
	b := resolver.StoreRef{Store: "k", Ref: resolver.Ref{ID: "b"}}
	_, err := r.Resolve(t.Context(), []resolver.StoreRef{a, b})
	require.NoError(t, err)
	require.Equal(t, 2, st.Gets())

	st.change("a")
	select {
	case c := <-changes:
		assert.Equal(t, change{"k", []string{"a"}}, c)
	case <-time.After(5 * time.Second):
		t.Fatal("OnChange not called")
	}
	_, err = r.Resolve(t.Context(), []resolver.StoreRef{a, b})
	require.NoError(t, err)
	assert.Equal(t, 3, st.Gets(), "only the changed id is fetched again")
}

// A change reported while a fetch of the id is in flight: that fetch may
// have read the old value, so its result is not cached.
func TestChangeDuringFetchIsNotCached(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	st := &notifyingFake{Fake: resolvertest.Fake{Values: map[string]string{"a": "v1"}}}
	st.Hook = func(ctx context.Context, c resolvertest.Call) (map[string]error, error) {
		if c.N == 1 {
			started <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return nil, nil
	}
	r := resolver.New(resolver.Options{Stores: map[string]resolver.Getter{"k": st}, CacheTTL: time.Hour, OnChange: func(string, []string) {}})
	a := resolver.StoreRef{Store: "k", Ref: resolver.Ref{ID: "a"}}
	done := make(chan error, 1)
	go func() {
		_, err := r.Resolve(context.Background(), []resolver.StoreRef{a})
		done <- err
	}()
	<-started
	st.change("a")
	close(release)
	require.NoError(t, <-done)
	_, err := r.Resolve(t.Context(), []resolver.StoreRef{a})
	require.NoError(t, err)
	assert.Equal(t, 2, st.Gets(), "the value fetched across the change was not cached")
}

// Without OnChange nobody re-resolves: the store is not asked to watch
// (a one-shot command would open watches for nothing).
func TestNoOnChangeNoWatch(t *testing.T) {
	t.Parallel()
	st := &notifyingFake{Fake: resolvertest.Fake{Values: map[string]string{"a": "v1"}}}
	r := resolver.New(resolver.Options{Stores: map[string]resolver.Getter{"k": st}, CacheTTL: time.Hour})
	_, err := r.Resolve(t.Context(), []resolver.StoreRef{{Store: "k", Ref: resolver.Ref{ID: "a"}}})
	require.NoError(t, err)
	st.mu.Lock()
	defer st.mu.Unlock()
	assert.Nil(t, st.fn, "Notify was not called")
}

// A JSON secret with a lone surrogate escape would have its key's value
// altered by the decoder: bad_ref instead.
func TestJSONSecretWithLoneSurrogateIsRefused(t *testing.T) {
	t.Parallel()
	st := &resolvertest.Fake{Values: map[string]string{"j": `{"password":"ab\udc80cd"}`, "ok": `{"password":"\ud83d\ude00"}`}}
	r := resolver.New(resolver.Options{Stores: map[string]resolver.Getter{"s": st}})
	_, err := r.Resolve(t.Context(), []resolver.StoreRef{{Store: "s", Ref: resolver.Ref{ID: "j", Key: "password"}}})
	require.ErrorIs(t, err, resolver.ErrBadRef)
	assert.Contains(t, err.Error(), "surrogate")
	vals, err := r.Resolve(t.Context(), []resolver.StoreRef{{Store: "s", Ref: resolver.Ref{ID: "ok", Key: "password"}}})
	require.NoError(t, err)
	assert.Equal(t, "😀", vals[resolver.StoreRef{Store: "s", Ref: resolver.Ref{ID: "ok", Key: "password"}}].Value())
}
