package plan

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"omsecrets/resolver"
)

// Plan is the report of `omsecrets plan`; its JSON field names are
// stable.
type Plan struct {
	// Source is SourceDefinitions or SourceStatus.
	Source string `json:"source"`
	// Definitions is the number of definitions read.
	Definitions int `json:"definitions"`
	// SkippedRefs counts /status references that named no known store
	// or did not parse.
	SkippedRefs            int     `json:"skippedRefs"`
	Pods                   int     `json:"pods"`
	RefreshIntervalSeconds float64 `json:"refreshIntervalSeconds"`
	Stores                 []Store `json:"stores"`
	// NotCounted are the definitions whose references the numbers leave
	// out, each with why.
	NotCounted []NotCounted `json:"notCounted"`
	// Assumptions are what the numbers rest on.
	Assumptions []string `json:"assumptions"`
}

// Store is one store's load.
type Store struct {
	Store string `json:"store"`
	// IDs are the unique secret ids: the fetch unit.
	IDs int `json:"ids"`
	// Local stores (db, env, file) make no remote calls.
	Local          bool   `json:"local"`
	BatchSize      int    `json:"batchSize"`
	FetchOperation string `json:"fetchOperation,omitempty"`
	// CallsPerPass is a full read of every id: ceil(ids / BatchSize).
	CallsPerPass int `json:"callsPerPass"`
	// CallsPerRefresh is the steady-state bound of a refresh with the
	// store's change detection, before the changed ids' fetches; equal
	// to CallsPerPass for a store without one.
	RefreshOperation string `json:"refreshOperation,omitempty"`
	CallsPerRefresh  int    `json:"callsPerRefresh"`
	RefreshNote      string `json:"refreshNote,omitempty"`
	// The fleet's rates: pods × calls / refresh interval.
	FleetCallsPerSecond        float64 `json:"fleetCallsPerSecond"`
	FleetRefreshCallsPerSecond float64 `json:"fleetRefreshCallsPerSecond"`
	// Quota is the published quota of FetchOperation, ListQuota that of
	// RefreshOperation when it differs.
	Quota     *Quota `json:"quota,omitempty"`
	ListQuota *Quota `json:"listQuota,omitempty"`
	QuotaNote string `json:"quotaNote,omitempty"`
	// StartupBurstCalls is pods × CallsPerPass, all at once (a rolling
	// restart), and StartupDrainSeconds how long the fleet needs for it
	// at the quota (0 without one).
	StartupBurstCalls   int64     `json:"startupBurstCalls"`
	StartupDrainSeconds float64   `json:"startupDrainSeconds"`
	Warnings            []Warning `json:"warnings,omitempty"`
}

// Warning is a rate above half a quota.
type Warning struct {
	Operation           string  `json:"operation"`
	FleetCallsPerSecond float64 `json:"fleetCallsPerSecond"`
	QuotaPerSecond      float64 `json:"quotaPerSecond"`
	// SuggestedRefreshIntervalSeconds brings the rate to half the quota,
	// rounded up to a whole second, or minute above one.
	SuggestedRefreshIntervalSeconds float64 `json:"suggestedRefreshIntervalSeconds"`
	Message                         string  `json:"message"`
}

// assumptions are stated with every plan.
var assumptions = []string{
	"every pod holds the same definitions (one dag_generated_configs) and reads each id once per pass",
	"a full pass runs at start-up and on a refresh whose change detection is refused or fails; the warnings compare it with the fetch quota",
	"calls per refresh are the steady-state bound with change detection; each changed id adds its share of a fetch batch (assumed few between refreshes)",
	"ids routed to a store with a fallback are counted in both",
	"rates are at the nominal refresh interval (it is jittered by up to 10%)",
}

// statusAssumption is added to a plan made from /status.
const statusAssumption = "from /status: the references it lists; what assembling a config reads besides them (bot JWTs of pipelines, OpenMetadata 0.12-0.13 connection secrets) is not listed there"

// Fleet is the fleet a plan sizes: pods sidecars, each refreshing every
// Interval.
type Fleet struct {
	Pods     int
	Interval time.Duration
}

// Make computes every store's load for the fleet from what c counted.
// stores are the stores omsecrets builds, in the order of the report:
// their names, batch sizes and costs (resolver.Spec.Costs; none: a local
// store).
func Make(c Counted, stores []resolver.Spec, f Fleet) Plan {
	p := Plan{
		Source: c.Source, Definitions: c.Definitions, SkippedRefs: c.SkippedRefs,
		Pods: f.Pods, RefreshIntervalSeconds: f.Interval.Seconds(),
		Stores: []Store{}, NotCounted: append([]NotCounted{}, c.NotCounted...),
		Assumptions: append([]string{}, assumptions...),
	}
	if c.Source == SourceStatus {
		p.Assumptions = append(p.Assumptions, statusAssumption)
	}
	pods, interval := f.Pods, f.Interval
	for _, spec := range stores {
		set := c.IDs[spec.Name]
		if len(set) == 0 {
			continue
		}
		sp := Store{Store: spec.Name, IDs: len(set), BatchSize: max(spec.BatchSize, 1)}
		q := spec.Costs
		if q == nil {
			sp.Local = true
			p.Stores = append(p.Stores, sp)
			continue
		}
		sp.FetchOperation = q.Fetch.Operation
		sp.CallsPerPass = ceilDiv(sp.IDs, sp.BatchSize)
		sp.RefreshOperation, sp.CallsPerRefresh, sp.RefreshNote = refreshModel(q.Refresh, set, sp.CallsPerPass, q.Fetch.Operation)
		fq := q.Fetch
		sp.Quota = &fq
		if q.List != nil && sp.RefreshOperation == q.List.Operation {
			lq := *q.List
			sp.ListQuota = &lq
		}
		sp.QuotaNote = q.Note
		rate := func(calls int) float64 { return float64(pods) * float64(calls) / interval.Seconds() }
		sp.FleetCallsPerSecond = round3(rate(sp.CallsPerPass))
		sp.FleetRefreshCallsPerSecond = round3(rate(sp.CallsPerRefresh))
		sp.StartupBurstCalls = int64(pods) * int64(sp.CallsPerPass)
		if per, ok := PublishedQuota(spec); ok {
			sp.StartupDrainSeconds = math.Ceil(float64(sp.StartupBurstCalls) / per)
			if w, ok := warn(spec.Name, fq, pods, sp.CallsPerPass, interval, per); ok {
				sp.Warnings = append(sp.Warnings, w)
			}
		}
		if per, ok := ListQuota(spec); ok && sp.ListQuota != nil {
			if w, ok := warn(spec.Name, *sp.ListQuota, pods, sp.CallsPerRefresh, interval, per); ok {
				sp.Warnings = append(sp.Warnings, w)
			}
		}
		p.Stores = append(p.Stores, sp)
	}
	return p
}

// refreshModel returns the operation and number of calls of a refresh of
// ids with a store's change detection r (its Costs.Refresh), and what it
// rests on; full is the calls of a full read with fetchOp.
func refreshModel(r Refresh, ids map[string]bool, full int, fetchOp string) (string, int, string) {
	switch {
	case r.Operation == "":
		return fetchOp, full, "no change detection: a refresh is a full read"
	case r.ByPrefix && !sharedPrefix(ids):
		return fetchOp, full, fmt.Sprintf("the ids share no name prefix, so no bounded %s can vouch for them: a refresh is a full read", r.Operation)
	case r.PerPage <= 0:
		return r.Operation, 0, r.Note
	}
	return r.Operation, ceilDiv(len(ids), r.PerPage), r.Note
}

// sharedPrefix reports whether the ids share a name prefix of at least
// one path segment ("/openmetadata/"), which a filtered ListSecrets or
// DescribeParameters can page through without listing the whole
// account (the stores' change detection filters by name prefix and gives
// up before a listing costs more than a full read).
func sharedPrefix(ids map[string]bool) bool {
	prefix, first := "", true
	for id := range ids {
		if first {
			prefix, first = id, false
			continue
		}
		for !strings.HasPrefix(id, prefix) {
			prefix = prefix[:len(prefix)-1]
		}
	}
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		prefix = prefix[:i+1]
	}
	return strings.Trim(prefix, "/") != ""
}

// warn returns a warning when pods × calls every interval is above half
// of perSecond, with the interval that brings it to half.
func warn(store string, q Quota, pods, calls int, interval time.Duration, perSecond float64) (Warning, bool) {
	perInterval := float64(pods) * float64(calls)
	rate := perInterval / interval.Seconds()
	if rate <= perSecond/2 {
		return Warning{}, false
	}
	suggested := halfQuotaInterval(perInterval, perSecond)
	w := Warning{
		Operation:                       q.Operation,
		FleetCallsPerSecond:             round3(rate),
		QuotaPerSecond:                  perSecond,
		SuggestedRefreshIntervalSeconds: suggested.Seconds(),
	}
	w.Message = fmt.Sprintf("WARNING %s: %d pods x %d %s calls every %s = %s calls/s, above half the published %s/s quota (%s); a refresh interval of %s or more brings it to half",
		store, pods, calls, q.Operation, shortDuration(interval), formatRate(rate), formatRate(perSecond), q.Scope, shortDuration(suggested))
	return w, true
}

// halfQuotaInterval is the interval over which calls run at half of
// perSecond, rounded up to a whole second, or to a whole minute when it
// is longer than one.
func halfQuotaInterval(calls, perSecond float64) time.Duration {
	secs := calls / (perSecond / 2)
	if secs <= 60 {
		return time.Duration(math.Ceil(secs)) * time.Second
	}
	return time.Duration(math.Ceil(secs/60)) * time.Minute
}

func ceilDiv(n, d int) int { return (n + d - 1) / d }

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// formatRate prints a rate with about three significant digits.
func formatRate(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100 || v == math.Trunc(v):
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 0.1:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'g', 2, 64)
}

// shortDuration prints d without trailing zero units: 9m, 1h, 1m30s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// WriteTable prints the plan: one row per store, then the definitions
// not counted, the warnings, the quotas and the assumptions. It says "no
// secret references" only when every definition was counted and none
// has one.
func (p Plan) WriteTable(w io.Writer) error {
	interval := time.Duration(p.RefreshIntervalSeconds * float64(time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%d definition(s) from %s; %d pod(s), refresh every %s\n", p.Definitions, p.Source, p.Pods, shortDuration(interval))
	if p.SkippedRefs > 0 {
		fmt.Fprintf(&b, "%d reference(s) skipped: no known store, or not a reference\n", p.SkippedRefs)
	}
	switch {
	case len(p.Stores) == 0 && len(p.NotCounted) == 0:
		b.WriteString("no secret references\n")
		_, err := io.WriteString(w, b.String())
		return err
	case len(p.Stores) == 0:
		fmt.Fprintf(&b, "nothing counted: %d definition(s) could not be counted\n", len(p.NotCounted))
		p.writeNotCounted(&b)
		_, err := io.WriteString(w, b.String())
		return err
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STORE\tIDS\tCALLS/PASS\tCALLS/REFRESH\tFLEET CALLS/S\tFLEET CALLS/S (REFRESH)\tQUOTA\tSTART-UP BURST\tDRAIN AT QUOTA")
	for _, s := range p.Stores {
		if s.Local {
			fmt.Fprintf(tw, "%s\t%d\tlocal\tlocal\t-\t-\t-\t-\t-\n", s.Store, s.IDs)
			continue
		}
		refresh := strconv.Itoa(s.CallsPerRefresh)
		if s.RefreshOperation != s.FetchOperation {
			refresh += " " + s.RefreshOperation
		}
		q, drain := "none published", "-"
		if s.Quota != nil && s.Quota.PerSecond > 0 {
			q = formatRate(s.Quota.PerSecond) + "/s " + s.Quota.Operation
			drain = shortDuration(time.Duration(s.StartupDrainSeconds) * time.Second)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d %s\t%s\t%s\t%s\t%s\t%d\t%s\n", s.Store, s.IDs, s.CallsPerPass, s.FetchOperation, refresh,
			formatRate(s.FleetCallsPerSecond), formatRate(s.FleetRefreshCallsPerSecond), q, s.StartupBurstCalls, drain)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(p.NotCounted) > 0 {
		fmt.Fprintf(&b, "\n%d definition(s) not counted: the numbers above leave their references out\n", len(p.NotCounted))
		p.writeNotCounted(&b)
	}
	var warned bool
	for _, s := range p.Stores {
		for _, wn := range s.Warnings {
			if !warned {
				b.WriteString("\n")
				warned = true
			}
			b.WriteString(wn.Message + "\n")
		}
	}
	b.WriteString("\nQuotas and refreshes:\n")
	for _, s := range p.Stores {
		if s.Local {
			fmt.Fprintf(&b, "  %s: local, no remote calls\n", s.Store)
			continue
		}
		for _, q := range []*Quota{s.Quota, s.ListQuota} {
			if q == nil {
				continue
			}
			line := fmt.Sprintf("  %s: %s %s", s.Store, q.Operation, q.Published)
			if q.Scope != "" {
				line += ", per " + q.Scope
			}
			if !q.Confirmed {
				line += " (unconfirmed)"
			}
			fmt.Fprintf(&b, "%s; %s\n", line, q.Source)
		}
		fmt.Fprintf(&b, "  %s: refresh: %s\n", s.Store, s.RefreshNote)
		if s.QuotaNote != "" {
			fmt.Fprintf(&b, "  %s: %s\n", s.Store, s.QuotaNote)
		}
	}
	b.WriteString("\nAssumptions:\n")
	for _, a := range p.Assumptions {
		fmt.Fprintf(&b, "  - %s\n", a)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeNotCounted lists the definitions not counted, one line each: the
// file, then its first problem (field, class and reason).
func (p Plan) writeNotCounted(b *strings.Builder) {
	for _, n := range p.NotCounted {
		more := ""
		if n.Problems > 1 {
			more = fmt.Sprintf(" (and %d more problem(s))", n.Problems-1)
		}
		fmt.Fprintf(b, "  %s: %s%s\n", n.Definition, n.Error, more)
	}
}
