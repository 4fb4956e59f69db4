package reconcile_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/reconcile"
	"omsecrets/internal/render"
	"omsecrets/internal/testbed/schematest"
	"omsecrets/resolver"
	"omsecrets/resolver/resolvertest"
)

// config returns a valid mysql workflow config whose password and bot JWT
// are the given strings.
func config(password, jwt, provider string) string {
	p := ""
	if provider != "" {
		p = "\n    secretsManagerProvider: " + provider
	}
	return fmt.Sprintf(`source:
  type: mysql
  serviceName: mysql_prod
  serviceConnection:
    config:
      type: Mysql
      username: reader
      authType:
        password: %q
      hostPort: db:3306
  sourceConfig:
    config:
      type: DatabaseMetadata
sink:
  type: metadata-rest
  config: {}
workflowConfig:
  openMetadataServerConfig:
    hostPort: http://om:8585/api
    authProvider: openmetadata
    securityConfig:
      jwtToken: %q%s
`, password, jwt, p)
}

// parse writes a definition file named name into a new directory and
// returns its job.
func parse(t *testing.T, name, src string) reconcile.Job {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(src), 0o600))
	return reconcile.Job{Path: path}
}

// testProviders is a provider table shaped like the real one.
var testProviders = reconcile.NewProviders([]resolver.Spec{
	{Name: "db", Providers: []string{"db", "noop"}},
	{Name: "env", Providers: []string{"env"}},
	{Name: "aws", Providers: []string{"aws", "managed-aws"}},
	{Name: "aws-ssm", Providers: []string{"aws-ssm", "managed-aws-ssm"}},
})

func newReconciler(stores map[string]resolver.Getter, opts reconcile.Options) *reconcile.Reconciler {
	if opts.Resolver == nil {
		opts.Resolver = resolver.New(resolver.Options{Stores: stores})
	}
	opts.Providers = testProviders
	r, err := reconcile.New(opts)
	if err != nil {
		panic(err)
	}
	return r
}

func TestReconcileSharesFetchesAcrossDefinitions(t *testing.T) {
	t.Parallel()
	values := map[string]string{"/openmetadata/bot/ingestion-bot/config/jwttoken": "planted-jwt-1"}
	var defs []reconcile.Job
	for i := range 30 {
		id := fmt.Sprintf("/db/%d/password", i%5) // 5 credentials shared by 30 pipelines
		values[id] = fmt.Sprintf("planted-pw-%d", i%5)
		defs = append(defs, parse(t, fmt.Sprintf("p%d.yaml", i), config("secret:"+id, "secret:/openmetadata/bot/ingestion-bot/config/jwttoken", "aws-ssm")))
	}
	store := resolvertest.NewBatchFake(values, 10)
	r := newReconciler(map[string]resolver.Getter{"aws-ssm": store}, reconcile.Options{})
	results := r.Reconcile(context.Background(), defs)

	require.Len(t, results, 30)
	for i, res := range results {
		require.NoError(t, res.Err)
		assert.Equal(t, "aws-ssm", res.Provider)
		assert.Contains(t, string(res.Output), fmt.Sprintf(`"password": "planted-pw-%d"`, i%5))
		assert.Contains(t, string(res.Output), `"jwtToken": "planted-jwt-1"`)
		assert.Contains(t, string(res.Output), `"secretsManagerProvider": "db"`)
		assert.NotContains(t, string(res.Output), "secret:")
	}
	// 6 unique ids, batches of 10: one call in all.
	assert.Equal(t, 1, store.Batches())
	assert.Equal(t, 0, store.Gets())
	assert.Len(t, store.Requested(), 6)
	schematest.RequireValid(t, "reconciled mysql config", results[0].Output)
}

func TestReconcileFailsClosedPerDefinition(t *testing.T) {
	t.Parallel()
	store := resolvertest.NewFake(map[string]string{"/ok": "planted-ok", "/bot": "planted-bot"})
	store.Errs = map[string]error{"/denied": resolver.ErrPermission}
	good := parse(t, "good.yaml", config("secret:/ok", "secret:/bot", ""))
	bad := parse(t, "bad.yaml", config("secret:/missing", "secret:/denied", ""))
	r := newReconciler(map[string]resolver.Getter{"db": store}, reconcile.Options{Provider: "db"})

	results := r.Reconcile(context.Background(), []reconcile.Job{good, bad})
	require.NoError(t, results[0].Err)
	assert.NotEmpty(t, results[0].Output)

	require.Error(t, results[1].Err)
	assert.Nil(t, results[1].Output, "no output for a definition with any failure")
	msg := results[1].Err.Error()
	assert.True(t, strings.HasPrefix(msg, bad.Path+": 2 problems: "), msg)
	assert.Contains(t, msg, "source.serviceConnection.config.authType.password: secret:/missing (store db): not_found")
	assert.Contains(t, msg, "workflowConfig.openMetadataServerConfig.securityConfig.jwtToken: secret:/denied (store db): permission")
	assert.NotContains(t, msg, "\n")
	assert.NotContains(t, msg, "planted")
	assert.ErrorIs(t, results[1].Err, resolver.ErrNotFound)
	assert.ErrorIs(t, results[1].Err, resolver.ErrPermission)
	assert.ErrorIs(t, results[1].Outcomes[resolver.Ref{ID: "/missing"}], resolver.ErrNotFound)
	okErr, recorded := results[0].Outcomes[resolver.Ref{ID: "/ok"}]
	assert.True(t, recorded, "a resolved reference has an outcome")
	assert.NoError(t, okErr)
}

func TestReconcileProviders(t *testing.T) {
	t.Parallel()
	stores := map[string]resolver.Getter{
		"db":  resolvertest.NewFake(map[string]string{"/x": "from-db"}),
		"aws": resolvertest.NewFake(map[string]string{"/x": "from-aws"}),
	}
	tests := []struct {
		name, override, docProvider string
		want, wantErr               string
	}{
		{name: "document provider", docProvider: "managed-aws", want: "from-aws"},
		{name: "override wins", override: "db", docProvider: "aws", want: "from-db"},
		{name: "no provider anywhere means db", want: "from-db"},
		{name: "noop is the old db", docProvider: "noop", want: "from-db"},
		{name: "unknown provider names the field", docProvider: "vault", wantErr: "workflowConfig.openMetadataServerConfig.secretsManagerProvider: unknown_store"},
		{name: "provider without a store", docProvider: "gcp", wantErr: `no store for provider "gcp"`},
		{name: "in-memory is refused", docProvider: "in-memory", wantErr: `unknown secrets manager provider "in-memory"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newReconciler(stores, reconcile.Options{Provider: tt.override})
			res := r.Reconcile(context.Background(), []reconcile.Job{parse(t, "a.yaml", config("secret:/x", "plain-jwt", tt.docProvider))})[0]
			if tt.wantErr != "" {
				require.Error(t, res.Err)
				assert.Contains(t, res.Err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, res.Err)
			assert.Contains(t, string(res.Output), `"password": "`+tt.want+`"`)
		})
	}
}

func TestReconcileRefusesMaskedDocument(t *testing.T) {
	t.Parallel()
	r := newReconciler(map[string]resolver.Getter{"db": resolvertest.NewFake(nil)}, reconcile.Options{})
	res := r.Reconcile(context.Background(), []reconcile.Job{parse(t, "m.yaml", config(resolver.Mask, "jwt", "db"))})[0]
	require.Error(t, res.Err)
	assert.ErrorIs(t, res.Err, resolver.ErrMasked)
	assert.Contains(t, res.Err.Error(), "source.serviceConnection.config.authType.password: masked")
	assert.Contains(t, res.Err.Error(), "not a bot's")
}

func TestReconcileRedactAndYAML(t *testing.T) {
	t.Parallel()
	store := resolvertest.NewFake(map[string]string{"/x": "planted-value"})
	r := newReconciler(map[string]resolver.Getter{"db": store}, reconcile.Options{Redact: true, Format: render.YAML})
	res := r.Reconcile(context.Background(), []reconcile.Job{parse(t, "a.yaml", config("secret:/x", "jwt", ""))})[0]
	require.NoError(t, res.Err)
	out := string(res.Output)
	assert.Contains(t, out, `password: "[redacted]"`)
	assert.NotContains(t, out, "planted-value")
	assert.Equal(t, 1, store.Gets(), "redaction still resolves, so it still fails closed")
}

func TestReconcileNoStoreCallsWhenPlanFails(t *testing.T) {
	t.Parallel()
	store := resolvertest.NewFake(map[string]string{"/x": "v"})
	r := newReconciler(map[string]resolver.Getter{"db": store}, reconcile.Options{})
	res := r.Reconcile(context.Background(), []reconcile.Job{parse(t, "a.yaml", config("secret:/x", "secret:", ""))})[0]
	require.Error(t, res.Err)
	assert.ErrorIs(t, res.Err, resolver.ErrBadRef)
	assert.Equal(t, 0, store.Gets(), "a definition with a malformed reference costs no store call")
}

func TestRefreshFetchesAgainWhereReconcileUsesTheCache(t *testing.T) {
	t.Parallel()
	values := map[string]string{"/openmetadata/bot/ingestion-bot/config/jwttoken": "planted-jwt", "/db/pw": "planted-pw-1"}
	store := resolvertest.NewBatchFake(values, 10)
	r := newReconciler(nil, reconcile.Options{Resolver: resolver.New(resolver.Options{
		Stores: map[string]resolver.Getter{"aws": store}, CacheTTL: time.Hour,
	})})
	job := parse(t, "p.yaml", config("secret:/db/pw", "secret:/openmetadata/bot/ingestion-bot/config/jwttoken", "aws"))
	defs := func() []reconcile.Job { return []reconcile.Job{job} }
	ctx := context.Background()
	res := r.Reconcile(ctx, defs())
	require.NoError(t, res[0].Err)
	require.Equal(t, 1, store.Batches())

	values["/db/pw"] = "planted-pw-2" // rotated
	res = r.Reconcile(ctx, defs())
	require.NoError(t, res[0].Err)
	assert.Equal(t, 1, store.Batches(), "served from the cache")
	assert.Contains(t, string(res[0].Output), "planted-pw-1")

	res = r.Reconcile(ctx, []reconcile.Job{{Path: job.Path, Fresh: true}})
	require.NoError(t, res[0].Err)
	assert.Equal(t, 2, store.Batches(), "refresh fetched")
	assert.Contains(t, string(res[0].Output), "planted-pw-2")
}
