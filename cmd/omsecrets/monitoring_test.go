package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// The monitoring examples (examples/monitoring) are PromQL over omsecrets'
// metrics. There is no PromQL parser among the dependencies, so the tests
// below extract what the expressions name with promRefs, a small
// extractor, and hold every name to a real /metrics scrape.

const (
	dashboardPath = "../../examples/monitoring/grafana-dashboard.json"
	rulesPath     = "../../examples/monitoring/prometheus-rules.yaml"
)

// targetLabels are the labels Prometheus adds at scrape time (pod and
// namespace by the Kubernetes service discovery relabelling the examples
// assume), and le, which every histogram bucket has: no /metrics page
// shows them, so the check accepts them on any metric.
var targetLabels = map[string]bool{"pod": true, "namespace": true, "job": true, "instance": true, "le": true}

// promRefs is what one PromQL expression names.
type promRefs struct {
	// matchers maps each omsecrets_ metric, as written (a histogram's
	// _bucket, _sum or _count included), to the label names of its
	// selectors' matchers.
	matchers map[string][]string
	// grouping are the label names of by, without, on, ignoring,
	// group_left and group_right clauses.
	grouping []string
	// by are the label names of by clauses alone: what an aggregated
	// result keeps, so what a legend or an annotation may name.
	by []string
}

var (
	identBefore   = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\s*$`)
	metricName    = regexp.MustCompile(`\bomsecrets_[a-zA-Z0-9_:]*`)
	matcherRE     = regexp.MustCompile(`^([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*""$`)
	groupingRE    = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)`)
	labelNameRE   = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	labelValuesRE = regexp.MustCompile(`^\s*label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$`)
	legendLabel   = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)
	alertLabel    = regexp.MustCompile(`\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)`)
)

// blankStrings replaces the contents of every string literal ("...",
// '...' and `...`) with nothing, so that neither a metric name nor a brace
// inside a regexp counts.
func blankStrings(expr string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(expr); i++ {
		q := expr[i]
		if q != '"' && q != '\'' && q != '`' {
			b.WriteByte(q)
			continue
		}
		j := i + 1
		for ; j < len(expr) && expr[j] != q; j++ {
			if expr[j] == '\\' && q != '`' {
				j++
			}
		}
		if j >= len(expr) {
			return "", fmt.Errorf("unterminated string at %d", i)
		}
		b.WriteString(`""`)
		i = j
	}
	return b.String(), nil
}

// splitLabels splits a comma-separated list of label names, each checked.
func splitLabels(list string) ([]string, error) {
	var names []string
	for n := range strings.SplitSeq(list, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if !labelNameRE.MatchString(n) {
			return nil, fmt.Errorf("bad label name %q", n)
		}
		names = append(names, n)
	}
	return names, nil
}

// parsePromRefs extracts the omsecrets_ metrics and the label names of one
// PromQL expression (or of a Grafana label_values(metric, label) query).
// It understands only what naming needs: selectors' matchers, and the
// label lists of grouping and vector-matching clauses; anything it cannot
// read there is an error rather than a silent pass.
func parsePromRefs(expr string) (promRefs, error) {
	refs := promRefs{matchers: map[string][]string{}}
	if m := labelValuesRE.FindStringSubmatch(expr); m != nil {
		if strings.HasPrefix(m[1], "omsecrets_") {
			refs.matchers[m[1]] = []string{m[2]}
		}
		return refs, nil
	}
	text, err := blankStrings(expr)
	if err != nil {
		return refs, err
	}
	// Selectors: each {...} belongs to the identifier just before it.
	var rest strings.Builder
	for {
		open := strings.IndexByte(text, '{')
		if open < 0 {
			rest.WriteString(text)
			break
		}
		end := strings.IndexByte(text[open:], '}')
		if end < 0 {
			return refs, errors.New("unclosed {")
		}
		body := text[open+1 : open+end]
		if strings.ContainsAny(body, "{(") {
			return refs, fmt.Errorf("unexpected %q in a selector", body)
		}
		var labels []string
		for m := range strings.SplitSeq(body, ",") {
			m = strings.TrimSpace(m)
			if m == "" {
				continue
			}
			sm := matcherRE.FindStringSubmatch(m)
			if sm == nil {
				return refs, fmt.Errorf("cannot read matcher %q", m)
			}
			labels = append(labels, sm[1])
		}
		id := identBefore.FindStringSubmatch(text[:open])
		switch {
		case id == nil:
			return refs, fmt.Errorf("selector {%s} has no metric name", body)
		case strings.HasPrefix(id[1], "omsecrets_"):
			refs.matchers[id[1]] = append(refs.matchers[id[1]], labels...)
		}
		rest.WriteString(text[:open])
		rest.WriteString("{}")
		text = text[open+end+1:]
	}
	stripped := rest.String()
	for _, name := range metricName.FindAllString(stripped, -1) {
		if _, ok := refs.matchers[name]; !ok {
			refs.matchers[name] = nil
		}
	}
	for _, m := range groupingRE.FindAllStringSubmatch(stripped, -1) {
		names, err := splitLabels(m[2])
		if err != nil {
			return refs, fmt.Errorf("%s (...): %w", m[1], err)
		}
		refs.grouping = append(refs.grouping, names...)
		if m[1] == "by" {
			refs.by = append(refs.by, names...)
		}
	}
	return refs, nil
}

// exposition is a /metrics page: the label names seen on each family's
// samples, and each family's type.
type exposition struct {
	labels map[string]map[string]bool
	types  map[string]string
}

// parseExposition reads the Prometheus text format (version 0.0.4).
func parseExposition(text string) (exposition, error) {
	e := exposition{labels: map[string]map[string]bool{}, types: map[string]string{}}
	var samples []string
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSpace(line)
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			e.types[f[2]] = f[3]
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		samples = append(samples, line)
	}
	for _, line := range samples {
		name, labels, err := parseSample(line)
		if err != nil {
			return e, err
		}
		family := name
		if _, ok := e.types[name]; !ok {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if base, ok := strings.CutSuffix(name, suffix); ok && e.types[base] != "" {
					family = base
				}
			}
		}
		if e.labels[family] == nil {
			e.labels[family] = map[string]bool{}
		}
		for _, l := range labels {
			e.labels[family][l] = true
		}
	}
	return e, nil
}

// parseSample returns a sample line's metric name and label names.
func parseSample(line string) (string, []string, error) {
	end := strings.IndexAny(line, "{ ")
	if end < 0 {
		return "", nil, fmt.Errorf("bad sample %q", line)
	}
	name := line[:end]
	if line[end] != '{' {
		return name, nil, nil
	}
	var labels []string
	s := line[end+1:]
	for {
		s = strings.TrimLeft(s, ", ")
		if strings.HasPrefix(s, "}") {
			return name, labels, nil
		}
		eq := strings.Index(s, `="`)
		if eq < 0 {
			return "", nil, fmt.Errorf("bad labels in %q", line)
		}
		labels = append(labels, s[:eq])
		s = s[eq+2:]
		i := 0
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' {
				i++
			}
		}
		if i >= len(s) {
			return "", nil, fmt.Errorf("unterminated label value in %q", line)
		}
		s = s[i+1:]
	}
}

// family returns the family a metric as written belongs to: itself, or the
// histogram (or summary) whose _bucket, _sum or _count series it is.
func (e exposition) family(name string) (string, bool) {
	if _, ok := e.labels[name]; ok {
		return name, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if !ok {
			continue
		}
		if t := e.types[base]; (t == "histogram" || (t == "summary" && suffix != "_bucket")) && e.labels[base] != nil {
			return base, true
		}
	}
	return "", false
}

// check returns what of refs the scrape does not have, and the label names
// a result of the expression can carry (for legends and annotations).
func (e exposition) check(refs promRefs) (problems []string, output map[string]bool) {
	all := map[string]bool{}
	for l := range targetLabels {
		all[l] = true
	}
	names := make([]string, 0, len(refs.matchers))
	for n := range refs.matchers {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		fam, ok := e.family(name)
		if !ok {
			problems = append(problems, "unknown metric "+name)
			continue
		}
		for l := range e.labels[fam] {
			all[l] = true
		}
		for _, l := range refs.matchers[name] {
			if !e.labels[fam][l] && !targetLabels[l] {
				problems = append(problems, fmt.Sprintf("%s has no label %s", fam, l))
			}
		}
	}
	for _, l := range refs.grouping {
		if !all[l] {
			problems = append(problems, fmt.Sprintf("no metric of the expression has label %s", l))
		}
	}
	output = all
	if len(refs.by) > 0 {
		output = map[string]bool{}
		for _, l := range refs.by {
			output[l] = true
		}
	}
	return problems, output
}

// testExposition is a page with the shapes omsecrets' real one has.
const testExposition = `# HELP omsecrets_store_calls_total Calls.
# TYPE omsecrets_store_calls_total counter
omsecrets_store_calls_total{operation="batch",result="ok",store="aws"} 3
omsecrets_store_calls_total{operation="batch",result="throttled",store="aws"} 1
# TYPE omsecrets_refresh_duration_seconds histogram
omsecrets_refresh_duration_seconds_bucket{le="0.01"} 0
omsecrets_refresh_duration_seconds_bucket{le="+Inf"} 1
omsecrets_refresh_duration_seconds_sum 0.2
omsecrets_refresh_duration_seconds_count 1
# TYPE omsecrets_ready gauge
omsecrets_ready 1
# TYPE omsecrets_store_quota_calls_per_second gauge
omsecrets_store_quota_calls_per_second{store="aws"} 100
# TYPE omsecrets_weird gauge
omsecrets_weird{a="x\"}y,b=\"z",b="ok"} 1
`

func TestMonitorExtractor(t *testing.T) {
	t.Parallel()
	scrape, err := parseExposition(testExposition)
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{"a": true, "b": true}, scrape.labels["omsecrets_weird"], "escaped quotes in a label value")
	assert.Equal(t, map[string]bool{"le": true}, scrape.labels["omsecrets_refresh_duration_seconds"])

	for _, tc := range []struct {
		name     string
		expr     string
		matchers map[string][]string
		grouping []string
		problems []string
	}{
		{
			name:     "matchers and by",
			expr:     `sum by (store) (rate(omsecrets_store_calls_total{pod=~"$pod", result="throttled"}[$__rate_interval]))`,
			matchers: map[string][]string{"omsecrets_store_calls_total": {"pod", "result"}},
			grouping: []string{"store"},
		},
		{
			name:     "histogram bucket is its family",
			expr:     `histogram_quantile(0.99, sum by (le) (rate(omsecrets_refresh_duration_seconds_bucket[5m])))`,
			matchers: map[string][]string{"omsecrets_refresh_duration_seconds_bucket": nil},
			grouping: []string{"le"},
		},
		{
			name: "vector matching",
			expr: "sum by (store) (rate(omsecrets_store_calls_total[10m]))\n  > on (store) group_left ()\n0.5 * max without (pod) (omsecrets_store_quota_calls_per_second)",
			matchers: map[string][]string{
				"omsecrets_store_calls_total":            nil,
				"omsecrets_store_quota_calls_per_second": nil,
			},
			grouping: []string{"store", "store", "pod"},
		},
		{
			name:     "names inside strings do not count",
			expr:     `omsecrets_ready{pod=~"omsecrets_nope{by=(x)}.*"} == 1`,
			matchers: map[string][]string{"omsecrets_ready": {"pod"}},
		},
		{
			name:     "grafana label_values",
			expr:     `label_values(omsecrets_ready, pod)`,
			matchers: map[string][]string{"omsecrets_ready": {"pod"}},
		},
		{
			name:     "other metrics are not held to the page",
			expr:     `up{job="omsecrets"} and on (pod) omsecrets_ready`,
			matchers: map[string][]string{"omsecrets_ready": nil},
			grouping: []string{"pod"},
		},
		{
			name:     "unknown metric",
			expr:     `sum(omsecrets_no_such_metric)`,
			matchers: map[string][]string{"omsecrets_no_such_metric": nil},
			problems: []string{"unknown metric omsecrets_no_such_metric"},
		},
		{
			name:     "histogram suffix of a gauge",
			expr:     `omsecrets_ready_bucket`,
			matchers: map[string][]string{"omsecrets_ready_bucket": nil},
			problems: []string{"unknown metric omsecrets_ready_bucket"},
		},
		{
			name:     "misspelled label in by",
			expr:     `sum by (stor) (omsecrets_store_calls_total)`,
			matchers: map[string][]string{"omsecrets_store_calls_total": nil},
			grouping: []string{"stor"},
			problems: []string{"no metric of the expression has label stor"},
		},
		{
			name:     "misspelled label in a matcher",
			expr:     `omsecrets_store_calls_total{op="get"}`,
			matchers: map[string][]string{"omsecrets_store_calls_total": {"op"}},
			problems: []string{"omsecrets_store_calls_total has no label op"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			refs, err := parsePromRefs(tc.expr)
			require.NoError(t, err)
			assert.Equal(t, tc.matchers, refs.matchers)
			assert.Equal(t, tc.grouping, refs.grouping)
			problems, _ := scrape.check(refs)
			assert.Equal(t, tc.problems, problems)
		})
	}

	for _, bad := range []string{
		`omsecrets_ready{pod=~"x}`,               // unterminated string
		`omsecrets_ready{pod}`,                   // no operator
		`{__name__="omsecrets_ready"}`,           // no metric name
		`sum by (pod-name) (omsecrets_ready)`,    // not a label name
		`omsecrets_ready{pod="a"`,                // unclosed selector
		`omsecrets_ready{pod=~"a", ,job=="b"}`,   // == is no matcher
		`rate(omsecrets_ready{pod="a"[5m]}[5m])`, // garbled
	} {
		_, err := parsePromRefs(bad)
		assert.Error(t, err, bad)
	}
}

// dashboard is the part of a Grafana dashboard the checks read.
type dashboard struct {
	SchemaVersion int `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
			Datasource *grafanaDS      `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
	Panels []grafanaPanel `json:"panels"`
}

type grafanaDS struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type grafanaPanel struct {
	Title      string     `json:"title"`
	Type       string     `json:"type"`
	Datasource *grafanaDS `json:"datasource"`
	Targets    []struct {
		Datasource   *grafanaDS `json:"datasource"`
		Expr         string     `json:"expr"`
		LegendFormat string     `json:"legendFormat"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"` // of a collapsed row
}

// rule is one alerting rule of the PrometheusRule.
type rule struct {
	Alert       string
	Expr        string
	For         string
	Labels      map[string]string
	Annotations map[string]string
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile(dashboardPath)
	require.NoError(t, err)
	var d dashboard
	require.NoError(t, json.Unmarshal(data, &d))
	return d
}

func readRules(t *testing.T) []rule {
	t.Helper()
	var pr struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string
		Spec       struct {
			Groups []struct {
				Name  string
				Rules []rule
			}
		}
	}
	readYAML(t, rulesPath, &pr)
	require.Equal(t, "monitoring.coreos.com/v1", pr.APIVersion)
	require.Equal(t, "PrometheusRule", pr.Kind)
	var rules []rule
	for _, g := range pr.Spec.Groups {
		require.NotEmpty(t, g.Name)
		rules = append(rules, g.Rules...)
	}
	return rules
}

// panels flattens the dashboard's panels, those of collapsed rows too.
func (d dashboard) panels() []grafanaPanel {
	var out []grafanaPanel
	var walk func([]grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// TestMonitorExamplesAreWellFormed: the dashboard is JSON Grafana 11
// imports, every query goes to the datasource its variable picks, and
// every alert is complete.
func TestMonitorExamplesAreWellFormed(t *testing.T) {
	t.Parallel()
	d := readDashboard(t)
	assert.GreaterOrEqual(t, d.SchemaVersion, 39)
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
		if v.Name == "datasource" {
			assert.JSONEq(t, `"prometheus"`, string(v.Query), "the datasource variable lists Prometheus datasources")
		}
		if v.Type == "query" {
			require.NotNil(t, v.Datasource, v.Name)
			assert.Equal(t, "${datasource}", v.Datasource.UID, v.Name)
		}
	}
	assert.Equal(t, "datasource", vars["datasource"])
	assert.Equal(t, "query", vars["pod"])
	var queries int
	for _, p := range d.panels() {
		if p.Type == "row" {
			assert.Empty(t, p.Targets, p.Title)
			continue
		}
		require.NotNil(t, p.Datasource, "panel %q has no datasource", p.Title)
		assert.Equal(t, grafanaDS{Type: "prometheus", UID: "${datasource}"}, *p.Datasource, p.Title)
		assert.NotEmpty(t, p.Targets, p.Title)
		for _, tg := range p.Targets {
			require.NotNil(t, tg.Datasource, p.Title)
			assert.Equal(t, "${datasource}", tg.Datasource.UID, p.Title)
			assert.NotEmpty(t, tg.Expr, p.Title)
			queries++
		}
	}
	assert.Greater(t, queries, 20)

	rules := readRules(t)
	var alerts []string
	for _, r := range rules {
		require.NotEmpty(t, r.Alert, "recording rules are not expected here")
		alerts = append(alerts, r.Alert)
		assert.NotEmpty(t, r.Expr, r.Alert)
		_, err := time.ParseDuration(r.For)
		assert.NoError(t, err, "%s: for", r.Alert)
		assert.Contains(t, []string{"critical", "warning", "info"}, r.Labels["severity"], r.Alert)
		assert.NotEmpty(t, r.Annotations["summary"], r.Alert)
		assert.NotEmpty(t, r.Annotations["description"], r.Alert)
		for l := range r.Labels {
			assert.Equal(t, "severity", l, "%s: a label of its own beside severity", r.Alert)
		}
	}
	assert.ElementsMatch(t, []string{
		"OmsecretsStaleOutputs", "OmsecretsDefinitionsFailing", "OmsecretsStoreThrottled",
		"OmsecretsFleetNearStoreQuota", "OmsecretsNotReady", "OmsecretsFullPassTooOld",
	}, alerts)
}

// monitoringExpr is one expression of the examples, with where it is and
// the label names its legend or annotations print.
type monitoringExpr struct {
	where, expr string
	printed     []string
}

func monitoringExprs(t *testing.T) []monitoringExpr {
	t.Helper()
	var out []monitoringExpr
	d := readDashboard(t)
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			out = append(out, monitoringExpr{where: "variable " + v.Name, expr: v.Definition})
		}
	}
	for _, p := range d.panels() {
		for _, tg := range p.Targets {
			var printed []string
			for _, m := range legendLabel.FindAllStringSubmatch(tg.LegendFormat, -1) {
				printed = append(printed, m[1])
			}
			out = append(out, monitoringExpr{where: "panel " + p.Title, expr: tg.Expr, printed: printed})
		}
	}
	for _, r := range readRules(t) {
		var printed []string
		for _, a := range r.Annotations {
			for _, m := range alertLabel.FindAllStringSubmatch(a, -1) {
				printed = append(printed, m[1])
			}
		}
		out = append(out, monitoringExpr{where: "alert " + r.Alert, expr: r.Expr, printed: printed})
	}
	return out
}

// TestMonitorNamesExistInScrape runs the sidecar against AWS Secrets
// Manager and OpenMetadata on the wire until every metric the dashboard
// and the alerts use has a sample (a vector without one is absent from
// /metrics), then holds every metric and label name of every expression
// to that scrape: a renamed metric or label fails here, not on a
// dashboard that silently goes blank.
func TestMonitorNamesExistInScrape(t *testing.T) {
	t.Parallel()
	exprs := monitoringExprs(t)
	parsed := make([]promRefs, len(exprs))
	want := map[string]bool{} // metrics as written
	for i, e := range exprs {
		refs, err := parsePromRefs(e.expr)
		require.NoError(t, err, "%s: %s", e.where, e.expr)
		parsed[i] = refs
		for n := range refs.matchers {
			want[n] = true
		}
	}
	// Everything the README lists as omsecrets' metrics is on the
	// dashboard or in an alert.
	for _, m := range []string{
		"omsecrets_resolutions_total", "omsecrets_resolution_duration_seconds_bucket", "omsecrets_store_calls_total",
		"omsecrets_store_call_duration_seconds_bucket", "omsecrets_store_retries_total", "omsecrets_cache_lookups_total",
		"omsecrets_output_writes_total", "omsecrets_outputs", "omsecrets_stale_outputs", "omsecrets_definitions",
		"omsecrets_watch_events_total", "omsecrets_om_requests_total", "omsecrets_om_request_duration_seconds_bucket",
		"omsecrets_ready", "omsecrets_last_full_pass_timestamp_seconds", "omsecrets_store_rate_limit_calls_per_second",
		"omsecrets_store_quota_calls_per_second", "omsecrets_store_change_detection", "omsecrets_refresh_ids_total",
		"omsecrets_refresh_duration_seconds_bucket", "omsecrets_definition_to_output_seconds_bucket",
	} {
		assert.True(t, want[m], "the monitoring examples do not use %s", m)
	}

	om, srv := omWorld(t)
	defs, out := t.TempDir(), t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(defs, "a.json"), pipelineJSON(t, om, "a", "mysql_prod"), 0o644))
	srv.Throttle(1) // the first store call is throttled, then retried

	d := startDaemon(t, omEnv(om, srv), "--watch-dirs", defs, "--out-dir", out,
		"--watch-quiet", "20ms", "--refresh-interval", "500ms", "--start-jitter", "0")
	get, stderr := d.get, d.stderr
	d.waitReady(t)
	// A definition deployed after start-up: the watcher hands it over
	// (definition_to_output_seconds, watch_events_total).
	require.NoError(t, os.WriteFile(filepath.Join(defs, "b.json"), pipelineJSON(t, om, "b", "mysql_prod"), 0o644))

	// Scrape until every metric has a sample and a refresh has run, or
	// give up after a while and report what is missing.
	var scrape exposition
	missing := func() []string {
		var m []string
		for n := range want {
			if _, ok := scrape.family(n); !ok {
				m = append(m, n)
			}
		}
		slices.Sort(m)
		return m
	}
	// A histogram without labels is on the page from the start, with a
	// count of 0: a refresh shows as its count.
	refreshes := regexp.MustCompile(`(?m)^omsecrets_refresh_duration_seconds_count (\S+)$`)
	refreshed := func(body string) bool {
		m := refreshes.FindStringSubmatch(body)
		return m != nil && m[1] != "0"
	}
	var body string
	deadline := time.Now().Add(15 * time.Second)
	for {
		var code int
		code, body = get("/metrics")
		require.Equal(t, http.StatusOK, code, body)
		var err error
		scrape, err = parseExposition(body)
		require.NoError(t, err)
		if len(missing()) == 0 && refreshed(body) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	assert.Empty(t, missing(), "metrics with no sample after start-up, a new definition, refreshes and a throttled call")
	assert.True(t, refreshed(body), "omsecrets_refresh_duration_seconds_count stayed 0: no periodic refresh was recorded in 15s at --refresh-interval 500ms")
	assert.Contains(t, body, `result="throttled"`, "the injected throttle shows")

	for i, e := range exprs {
		problems, output := scrape.check(parsed[i])
		for _, p := range problems {
			t.Errorf("%s: %s\n\t%s", e.where, p, e.expr)
		}
		for _, l := range e.printed {
			assert.True(t, output[l], "%s prints label %s, which its expression does not keep", e.where, l)
		}
	}

	assert.Equal(t, 0, d.stop(t), stderr.String())
	assert.NotContains(t, d.stdout.String()+stderr.String()+body, "PLANTED")
}

// TestMonitorRulesAreAPlainRulesFile: the PrometheusRule's spec is what
// Prometheus's rule_files take (the form the file's header shows how to
// extract): groups of rules with exactly those keys.
func TestMonitorRulesAreAPlainRulesFile(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(rulesPath)
	require.NoError(t, err)
	var doc struct {
		Spec yaml.Node
	}
	require.NoError(t, yaml.Unmarshal(data, &doc))
	var file struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []map[string]any
		} `yaml:"groups"`
	}
	require.NoError(t, doc.Spec.Decode(&file))
	require.NotEmpty(t, file.Groups)
	allowed := []string{"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			for k := range r {
				assert.Contains(t, allowed, k, "rule %v", r["alert"])
			}
		}
	}
}
