package plan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/reconcile"
	"omsecrets/internal/status"
	"omsecrets/resolver"
	"omsecrets/resolver/awssm"
	"omsecrets/resolver/awsssm"
	"omsecrets/resolver/azurekv"
	"omsecrets/resolver/db"
	"omsecrets/resolver/envvar"
	"omsecrets/resolver/gcpsm"
	"omsecrets/resolver/k8s"
	"omsecrets/resolver/vault"
)

// specs are real store specs: their names and batch sizes are what the
// model reads.
var specs = []resolver.Spec{db.Spec, envvar.Spec, awssm.Spec, awsssm.Spec, azurekv.Spec, gcpsm.Spec, k8s.Spec, vault.Spec}

// wantHalfQuotaInterval is the refresh interval that brings calls per
// interval to half of perSecond, rounded up to a whole second, or minute
// above one: the formula the plan states.
func wantHalfQuotaInterval(calls, perSecond float64) time.Duration {
	secs := calls / (perSecond / 2)
	if secs <= 60 {
		return time.Duration(math.Ceil(secs)) * time.Second
	}
	return time.Duration(math.Ceil(secs/60)) * time.Minute
}

func storeOf(t *testing.T, p Plan, store string) Store {
	t.Helper()
	for _, s := range p.Stores {
		if s.Store == store {
			return s
		}
	}
	require.Failf(t, "no store in the plan", "%s: %+v", store, p.Stores)
	return Store{}
}

func counted(ids IDs) Counted { return Counted{IDs: ids, Source: SourceDefinitions} }

// TestPlanArithmetic checks the model on its own: rounding of the
// suggested interval, the ListSecrets prefix rule, local stores.
func TestPlanArithmetic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		calls, perSec float64
		want          time.Duration
	}{
		{name: "seconds", calls: 449, perSec: 20, want: 45 * time.Second},
		{name: "a minute exactly", calls: 600, perSec: 20, want: time.Minute},
		{name: "minutes round up", calls: 10000, perSec: 40, want: 9 * time.Minute},
		{name: "hours", calls: 100000, perSec: 40, want: 84 * time.Minute},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, halfQuotaInterval(tt.calls, tt.perSec), tt.name)
		assert.Equal(t, wantHalfQuotaInterval(tt.calls, tt.perSec), halfQuotaInterval(tt.calls, tt.perSec), tt.name)
	}
	assert.Equal(t, "1h24m", shortDuration(84*time.Minute))
	assert.Equal(t, "1h", shortDuration(time.Hour))
	assert.Equal(t, "45s", shortDuration(45*time.Second))

	ids := IDs{}
	for i := range 250 {
		ids.Add("aws", fmt.Sprintf("/openmetadata/x/%d", i))
	}
	ids.Add("env", "A")
	p := Make(counted(ids), specs, Fleet{Pods: 3, Interval: time.Minute})
	aws := storeOf(t, p, "aws")
	assert.Equal(t, 13, aws.CallsPerPass)
	assert.Equal(t, 3, aws.CallsPerRefresh)
	assert.InDelta(t, 3.0*13/60, aws.FleetCallsPerSecond, 0.001)
	assert.True(t, storeOf(t, p, "env").Local)

	ids.Add("aws", "other-secret")
	aws = storeOf(t, Make(counted(ids), specs, Fleet{Pods: 3, Interval: time.Minute}), "aws")
	assert.Equal(t, aws.CallsPerPass, aws.CallsPerRefresh, "no shared prefix: a full read")
	assert.Equal(t, "BatchGetSecretValue", aws.RefreshOperation)

	ssmIDs := IDs{}
	ssmIDs.Add("aws-ssm", "/a/1")
	ssmIDs.Add("aws-ssm", "/b/1")
	ssm := storeOf(t, Make(counted(ssmIDs), specs, Fleet{Pods: 1, Interval: time.Minute}), "aws-ssm")
	assert.Equal(t, "GetParameters", ssm.RefreshOperation, "no shared prefix: a full read")

	for _, spec := range []resolver.Spec{awssm.Spec, awsssm.Spec, azurekv.Spec, gcpsm.Spec} {
		per, ok := PublishedQuota(spec)
		assert.True(t, ok && per > 0, spec.Name)
	}
	for _, spec := range []resolver.Spec{k8s.Spec, vault.Spec, db.Spec, envvar.Spec} {
		_, ok := PublishedQuota(spec)
		assert.False(t, ok, spec.Name)
	}
	per, ok := ListQuota(awssm.Spec)
	assert.True(t, ok && per == 100)
	_, ok = ListQuota(awsssm.Spec)
	assert.False(t, ok, "DescribeParameters has no published rate")
}

// TestPlanRefreshModel: the calls a refresh of n ids takes with each
// store's change detection, against its full read.
func TestPlanRefreshModel(t *testing.T) {
	t.Parallel()
	ids := func(n int, format string) map[string]bool {
		m := make(map[string]bool)
		for i := range n {
			m[fmt.Sprintf(format, i)] = true
		}
		return m
	}
	shared := ids(272, "/openmetadata/database/s%03d/password")
	for _, tc := range []struct {
		store string
		ids   map[string]bool
		full  int
		op    string
		calls int
	}{
		{"aws", shared, 14, "ListSecrets", 3},
		{"aws-ssm", shared, 28, "DescribeParameters", 6},
		{"azure-kv", ids(272, "s%03d"), 272, "GetSecrets", 11},
		{"kubernetes", ids(137, "s%03d"), 137, "watch", 0},
		{"vault", shared, 272, "read", 272},
		{"gcp", shared, 272, "read", 272},
		{"aws", ids(3, "%d-no-shared-prefix"), 1, "BatchGetSecretValue", 1},
		{"aws-ssm", ids(3, "/%d/no-shared-prefix"), 1, "read", 1},
	} {
		i := slices.IndexFunc(specs, func(s resolver.Spec) bool { return s.Name == tc.store })
		require.GreaterOrEqual(t, i, 0, tc.store)
		op, calls, why := refreshModel(specs[i].Costs.Refresh, tc.ids, tc.full, map[bool]string{true: "BatchGetSecretValue", false: "read"}[tc.store == "aws"])
		assert.Equal(t, tc.op, op, tc.store)
		assert.Equal(t, tc.calls, calls, "%s: %s", tc.store, why)
		assert.NotEmpty(t, why)
	}
}

// TestStoreCostsAreComplete: every remote store's costs (its Spec's) name a fetch
// operation and a source; a listing with a page size has a note; the
// list quota, if any, is the refresh's operation.
func TestStoreCostsAreComplete(t *testing.T) {
	t.Parallel()
	for _, spec := range specs {
		c, name := spec.Costs, spec.Name
		if c == nil {
			continue // local
		}
		assert.NotEmpty(t, c.Fetch.Operation, name)
		assert.NotEmpty(t, c.Fetch.Published, name)
		assert.True(t, strings.HasPrefix(c.Fetch.Source, "https://"), name)
		if c.Refresh.Operation != "" {
			assert.NotEmpty(t, c.Refresh.Note, name)
			assert.GreaterOrEqual(t, c.Refresh.PerPage, 0, name)
		}
		if c.List != nil {
			assert.Equal(t, c.Refresh.Operation, c.List.Operation, name)
		}
	}
}

// TestNotCountedIsNamed: a plan whose definitions all failed says which
// and why, one line each, and never "no secret references"; a plan with
// some counted lists the others after the table. Names that are not
// printable are quoted.
func TestNotCountedIsNamed(t *testing.T) {
	t.Parallel()
	de := &reconcile.DefinitionError{Path: "defs/a.yaml", Failures: []reconcile.Failure{
		{Field: "workflowConfig.openMetadataServerConfig.secretsManagerProvider", Err: fmt.Errorf("%w: bad", resolver.ErrUnknownStore)},
		{Field: "source.x", Err: errors.New("second")},
	}}
	results := []*reconcile.Result{
		{Path: "defs/a.yaml", Err: de},
		{Path: "defs/\x1b[31mb\n.json", Err: reconcile.Failf(reconcile.ClassInvalid, "%s: read: not a regular file (a FIFO)", "defs/\x1b[31mb\n.json")},
	}
	c := FromResults(results, func(string) bool { return false })
	require.Len(t, c.NotCounted, 2)
	assert.Equal(t, "workflowConfig.openMetadataServerConfig.secretsManagerProvider", c.NotCounted[0].Field)
	assert.Equal(t, "unknown_store", c.NotCounted[0].Class)
	assert.Equal(t, 2, c.NotCounted[0].Problems)
	assert.Equal(t, "invalid", c.NotCounted[1].Class)

	var b bytes.Buffer
	require.NoError(t, Make(c, specs, Fleet{Pods: 1, Interval: time.Minute}).WriteTable(&b))
	out := b.String()
	assert.NotContains(t, out, "no secret references")
	assert.Contains(t, out, "nothing counted: 2 definition(s) could not be counted")
	assert.Contains(t, out, "  defs/a.yaml: workflowConfig.openMetadataServerConfig.secretsManagerProvider: unknown_store: ")
	assert.Contains(t, out, "(and 1 more problem(s))")
	assert.Contains(t, out, `  "defs/\x1b[31mb\n.json": invalid: read: not a regular file (a FIFO)`)
	assert.NotContains(t, out, "\x1b", "no terminal escape reaches the report")
	assert.Equal(t, 4, strings.Count(out, "\n"), "a header, the line saying so and one line per definition:\n%s", out)

	// Some counted: the table, then the others.
	c.IDs.Add("aws", "/openmetadata/x")
	b.Reset()
	p := Make(c, specs, Fleet{Pods: 1, Interval: time.Minute})
	require.NoError(t, p.WriteTable(&b))
	assert.Regexp(t, `(?m)^aws\s+1\s+1 BatchGetSecretValue`, b.String())
	assert.Contains(t, b.String(), "2 definition(s) not counted: the numbers above leave their references out\n  defs/a.yaml: ")
	doc, err := json.Marshal(p)
	require.NoError(t, err)
	assert.Contains(t, string(doc), `"notCounted":[{"definition":"defs/a.yaml","field":"workflowConfig.openMetadataServerConfig.secretsManagerProvider","class":"unknown_store"`)

	// Nothing failed and nothing named: no secret references.
	b.Reset()
	require.NoError(t, Make(counted(IDs{}), specs, Fleet{Pods: 1, Interval: time.Minute}).WriteTable(&b))
	assert.Contains(t, b.String(), "no secret references")
	doc, err = json.Marshal(Make(counted(IDs{}), specs, Fleet{Pods: 1, Interval: time.Minute}))
	require.NoError(t, err)
	assert.Contains(t, string(doc), `"notCounted":[]`, "a stable field, empty")
}

// TestFromSnapshot: /status references count per store, #keys of one
// secret once, redacted ids once per reference; unknown stores, more
// than a store and its fallback, and non-references are skipped.
func TestFromSnapshot(t *testing.T) {
	t.Parallel()
	snap := status.Snapshot{Definitions: []status.Definition{
		{Path: "/d/a.json", Refs: []status.Ref{
			{Field: "a", Ref: "secret:airflow/mysql#username", Store: "kubernetes"},
			{Field: "b", Ref: "secret:airflow/mysql#password", Store: "kubernetes"},
			{Field: "c", Ref: "secret:[redacted]", Store: "db"},
			{Field: "d", Ref: "secret:[redacted]", Store: "db"},
			{Field: "e", Ref: "secret:/x", Store: "aws|aws-ssm"},
			{Field: "f", Ref: "secret:/x", Store: "consul"},
			{Field: "g", Ref: "secret:/x", Store: "aws|aws-ssm|db"},
			{Field: "h", Ref: "not a reference", Store: "aws"},
		}},
	}}
	c := fromSnapshot(snap, specs)
	assert.Equal(t, SourceStatus, c.Source)
	assert.Equal(t, 1, c.Definitions)
	assert.Equal(t, 3, c.SkippedRefs)
	assert.Len(t, c.IDs["kubernetes"], 1)
	assert.Len(t, c.IDs["db"], 2)
	assert.Len(t, c.IDs["aws"], 1)
	assert.Len(t, c.IDs["aws-ssm"], 1)
	p := Make(c, specs, Fleet{Pods: 1, Interval: time.Minute})
	assert.Contains(t, p.Assumptions, statusAssumption)
}
