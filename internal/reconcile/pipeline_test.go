package reconcile_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/omclient"
	"omsecrets/internal/reconcile"
	"omsecrets/internal/workflow"
	"omsecrets/resolver"
	"omsecrets/resolver/resolvertest"
)

// services is a Services that answers from a map and counts its calls:
// the reconciler's side of the interface omclient.Pool satisfies.
type services struct {
	mu     sync.Mutex
	calls  int
	tokens []string
	svcs   map[string]*omclient.Service // by service name
	err    error
}

func (s *services) Service(_ context.Context, _ *workflow.Server, token string, ref workflow.ServiceRef) (*omclient.Service, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	s.tokens = append(s.tokens, token)
	if s.err != nil {
		return nil, s.err
	}
	svc, ok := s.svcs[ref.Name]
	if !ok {
		return nil, fmt.Errorf("%w: %s", omclient.ErrNotFound, ref.Name)
	}
	return svc, nil
}

func mysqlService(password string) *omclient.Service {
	return &omclient.Service{Service: workflow.Service{
		EntityType: "databaseService", ID: "891b373d-a253-4639-ad54-fc17491a7d5d", Name: "mysql_prod", FQN: "mysql_prod",
		ServiceType: "Mysql",
		Connection:  json.RawMessage(fmt.Sprintf(`{"config":{"type":"Mysql","username":"u","hostPort":"db:3306","authType":{"password":%q}}}`, password)),
	}}
}

func pipelineJSON(name, service string) string {
	return fmt.Sprintf(`{"id":"9e555cea-6a5a-4fe5-a9ad-4ff65efc8289","name":%q,"pipelineType":"metadata",
"fullyQualifiedName":"%s.%s","sourceConfig":{"config":{"type":"DatabaseMetadata"}},
"openMetadataServerConnection":{"clusterName":"openmetadata","type":"OpenMetadata","hostPort":"http://om:8585/api",
"authProvider":"openmetadata","securityConfig":{"jwtToken":"secret:/openmetadata/bot/ingestion-bot/config/jwttoken"},"secretsManagerProvider":"aws"},
"airflowConfig":{},"service":{"id":"891b373d-a253-4639-ad54-fc17491a7d5d","type":"databaseService","name":%q,"fullyQualifiedName":%q},
"loggerLevel":"INFO","deployed":true,"enabled":true}`, name, service, name, service, service)
}

// TestReconcilePipelinesShareOneFetch: two pipelines of one service, with
// one bot, cost one OpenMetadata fetch and one store plan; the JWT
// reference is resolved before the fetch and sent as the token.
func TestReconcilePipelinesShareOneFetch(t *testing.T) {
	t.Parallel()
	store := resolvertest.NewBatchFake(map[string]string{"/openmetadata/bot/ingestion-bot/config/jwttoken": "planted-jwt", "/db/pw": "planted-pw"}, 20)
	om := &services{svcs: map[string]*omclient.Service{"mysql_prod": mysqlService("secret:/db/pw")}}
	r := newReconciler(map[string]resolver.Getter{"aws": store}, reconcile.Options{Services: om})
	a := parse(t, "a.json", pipelineJSON("a_metadata", "mysql_prod"))
	b := parse(t, "b.json", pipelineJSON("b_metadata", "mysql_prod"))
	results := r.Reconcile(context.Background(), []reconcile.Job{a, b})
	for _, res := range results {
		require.NoError(t, res.Err)
		assert.Equal(t, "ok", res.Class())
		assert.Contains(t, string(res.Output), `"password": "planted-pw"`)
		assert.Len(t, res.Digest, 64)
		assert.Equal(t, workflow.KindIngestionPipeline, res.Def.Kind)
	}
	assert.Equal(t, "a_metadata", results[0].Name())
	assert.Equal(t, 1, om.calls, "one fetch for one service and one token")
	assert.Equal(t, []string{"planted-jwt"}, om.tokens)
	assert.Equal(t, 2, store.Batches(), "one call for the JWT stage, one for the references")
}

// TestReconcileTypedOutcomes: failures carry their class and whether to
// retry soon, derived from the errors, not from strings.
func TestReconcileTypedOutcomes(t *testing.T) {
	t.Parallel()
	store := resolvertest.NewFake(map[string]string{"/openmetadata/bot/ingestion-bot/config/jwttoken": "jwt"})
	tests := []struct {
		name      string
		om        reconcile.Services
		class     string
		transient bool
	}{
		{"gone", &services{svcs: map[string]*omclient.Service{}}, reconcile.ClassGone, false},
		{"unavailable", &services{err: fmt.Errorf("%w: 503", omclient.ErrUnavailable)}, reconcile.ClassOMDown, true},
		{"deadline", &services{err: context.DeadlineExceeded}, reconcile.ClassOMDown, true},
		{"forbidden", &services{err: omclient.ErrForbidden}, reconcile.ClassForbidden, false},
		{"no client", nil, reconcile.ClassOM, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newReconciler(map[string]resolver.Getter{"aws": store}, reconcile.Options{Services: tt.om})
			res := r.Reconcile(context.Background(), []reconcile.Job{parse(t, "p.json", pipelineJSON("p", "mysql_prod"))})[0]
			require.Error(t, res.Err)
			assert.Equal(t, tt.class, res.Class())
			assert.Equal(t, tt.transient, res.Transient())
			assert.Nil(t, res.Output)
		})
	}
}

// TestReconcileMissingStoreAndGoneFile: a store the caller could not build
// fails with its reason; a file that is gone is reported, not failed.
func TestReconcileMissingStoreAndGoneFile(t *testing.T) {
	t.Parallel()
	r := newReconciler(nil, reconcile.Options{Missing: map[string]error{"aws": errors.New("the aws store is not configured (set the region)")}})
	job := parse(t, "a.yaml", config("secret:/x", "jwt", "aws"))
	results := r.Reconcile(context.Background(), []reconcile.Job{job, {Path: job.Path + ".gone"}})
	require.Error(t, results[0].Err)
	assert.Equal(t, "unknown_store", results[0].Class())
	assert.ErrorIs(t, results[0].Err, reconcile.ErrNoStore)
	assert.Contains(t, results[0].Err.Error(), `no store for provider "aws": the aws store is not configured (set the region)`)
	assert.True(t, results[1].Gone)
	assert.NoError(t, results[1].Err)
}

// TestReconcileHintsAreTheCallers: the reconciler names no flag; the
// caller's hint is added to its sentinel errors.
func TestReconcileHintsAreTheCallers(t *testing.T) {
	t.Parallel()
	om := &services{svcs: map[string]*omclient.Service{"mysql_prod": {Service: workflow.Service{
		EntityType: "databaseService", ID: "891b373d-a253-4639-ad54-fc17491a7d5d", Name: "mysql_prod", FQN: "mysql_prod", ServiceType: "Mysql",
	}}}}
	store := resolvertest.NewFake(map[string]string{"/openmetadata/bot/ingestion-bot/config/jwttoken": "jwt"})
	r := newReconciler(map[string]resolver.Getter{"aws": store}, reconcile.Options{
		Services: om, Layout: reconcile.LayoutReferences,
		Hints: map[error]string{reconcile.ErrHiddenConnection: "set THE-HINT"},
	})
	res := r.Reconcile(context.Background(), []reconcile.Job{parse(t, "p.json", pipelineJSON("p", "mysql_prod"))})[0]
	assert.Equal(t, reconcile.ClassHidden, res.Class())
	assert.ErrorIs(t, res.Err, reconcile.ErrHiddenConnection)
	assert.Contains(t, res.Err.Error(), "(set THE-HINT)")
	assert.NotContains(t, res.Err.Error(), "OMSECRETS_")
}
