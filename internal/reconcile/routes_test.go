package reconcile_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/reconcile"
	"omsecrets/resolver"
	"omsecrets/resolver/resolvertest"
)

var routeStores = []string{"aws", "aws-ssm", "db", "env"}

func routes(t *testing.T, s string) []reconcile.Route {
	t.Helper()
	rs, err := reconcile.ParseRoutes(s, routeStores, func(st string) bool { return st == "db" })
	require.NoError(t, err)
	return rs
}

// workflowRefs is a workflow config whose source config holds refs.
func workflowRefs(provider string, refs ...string) string {
	var b strings.Builder
	b.WriteString(config("secret:"+refs[0], "jwt", provider))
	b.WriteString("extra:\n")
	for i, r := range refs[1:] {
		fmt.Fprintf(&b, "  r%d: %q\n", i, "secret:"+r)
	}
	return b.String()
}

// TestRoutesOnePlanAcrossStores: references spanning three stores
// resolve in one pass, each store getting its fewest calls (one batch for
// the batching store, one get per id for the other, two keys of one id
// costing one), and each reference says where it went.
func TestRoutesOnePlanAcrossStores(t *testing.T) {
	t.Parallel()
	awsStore := resolvertest.NewBatchFake(map[string]string{"/openmetadata/a": "planted-a", "/openmetadata/b": "planted-b", "/openmetadata/c": "planted-c"}, 20)
	envStore := resolvertest.NewFake(map[string]string{"/platform/dbt": `{"key":"planted-k","secret":"planted-s"}`, "/platform/other": "planted-o"})
	r := newReconciler(map[string]resolver.Getter{"aws": awsStore, "env": envStore},
		reconcile.Options{Routes: routes(t, "/platform/=env")})
	job := parse(t, "w.yaml", workflowRefs("aws", "/openmetadata/a", "/openmetadata/b", "/openmetadata/c", "/platform/dbt#key", "/platform/dbt#secret", "/platform/other"))
	res := r.Reconcile(context.Background(), []reconcile.Job{job})[0]
	require.NoError(t, res.Err)
	for _, v := range []string{"planted-a", "planted-b", "planted-c", "planted-k", "planted-s", "planted-o"} {
		assert.Contains(t, string(res.Output), v)
	}
	assert.Equal(t, 1, awsStore.Batches(), "one batch call for three ids")
	assert.Equal(t, 2, envStore.Gets(), "two ids, two keys of one of them: two gets")
	for _, o := range res.Refs {
		want := "aws"
		if strings.HasPrefix(o.Ref.ID, "/platform/") {
			want = "env"
		}
		assert.Equal(t, want, res.StoreOf(o.Ref), o.Ref.ID)
	}
	assert.Contains(t, res.Uses, reconcile.SecretID{Store: "env", ID: "/platform/dbt"})
}

// TestRoutesFallbackForMigrations: ids the new store does not have yet are
// read from the old one; ids it has never reach the old one.
func TestRoutesFallbackForMigrations(t *testing.T) {
	t.Parallel()
	newStore := resolvertest.NewFake(map[string]string{"/openmetadata/moved": "planted-new"})
	oldStore := resolvertest.NewFake(map[string]string{"/openmetadata/moved": "planted-stale", "/openmetadata/not-yet": "planted-old"})
	r := newReconciler(map[string]resolver.Getter{"aws": newStore, "aws-ssm": oldStore},
		reconcile.Options{Routes: routes(t, "/openmetadata/=aws|aws-ssm")})
	job := parse(t, "w.yaml", workflowRefs("aws", "/openmetadata/moved", "/openmetadata/not-yet", "/openmetadata/nowhere"))
	res := r.Reconcile(context.Background(), []reconcile.Job{job})[0]
	require.Error(t, res.Err, "an id in neither store fails the definition")
	assert.Equal(t, "not_found", res.Class())
	assert.Contains(t, res.Err.Error(), "secret:/openmetadata/nowhere (store aws|aws-ssm)")
	assert.ElementsMatch(t, []string{"/openmetadata/not-yet", "/openmetadata/nowhere"}, oldStore.Requested(), "the old store is asked only for what the new one lacks")

	job = parse(t, "w2.yaml", workflowRefs("aws", "/openmetadata/moved", "/openmetadata/not-yet"))
	res = r.Reconcile(context.Background(), []reconcile.Job{job})[0]
	require.NoError(t, res.Err)
	assert.Contains(t, string(res.Output), "planted-new")
	assert.NotContains(t, string(res.Output), "planted-stale")
	assert.Contains(t, string(res.Output), "planted-old")
}

// TestRoutesStoreDown: a route to a store that is down fails only the
// references routed there; that definition fails closed, the others go
// on.
func TestRoutesStoreDown(t *testing.T) {
	t.Parallel()
	awsStore := resolvertest.NewFake(map[string]string{"/openmetadata/a": "planted-a"})
	down := &resolvertest.Fake{Errs: map[string]error{"/platform/x": fmt.Errorf("%w: outage", resolver.ErrUnavailable)}}
	r := newReconciler(map[string]resolver.Getter{"aws": awsStore, "env": down},
		reconcile.Options{Routes: routes(t, "/platform/=env"), Resolver: resolver.New(resolver.Options{
			Stores: map[string]resolver.Getter{"aws": awsStore, "env": down},
			Retry:  resolver.RetryPolicy{MaxAttempts: 1},
		})})
	mixed := parse(t, "mixed.yaml", workflowRefs("aws", "/openmetadata/a", "/platform/x"))
	plain := parse(t, "plain.yaml", workflowRefs("aws", "/openmetadata/a"))
	results := r.Reconcile(context.Background(), []reconcile.Job{mixed, plain})
	require.Error(t, results[0].Err)
	assert.Nil(t, results[0].Output)
	assert.Equal(t, "unavailable", results[0].Class())
	assert.Contains(t, results[0].Err.Error(), "secret:/platform/x (store env)")
	var a resolver.Ref
	for _, o := range results[0].Refs {
		if o.Ref.ID == "/openmetadata/a" {
			a = o.Ref
		}
	}
	assert.NoError(t, results[0].Outcomes[a], "the reference routed elsewhere resolved")
	require.NoError(t, results[1].Err)
	assert.True(t, results[0].Transient())
}

func TestParseRoutes(t *testing.T) {
	t.Parallel()
	rs := routes(t, " /a/=aws , /a/b/=env|aws-ssm,/=aws-ssm ")
	require.Len(t, rs, 3)
	assert.Equal(t, reconcile.Route{Prefix: "/a/b/", Store: "env", Fallback: "aws-ssm"}, rs[0], "longest prefix first")
	assert.Equal(t, "/", rs[2].Prefix)
	for bad, want := range map[string]string{
		"/a/=vault":       `unknown store "vault"`,
		"/a/=aws|nosuch":  `unknown store "nosuch"`,
		"/a/=aws,/a/=env": "routed twice",
		"/a/":             "want prefix=store",
		"=aws":            "want prefix=store",
		"/a/=":            "want prefix=store",
		"/a/=aws|aws":     "the fallback is the store itself",
		"/a/=db":          "ids are the values themselves",
		"/a\x01/=aws":     "control character",
		"/a/=aws|":        `unknown store ""`,
	} {
		_, err := reconcile.ParseRoutes(bad, routeStores, func(st string) bool { return st == "db" })
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), want, bad)
	}
	none, err := reconcile.ParseRoutes("", routeStores, nil)
	require.NoError(t, err)
	assert.Empty(t, none)
}
