package db_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/resolver"
	"omsecrets/resolver/db"
	"omsecrets/resolver/resolvertest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	resolvertest.Run(t, db.New(), []resolvertest.Case{
		{Name: "path id", ID: "/openmetadata/database/mysql_prod/authtype/password", Want: "/openmetadata/database/mysql_prod/authtype/password"},
		{Name: "plain value", ID: "s3cr3t-Passw0rd!", Want: "s3cr3t-Passw0rd!"},
		{Name: "unicode", ID: "mot-de-passe-été", Want: "mot-de-passe-été"},
		{Name: "json", ID: `{"user":"u","password":"p"}`, Want: `{"user":"u","password":"p"}`},
		{Name: "null literal", ID: "null", WantNull: true},
		{Name: "empty id", ID: "", WantErr: resolver.ErrBadRef},
	})
}

// TestResolveThroughResolver checks the store behind a Resolver, as the
// sidecar uses it: the id is the value, "null" is null and #key applies.
func TestResolveThroughResolver(t *testing.T) {
	t.Parallel()
	r := resolver.New(resolver.Options{Stores: map[string]resolver.Getter{"db": db.New()}})
	refs := map[string]resolver.StoreRef{}
	for _, s := range []string{"secret:hunter2", "secret:null", `secret:{"password":"p4ss"}#password`} {
		ref, err := resolver.ParseRef(s)
		require.NoError(t, err, s)
		refs[s] = resolver.StoreRef{Store: "db", Ref: ref}
	}
	got, err := r.Resolve(t.Context(), []resolver.StoreRef{refs["secret:hunter2"], refs["secret:null"], refs[`secret:{"password":"p4ss"}#password`]})
	require.NoError(t, err)
	assert.Equal(t, "hunter2", got[refs["secret:hunter2"]].Value())
	assert.True(t, got[refs["secret:null"]].IsNull())
	assert.Equal(t, "p4ss", got[refs[`secret:{"password":"p4ss"}#password`]].Value())
}

func TestZeroStore(t *testing.T) {
	t.Parallel()
	var s db.Store
	v, err := s.Get(t.Context(), "x")
	require.NoError(t, err)
	assert.Equal(t, "x", v.Value())
}
