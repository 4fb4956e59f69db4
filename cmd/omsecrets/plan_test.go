package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/plan"
	"omsecrets/internal/status"
	"omsecrets/internal/testbed/awstest"
	"omsecrets/internal/testbed/omtest"
)

// Inputs of the sizing example: 2,000 unique Parameter Store ids, a fleet
// of 50 pods refreshing every 5 minutes.
const (
	planSSMIDs    = 2000
	planPods      = 50
	planRefresh   = 5 * time.Minute
	planSSMBatch  = 10 // GetParameters
	planSSMQuota  = 40 // standard throughput, calls/s
	planSSMPage   = 50 // DescribeParameters
	planAWSPage   = 100
	planAWSQuota  = 100 // BatchGetSecretValue, calls/s
	planAWSBatch  = 20
	planAWSSecret = 2 // the pipeline's bot JWT and its service's password
)

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

// ssmDefinitions writes n/2 workflow configs with secretsManagerProvider
// aws-ssm, each naming two ids of its own, so n ids in all. The first
// also names its password again under two #keys: still one id.
func ssmDefinitions(t *testing.T, dir string, n int) []string {
	t.Helper()
	var paths []string
	for i := range n / 2 {
		pw := fmt.Sprintf("secret:/openmetadata/database/ssm_%d/password", i)
		cfg := workflowConfig(pw, fmt.Sprintf("secret:/openmetadata/bot/ssm_%d/jwttoken", i))
		if i == 0 {
			cfg = workflowConfig(pw+"#a", fmt.Sprintf("secret:/openmetadata/bot/ssm_%d/jwttoken", i))
			cfg = strings.Replace(cfg, "hostPort: db:3306", "hostPort: db:3306\n      databaseSchema: \""+pw+"#b\"", 1)
		}
		cfg = strings.Replace(cfg, "secretsManagerProvider: aws", "secretsManagerProvider: aws-ssm", 1)
		p := filepath.Join(dir, fmt.Sprintf("ssm_%d.yaml", i))
		require.NoError(t, os.WriteFile(p, []byte(cfg), 0o600))
		paths = append(paths, p)
	}
	return paths
}

// planStore returns the store's entry of a JSON plan.
func planStore(t *testing.T, p plan.Plan, store string) plan.Store {
	t.Helper()
	for _, s := range p.Stores {
		if s.Store == store {
			return s
		}
	}
	require.Failf(t, "no store in the plan", "%s: %+v", store, p.Stores)
	return plan.Store{}
}

// TestPlanSizesAFleetFromDefinitions reads an IngestionPipeline (its bot
// JWT and service password in Secrets Manager, its service from
// OpenMetadata) and 1,000 workflow configs naming 2,000 Parameter Store
// ids, some twice, and checks the plan's numbers for 50 pods at 5m.
func TestPlanSizesAFleetFromDefinitions(t *testing.T) {
	t.Parallel()
	om, srv := omWorld(t)
	srv.PutParameter("/openmetadata/database/ssm_1/password", "PLANTED-ssm-pw", true)
	dir := t.TempDir()
	pipeline := filepath.Join(dir, "mysql_prod_metadata.json")
	require.NoError(t, os.WriteFile(pipeline, pipelineJSON(t, om, "mysql_prod_metadata", "mysql_prod"), 0o600))
	defs := ssmDefinitions(t, dir, planSSMIDs)
	// The same definitions deployed twice (another directory): their ids
	// count once.
	again := t.TempDir()
	for i, p := range defs[:10] {
		cp := filepath.Join(again, fmt.Sprintf("copy_%d.yaml", i))
		require.NoError(t, os.WriteFile(cp, []byte(readFile(t, p)), 0o600))
		defs = append(defs, cp)
	}
	env := awsEnv(srv, "OMSECRETS_OM_HOSTS="+om.URL()+","+fixtureHost)
	args := append([]string{"plan", "--pods", fmt.Sprint(planPods), "--refresh-interval", planRefresh.String(), "--output", "json", pipeline}, defs...)

	r := omsecrets(t, env, args...)
	require.Equal(t, 0, r.code, "a warning is no failure\n%s", r.stderr)
	var p plan.Plan
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &p), r.stdout)
	assert.Equal(t, "definitions", p.Source)
	assert.Equal(t, len(defs)+1, p.Definitions)
	assert.Equal(t, planPods, p.Pods)
	assert.InDelta(t, planRefresh.Seconds(), p.RefreshIntervalSeconds, 0)

	ssm := planStore(t, p, "aws-ssm")
	calls := (planSSMIDs + planSSMBatch - 1) / planSSMBatch
	assert.Equal(t, planSSMIDs, ssm.IDs, "duplicates and #keys of one id count once")
	assert.Equal(t, calls, ssm.CallsPerPass)
	assert.Equal(t, "DescribeParameters", ssm.RefreshOperation)
	assert.Equal(t, (planSSMIDs+planSSMPage-1)/planSSMPage, ssm.CallsPerRefresh)
	rate := float64(planPods*calls) / planRefresh.Seconds()
	assert.InDelta(t, rate, ssm.FleetCallsPerSecond, 0.001)
	require.NotNil(t, ssm.Quota)
	assert.InDelta(t, planSSMQuota, ssm.Quota.PerSecond, 0)
	assert.Equal(t, int64(planPods*calls), ssm.StartupBurstCalls)
	assert.InDelta(t, math.Ceil(float64(planPods*calls)/planSSMQuota), ssm.StartupDrainSeconds, 0)
	require.Len(t, ssm.Warnings, 1, "%.1f calls/s is above half of %d/s", rate, planSSMQuota)
	want := wantHalfQuotaInterval(float64(planPods*calls), planSSMQuota)
	assert.InDelta(t, want.Seconds(), ssm.Warnings[0].SuggestedRefreshIntervalSeconds, 0)

	aws := planStore(t, p, "aws")
	assert.Equal(t, planAWSSecret, aws.IDs)
	assert.Equal(t, (planAWSSecret+planAWSBatch-1)/planAWSBatch, aws.CallsPerPass)
	assert.Equal(t, "ListSecrets", aws.RefreshOperation, "the ids share /openmetadata/")
	assert.Equal(t, (planAWSSecret+planAWSPage-1)/planAWSPage, aws.CallsPerRefresh)
	assert.InDelta(t, planAWSQuota, aws.Quota.PerSecond, 0)
	assert.Empty(t, aws.Warnings)

	// The stable field names.
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &doc))
	for _, k := range []string{"source", "definitions", "pods", "refreshIntervalSeconds", "stores", "assumptions"} {
		assert.Contains(t, doc, k)
	}
	st := doc["stores"].([]any)[0].(map[string]any)
	for _, k := range []string{"store", "ids", "local", "batchSize", "fetchOperation", "callsPerPass", "refreshOperation", "callsPerRefresh",
		"fleetCallsPerSecond", "fleetRefreshCallsPerSecond", "quota", "startupBurstCalls", "startupDrainSeconds"} {
		assert.Contains(t, st, k)
	}

	// Nothing but the pipeline's bot JWT (needed to ask OpenMetadata) was
	// fetched: the plan spends no quota on the references.
	assert.Equal(t, 0, srv.Calls(awstest.TargetGetParameters)+srv.Calls(awstest.TargetGetParameter))
	assert.Equal(t, 1, srv.Calls(awstest.TargetBatchGetSecretValue))

	// The table says the same.
	r = omsecrets(t, env, append([]string{"plan", "--pods", fmt.Sprint(planPods)}, args[7:]...)...)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Regexp(t, fmt.Sprintf(`(?m)^aws-ssm\s+%d\s+%d GetParameters\s+%d DescribeParameters\s+%.1f\s`, planSSMIDs, calls, ssm.CallsPerRefresh, rate), r.stdout)
	assert.Contains(t, r.stdout, fmt.Sprintf("WARNING aws-ssm: %d pods x %d GetParameters calls every 5m = %.1f calls/s", planPods, calls, rate))
	assert.Contains(t, r.stdout, fmt.Sprintf("a refresh interval of %dm or more", int(want.Minutes())))
	assert.NotContains(t, r.stdout+r.stderr, "PLANTED")
}

// TestPlanFromStatus reads a running sidecar's /status, served from a
// real status.Board: keyed references to one Kubernetes Secret count as
// one id, and the db store's redacted ones are local.
func TestPlanFromStatus(t *testing.T) {
	t.Parallel()
	b := status.New()
	var refs []status.Ref
	for i := range planSSMIDs {
		refs = append(refs, status.Ref{Field: fmt.Sprintf("f%d", i), Ref: fmt.Sprintf("secret:/openmetadata/p/%d", i), Store: "aws-ssm", Outcome: "ok"})
	}
	b.Set(status.Definition{Path: "/defs/a.json", OK: true, Class: "ok", Refs: refs[:planSSMIDs/2]})
	b.Set(status.Definition{Path: "/defs/b.json", OK: true, Class: "ok", Refs: append(refs[planSSMIDs/2:], refs[0])})
	b.Set(status.Definition{Path: "/defs/k.json", OK: false, Class: "not_found", Refs: []status.Ref{
		{Field: "a", Ref: "secret:airflow/mysql#username", Store: "kubernetes", Outcome: "ok"},
		{Field: "b", Ref: "secret:airflow/mysql#password", Store: "kubernetes", Outcome: "not_found"},
		{Field: "c", Ref: "secret:[redacted]", Store: "db", Outcome: "ok"},
	}})
	srv := httptest.NewServer(b.Handler(nil))
	t.Cleanup(srv.Close)

	r := omsecrets(t, nil, "plan", "--from-status", srv.URL, "--pods", fmt.Sprint(planPods), "--output", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var p plan.Plan
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &p), r.stdout)
	assert.Equal(t, "status", p.Source)
	assert.Equal(t, 3, p.Definitions)
	assert.Zero(t, p.SkippedRefs)
	ssm := planStore(t, p, "aws-ssm")
	assert.Equal(t, planSSMIDs, ssm.IDs)
	calls := (planSSMIDs + planSSMBatch - 1) / planSSMBatch
	require.Len(t, ssm.Warnings, 1)
	assert.InDelta(t, wantHalfQuotaInterval(float64(planPods*calls), planSSMQuota).Seconds(), ssm.Warnings[0].SuggestedRefreshIntervalSeconds, 0)

	k := planStore(t, p, "kubernetes")
	assert.Equal(t, 1, k.IDs, "#username and #password are one Secret")
	assert.Equal(t, 1, k.CallsPerPass)
	assert.Equal(t, 0, k.CallsPerRefresh, "0 while the watches hold")
	assert.Zero(t, k.Quota.PerSecond, "Kubernetes publishes none")
	assert.Empty(t, k.Warnings)
	db := planStore(t, p, "db")
	assert.True(t, db.Local)
	assert.Zero(t, db.CallsPerPass)

	r = omsecrets(t, nil, "plan", "--from-status", srv.URL+"/status")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Regexp(t, `(?m)^kubernetes\s+1\s+1 GET Secret\s+0 watch\s`, r.stdout)
	assert.Regexp(t, `(?m)^db\s+1\s+local\s+local`, r.stdout)
	assert.Contains(t, r.stdout, "none published")
	assert.NotContains(t, r.stdout, "WARNING", "one pod is far below every quota")
}

// TestPlanFromHostileStatus: whatever the URL serves, plan fails with one
// line and exit 1, or counts only what it can trust, and echoes nothing
// of the document.
func TestPlanFromHostileStatus(t *testing.T) {
	t.Parallel()
	const planted = "PLANTED-status-body"
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string
		timeout string // default 300ms
	}{
		{name: "huge body", want: "larger than 16 MiB", timeout: "30s", handler: func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"ready":true,"definitions":[`))
			chunk := []byte(strings.Repeat(" ", 1<<20))
			for range 17 {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
			_, _ = w.Write([]byte(`]}`))
		}},
		{name: "deep JSON", want: "invalid JSON", handler: func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"definitions":` + strings.Repeat("[", 100000) + planted))
		}},
		{name: "wrong types", want: "not a /status document", handler: func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"definitions":"` + planted + `"}`))
		}},
		{name: "wrong type deep inside", want: "not a /status document", handler: func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"definitions":[{"path":"x","refs":[{"ref":5,"store":["` + planted + `"]}]}]}`))
		}},
		{name: "not JSON", want: "invalid JSON", handler: func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte("<html>" + planted + "</html>"))
		}},
		{name: "not 200", want: "answered 500", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(planted))
		}},
		{name: "redirect", want: "answered 302", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		}},
		{name: "slow", want: "no answer within 300ms", handler: func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}},
		{name: "slow body", want: "no answer within 300ms", handler: func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"definitions":[`))
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tt.handler)
			t.Cleanup(srv.Close)
			timeout := cmp.Or(tt.timeout, "300ms")
			r := omsecrets(t, nil, "plan", "--timeout", timeout, "--from-status", srv.URL+"/status?token="+planted)
			assert.Equal(t, 1, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
			assert.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line: %s", r.stderr)
			assert.Contains(t, r.stderr, "--from-status "+srv.URL+"/status: ")
			assert.Contains(t, r.stderr, tt.want)
			assert.Less(t, len(r.stderr), 400)
			assert.Empty(t, r.stdout)
			assert.NotContains(t, r.stdout+r.stderr, planted)
		})
	}

	// A document of the right shape whose references cannot be trusted:
	// they are skipped and counted, never printed.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(status.Snapshot{Definitions: []status.Definition{{Path: "/d.json", Refs: []status.Ref{
			{Ref: "secret:/ok/1", Store: "aws"},
			{Ref: "secret:/x", Store: "consul"},
			{Ref: "secret:/x", Store: "\x1b[31m" + planted},
			{Ref: planted, Store: "aws"},
			{Ref: "secret:/y", Store: "aws|aws-ssm|file"},
		}}}})
	}))
	t.Cleanup(srv.Close)
	r := omsecrets(t, nil, "plan", "--from-status", srv.URL, "--output", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var p plan.Plan
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &p))
	assert.Equal(t, 4, p.SkippedRefs)
	require.Len(t, p.Stores, 1)
	assert.Equal(t, 1, p.Stores[0].IDs)
	r = omsecrets(t, nil, "plan", "--from-status", srv.URL)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "4 reference(s) skipped")
	assert.NotContains(t, r.stdout+r.stderr, planted)
	assert.NotContains(t, r.stdout+r.stderr, "\x1b")
}

// TestHostilePlanSettings is the hostile-settings table of plan's flags:
// each fails before anything is read or fetched, with exit 2 and one
// line naming the flag or variable.
func TestHostilePlanSettings(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const planted = "PLANTED-plan-setting"
	base := []string{"plan", "--provider", "file", "--file-dir", f.store}
	tests := []struct {
		name    string
		args    []string
		environ []string
		want    string
	}{
		{name: "pods negative", args: append(base, "--pods", "-1", f.def), want: "--pods"},
		{name: "pods zero", args: append(base, "--pods", "0", f.def), want: "--pods"},
		{name: "pods 1e9", args: append(base, "--pods", "1e9", f.def), want: "--pods"},
		{name: "pods a billion", args: append(base, "--pods", "1000000000", f.def), want: "from 1 to 100000"},
		{name: "pods huge", args: append(base, "--pods", strings.Repeat("9", 100000), f.def), want: "--pods"},
		{name: "pods with a newline", args: append(base, "--pods", "5\n"+planted, f.def), want: "--pods"},
		{name: "pods from the environment", args: append(base, f.def), environ: []string{"OMSECRETS_PLAN_PODS=many"}, want: "OMSECRETS_PLAN_PODS"},
		{name: "output unknown", args: append(base, "--output", "xml", f.def), want: "--output"},
		{name: "from-status file URL", args: []string{"plan", "--from-status", "file:///etc/passwd"}, want: "--from-status"},
		{name: "from-status no scheme", args: []string{"plan", "--from-status", "127.0.0.1:8686"}, want: "--from-status"},
		{name: "from-status credentials", args: []string{"plan", "--from-status", "http://u:" + planted + "@127.0.0.1:8686/status"}, want: "credentials"},
		{name: "from-status empty", args: []string{"plan", "--from-status", ""}, want: "--from-status"},
		{name: "from-status control character", args: []string{"plan", "--from-status", "http://127.0.0.1/\x1b" + planted}, want: "--from-status"},
		{name: "from-status and definitions", args: []string{"plan", "--from-status", "http://127.0.0.1:8686", f.def}, want: "not both"},
		{name: "from-status from the environment", args: []string{"plan"}, environ: []string{"OMSECRETS_PLAN_FROM_STATUS=gopher://x"}, want: "OMSECRETS_PLAN_FROM_STATUS"},
		{name: "nothing to plan", args: []string{"plan"}, want: "at least one DEFINITION"},
		{name: "refresh interval negative", args: append(base, "--refresh-interval", "-5m", f.def), want: "refresh-interval"},
		{name: "refresh interval zero", args: append(base, "--refresh-interval", "0", f.def), want: "refresh-interval"},
		{name: "unknown flag", args: append(base, "--out-dir", f.out, f.def), want: "out-dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := omsecrets(t, tt.environ, tt.args...)
			assert.Equal(t, 2, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
			first, _, _ := strings.Cut(r.stderr, "\n")
			assert.Contains(t, first, tt.want, "the first line says it")
			assert.Less(t, len(first), 2000, "the error does not echo a huge input")
			assert.NotContains(t, r.stdout+r.stderr, planted)
			assert.Empty(t, r.stdout)
		})
	}
}

// TestPlanPrintsNoValue plants values in a file store and as db ids (the
// values themselves), plans at debug level in both log formats, and
// scans everything printed.
func TestPlanPrintsNoValue(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	writeFiles(t, store, map[string]string{
		"db/password": marker + "-plan-pw",
		"bot/jwt":     marker + "-plan-jwt",
	})
	defs := filepath.Join(dir, "defs")
	writeFiles(t, defs, map[string]string{
		"file.yaml": strings.Replace(workflowConfig("secret:/db/password", "secret:/bot/jwt"), "secretsManagerProvider: aws", "secretsManagerProvider: file", 1),
		"db.yaml":   strings.Replace(workflowConfig("secret:"+marker+"-db-id-is-the-value", "secret:"+marker+"-db-jwt"), "secretsManagerProvider: aws", "secretsManagerProvider: db", 1),
	})
	for _, logFormat := range []string{"text", "json"} {
		for _, output := range []string{"table", "json"} {
			r := omsecrets(t, nil, "plan", "--file-dir", store, "--log-level", "debug", "--log-format", logFormat, "--output", output,
				filepath.Join(defs, "file.yaml"), filepath.Join(defs, "db.yaml"))
			require.Equal(t, 0, r.code, r.stderr)
			assert.Contains(t, r.stdout, "file")
			assert.NotContains(t, r.stdout+r.stderr, marker, "a planted value was printed")
		}
	}
	r := omsecrets(t, nil, "plan", "--file-dir", store, "--output", "json", filepath.Join(defs, "file.yaml"), filepath.Join(defs, "db.yaml"))
	var p plan.Plan
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &p))
	assert.Equal(t, 2, planStore(t, p, "db").IDs)
	assert.True(t, planStore(t, p, "file").Local)
}

// TestPlanReportsUnreadableDefinitions: a definition that cannot be read
// gets check's failure line and exit 1; the others are still planned.
func TestPlanReportsUnreadableDefinitions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	missing := filepath.Join(t.TempDir(), "not-deployed-yet.json")
	broken := writeTemp(t, "{not yaml: [")
	r := omsecrets(t, nil, "plan", "--provider", "file", "--file-dir", f.store, f.def, missing, broken)
	assert.Equal(t, 1, r.code, r.stderr)
	assert.Contains(t, r.stderr, missing+": no such file")
	assert.Contains(t, r.stderr, "class=invalid")
	assert.Regexp(t, `(?m)^file\s+2\s+local`, r.stdout, "the readable one is planned")
	assert.Equal(t, 0, omsecrets(t, nil, "plan", "-h").code)
}

// TestPlanNeedsNoStoreSettings is the case of issue 21: plan over a
// directory of aws-ssm workflow configs with no AWS setting at all (no
// region, no credentials) counts them, and prints exactly what it prints
// with a region. An IngestionPipeline whose bot JWT (which assembling
// its config must read) is in an AWS store that is not configured is
// named with its field and why; it is never "no secret references".
func TestPlanNeedsNoStoreSettings(t *testing.T) {
	t.Parallel()
	const ids = 40
	dir := t.TempDir()
	ssmDefinitions(t, dir, ids)
	om := omtest.New(t)
	hosts := "OMSECRETS_OM_HOSTS=" + om.URL() + "," + fixtureHost

	withRegion := omsecrets(t, []string{hosts, "AWS_REGION=eu-west-1", "AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=y"}, "plan", dir)
	require.Equal(t, 0, withRegion.code, withRegion.stderr)
	for _, output := range []string{"table", "json"} {
		r := omsecrets(t, []string{hosts}, "plan", "--output", output, dir)
		require.Equal(t, 0, r.code, "no region is no failure: %s", r.stderr)
		if output == "table" {
			assert.Equal(t, withRegion.stdout, r.stdout, "the same plan with or without a region")
			assert.Regexp(t, fmt.Sprintf(`(?m)^aws-ssm\s+%d\s+%d GetParameters\s`, ids, (ids+planSSMBatch-1)/planSSMBatch), r.stdout)
			assert.NotContains(t, r.stdout, "no secret references")
			continue
		}
		var p plan.Plan
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &p), r.stdout)
		assert.Equal(t, ids/2, p.Definitions)
		assert.Equal(t, ids, planStore(t, p, "aws-ssm").IDs)
		assert.Empty(t, p.NotCounted)
	}
	// --provider naming the store that is off is no usage error either.
	r := omsecrets(t, []string{hosts}, "plan", "--provider", "aws-ssm", "--output", "json", dir)
	require.Equal(t, 0, r.code, r.stderr)

	// The pipeline's bot JWT is in Secrets Manager, which has no region
	// here: only that definition is not counted.
	pipeline := filepath.Join(dir, "mysql_prod_metadata.json")
	require.NoError(t, os.WriteFile(pipeline, pipelineJSON(t, om, "mysql_prod_metadata", "mysql_prod"), 0o600))
	r = omsecrets(t, []string{hosts}, "plan", "--output", "json", dir)
	assert.Equal(t, 1, r.code, r.stderr)
	var p plan.Plan
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &p), r.stdout)
	assert.Equal(t, ids/2+1, p.Definitions)
	assert.Equal(t, ids, planStore(t, p, "aws-ssm").IDs)
	require.Len(t, p.NotCounted, 1)
	nc := p.NotCounted[0]
	assert.Equal(t, pipeline, nc.Definition)
	assert.Equal(t, "unknown_store", nc.Class)
	assert.Equal(t, "unknown_store: bot JWT secret:/openmetadata/bot/ingestion-bot/config/jwttoken: the aws store is not configured (set --aws-region / OMSECRETS_AWS_REGION, AWS_REGION, AWS_DEFAULT_REGION, AIRFLOW__OPENMETADATA_SECRETS_MANAGER__AWS_REGION)", nc.Error)
	assert.Equal(t, 1, planStore(t, p, "aws").IDs, "the bot JWT a configured sidecar reads")
	assert.Empty(t, om.Requests(), "OpenMetadata is not asked without the bot JWT")

	r = omsecrets(t, []string{hosts}, "plan", dir)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stdout, "1 definition(s) not counted: the numbers above leave their references out\n  "+pipeline+": unknown_store: bot JWT secret:")
	assert.Regexp(t, `level=ERROR msg="definition not resolved" definition=\S+mysql_prod_metadata.json class=unknown_store error=.*bot JWT secret:/openmetadata/bot/ingestion-bot/config/jwttoken: the aws store is not configured`, r.stderr)

	// Nothing that can be counted: said so, one line per definition with
	// its field.
	unknown := filepath.Join(t.TempDir(), "unknown.yaml")
	require.NoError(t, os.WriteFile(unknown, []byte(strings.Replace(readFile(t, ssmDefs(dir)[0]), "secretsManagerProvider: aws-ssm", "secretsManagerProvider: consul", 1)), 0o600))
	r = omsecrets(t, []string{hosts}, "plan", unknown, filepath.Join(t.TempDir(), "missing.json"))
	assert.Equal(t, 1, r.code)
	assert.NotContains(t, r.stdout, "no secret references")
	assert.Contains(t, r.stdout, "nothing counted: 2 definition(s) could not be counted\n")
	assert.Contains(t, r.stdout, "  "+unknown+": workflowConfig.openMetadataServerConfig.secretsManagerProvider: unknown_store: ")
	assert.Contains(t, r.stdout, "missing.json: invalid: no such file\n")
}

// ssmDefs lists the workflow configs ssmDefinitions wrote in dir.
func ssmDefs(dir string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, "ssm_*.yaml"))
	return m
}

// TestStoreCostsNameTheTablesStores: the costs plan reads are the
// stores' own (resolver.Spec.Costs); a store without costs is one that
// makes no remote call, which the plan calls local.
func TestStoreCostsNameTheTablesStores(t *testing.T) {
	t.Parallel()
	for _, s := range storeTable {
		if s.Costs == nil {
			assert.Contains(t, []string{"db", "env", "file"}, s.Name, "a remote store without costs")
		}
	}
	_, ok := plan.PublishedQuota(storeTable[0])
	assert.False(t, ok, "db makes no remote call")
}
