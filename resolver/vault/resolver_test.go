package vault_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/resolver"
)

// TestThroughTheResolver checks the store with the resolver: "#field"
// selects a field, no key selects "value", and the fields of one path
// cost one read.
func TestThroughTheResolver(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.srv.Put("openmetadata/db", map[string]any{"value": "pw", "username": "admin", "port": 5432, "unset": "null"})
	r := resolver.New(resolver.Options{Stores: map[string]resolver.Getter{"vault": f.store}, CacheTTL: time.Hour})
	ref := func(s string) resolver.StoreRef {
		rf, err := resolver.ParseRef(s)
		require.NoError(t, err)
		return resolver.StoreRef{Store: "vault", Ref: rf}
	}
	refs := []resolver.StoreRef{
		ref("secret:/openmetadata/db"), ref("secret:/openmetadata/db#username"),
		ref("secret:/openmetadata/db#port"), ref("secret:/openmetadata/db#unset"),
	}
	out, err := r.Resolve(t.Context(), refs)
	require.NoError(t, err)
	assert.Equal(t, "pw", out[refs[0]].Value())
	assert.Equal(t, "admin", out[refs[1]].Value())
	assert.Equal(t, "5432", out[refs[2]].Value())
	assert.True(t, out[refs[3]].IsNull())
	assert.Equal(t, 1, f.srv.Calls("secret/data/openmetadata/db"))

	missing := ref("secret:/openmetadata/db#password")
	_, err = r.Resolve(t.Context(), []resolver.StoreRef{missing})
	require.ErrorIs(t, err, resolver.ErrNotFound)
	assert.Equal(t, 1, f.srv.Calls("secret/data/openmetadata/db"), "cached")
}
