package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"omsecrets/internal/config"
	"omsecrets/internal/reconcile"
	"omsecrets/internal/render"
	"omsecrets/internal/status"
	"omsecrets/resolver"
)

// planFlags are plan's own flags. Their environment twins are read by
// plan itself: they are no part of config.Config, which the other
// commands share.
var planFlags = []flagSpec{
	{"pods", "PLAN_PODS", "sidecars in the fleet (one per Airflow worker pod), all sharing each store's quota (default 1)"},
	{"from-status", "PLAN_FROM_STATUS", `count the references a running "omsecrets run" lists at this http:// or https:// URL (its /status) instead of reading DEFINITIONs`},
	{"output", "PLAN_OUTPUT", "table or json (default table)"},
}

// planRefreshFlag is run's --refresh-interval, which plan takes as the
// fleet's.
func planRefreshFlag() []flagSpec {
	for _, s := range runFlags {
		if s.name == "refresh-interval" {
			return []flagSpec{s}
		}
	}
	panic("no refresh-interval flag")
}

// Bounds of plan's inputs.
const (
	maxPods = 100_000
	// maxStatusBody bounds a /status document: a sidecar with a thousand
	// definitions of twenty references each serves about 6 MiB.
	maxStatusBody = 16 << 20
)

// planOptions are plan's own settings, parsed and checked.
type planOptions struct {
	pods   int
	status *url.URL // nil: read the definitions
	json   bool
}

// Per-page sizes of the change-detection listings.
const (
	listSecretsPage        = 100 // ListSecrets MaxResults
	describeParametersPage = 50  // DescribeParameters MaxResults
	keyVaultListPage       = 25  // Get Secrets maxresults
)

// runPlan is `omsecrets plan`: it counts the unique secret ids that
// DEFINITIONs (read as check reads them, but without fetching a
// reference) or a running sidecar's /status name, and prints, per store,
// the calls a pass and a refresh make, the fleet's rate against the
// store's published quota, and the start-up burst of a rolling restart.
func runPlan(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	cfg, sv, po, paths, err := parsePlan(args, environ, stderr)
	if err != nil {
		return err
	}
	var (
		ids     planIDs
		source  = "definitions"
		defs    = len(paths)
		skipped int
		failed  []*reconcile.Result
		s       *session
	)
	if po.status != nil {
		source = "status"
		ids, defs, skipped, err = idsFromStatus(ctx, po.status, cfg.Timeout)
		if err != nil {
			fmt.Fprintf(stderr, "omsecrets: --from-status %s: %v\n", displayURL(po.status), err)
			return errFailed
		}
	} else {
		s, err = newSession(ctx, cfg, sv, stderr, sessionOptions{format: render.JSON, redact: true})
		if err != nil {
			return err
		}
		// The references are counted, not fetched: a plan must not spend
		// the quota it sizes. What assembling a config needs (bot JWTs,
		// services, connection secrets) is still read.
		s.recon = s.recon.CollectOnly()
		results := s.reconcile(ctx, paths)
		ids = idsFromResults(results, s.res.HidesIDs)
		for _, r := range results {
			if r.Err != nil {
				failed = append(failed, r)
			}
		}
	}
	if ctx.Err() != nil {
		return errFailed
	}
	p := makePlan(ids, po.pods, cfg.RefreshInterval)
	p.Source, p.Definitions, p.SkippedRefs = source, defs, skipped
	if po.status != nil {
		p.Assumptions = append(slices.Clip(p.Assumptions), statusAssumption)
	}
	if po.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(p)
	} else {
		err = p.writeTable(stdout)
	}
	if err != nil {
		return fmt.Errorf("write standard output: %w", err)
	}
	// Failures go to the log after the plan, as check's do.
	for _, r := range failed {
		s.reportFailure(r.Path, r.Err)
	}
	if len(failed) > 0 {
		return errFailed
	}
	return nil
}

// parsePlan is parseCommand for plan, whose own flags are no part of
// config.Config: check's flags, --refresh-interval, the store settings
// and planFlags.
func parsePlan(args, environ []string, stderr io.Writer) (config.Config, *storeValues, planOptions, []string, error) {
	var po planOptions
	env := config.EnvMap(environ)
	sv := &storeValues{env: env}
	cfg, err := config.Load(environ)
	if err != nil {
		return cfg, nil, po, nil, &usageError{err}
	}
	raw := map[string]*string{}
	given := map[string]bool{}
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: omsecrets plan [flags] DEFINITION...\n       omsecrets plan [flags] --from-status URL\n\nFlags:\n")
		fs.PrintDefaults()
	}
	for _, specs := range [][]flagSpec{commonFlags, planRefreshFlag(), omFlags} {
		bind(fs, &cfg, specs)
	}
	for _, s := range planFlags {
		v := strings.TrimSpace(env[config.Prefix+s.env])
		raw[s.name] = &v
		fs.Func(s.name, fmt.Sprintf("%s (env %s%s)", s.usage, config.Prefix, s.env), func(arg string) error {
			*raw[s.name] = arg
			given[s.name] = true
			return nil
		})
	}
	bindStoreFlags(fs, sv)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return cfg, nil, po, nil, err
	}
	if err := cfg.Validate(); err != nil {
		return cfg, nil, po, nil, &usageError{err}
	}
	hint := func(name string) string {
		for _, s := range planFlags {
			if s.name == name {
				return "--" + name + " / " + config.Prefix + s.env
			}
		}
		return "--" + name
	}
	po.pods = 1
	if v := *raw["pods"]; v != "" || given["pods"] {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPods {
			// The value is not echoed: it may be anything.
			return cfg, nil, po, nil, usagef("%s: want a whole number from 1 to %d", hint("pods"), maxPods)
		}
		po.pods = n
	}
	switch v := *raw["output"]; v {
	case "", "table":
	case "json":
		po.json = true
	default:
		return cfg, nil, po, nil, usagef("%s: want table or json", hint("output"))
	}
	if v := *raw["from-status"]; v != "" || given["from-status"] {
		u, err := parseStatusURL(v)
		if err != nil {
			return cfg, nil, po, nil, usagef("%s: %w", hint("from-status"), err)
		}
		po.status = u
	}
	switch {
	case po.status != nil && len(pos) > 0:
		return cfg, nil, po, nil, usagef("plan takes DEFINITIONs or --from-status, not both")
	case po.status == nil && len(pos) == 0:
		return cfg, nil, po, nil, usagef("plan needs at least one DEFINITION, or --from-status URL")
	}
	return cfg, sv, po, pos, nil
}

// parseArgs parses args, which may mix flags and positional arguments
// ("--" ends the flags), as parseCommand does, and returns the
// positional ones.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos, rest []string
	for i, a := range args {
		if a == "--" {
			args, rest = args[:i], args[i+1:]
			break
		}
	}
	for {
		if err := parseFlags(fs, args, fs.Output()); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, &usageError{err}
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return append(pos, rest...), nil
}

// parseStatusURL checks a --from-status URL: http or https, a host, no
// credentials. A URL without a path asks for /status.
func parseStatusURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("want the http:// or https:// address of a running omsecrets run, not a %q URL", resolver.Clip(u.Scheme))
	}
	if u.Host == "" {
		return nil, errors.New("the URL has no host")
	}
	if u.User != nil {
		return nil, errors.New("the URL holds credentials; /status needs none")
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/status"
	}
	u.Fragment = ""
	return u, nil
}

// displayURL is u as messages print it: without its query, which the
// caller may have put a token in.
func displayURL(u *url.URL) string {
	c := *u
	c.RawQuery, c.User = "", nil
	return resolver.Clip(c.String())
}

// planIDs maps each store to the set of its unique secret ids (the fetch
// unit). The ids of stores whose ids are values are kept here to be
// counted, and never printed.
type planIDs map[string]map[string]bool

func (p planIDs) add(store, id string) {
	if p[store] == nil {
		p[store] = make(map[string]bool)
	}
	p[store][id] = true
}

// idsFromResults collects the secret ids the results read or would read:
// their Uses (one per secret whatever its #keys, in the stores routes
// send them to, fallbacks included), and the references of stores whose
// ids are values, which Uses leave out.
func idsFromResults(results []*reconcile.Result, hidesIDs func(string) bool) planIDs {
	ids := make(planIDs)
	for _, r := range results {
		for _, u := range r.Uses {
			ids.add(u.Store, u.ID)
		}
		for _, o := range r.Refs {
			for st := range strings.SplitSeq(r.StoreOf(o.Ref), "|") {
				if hidesIDs(st) {
					ids.add(st, o.Ref.ID)
				}
			}
		}
	}
	return ids
}

// idsFromStatus reads a running sidecar's /status and collects the ids
// of the references it lists. The document is not trusted: its size is
// bounded, the request timed, and references that name no known store
// or do not parse are skipped and counted. It returns the ids, the
// number of definitions and of references skipped.
func idsFromStatus(ctx context.Context, u *url.URL, timeout time.Duration) (planIDs, int, int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, 0, 0, errors.New("not a URL")
	}
	req.Header.Set("Accept", "application/json")
	client := &http.Client{
		// A redirect is not followed: /status answers itself.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, 0, 0, requestError(ctx, err, timeout)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, 0, fmt.Errorf("answered %d %s, want 200", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxStatusBody+1))
	if err != nil {
		return nil, 0, 0, requestError(ctx, err, timeout)
	}
	if len(data) > maxStatusBody {
		return nil, 0, 0, fmt.Errorf("the document is larger than %d MiB", maxStatusBody>>20)
	}
	var snap status.Snapshot
	if err := json.Unmarshal(data, &snap); err != nil {
		return nil, 0, 0, fmt.Errorf("not a /status document: %s", jsonProblem(err))
	}
	known := make(map[string]bool, len(storeTable))
	for _, s := range storeTable {
		known[s.Name] = true
	}
	ids := make(planIDs)
	skipped := 0
	for _, d := range snap.Definitions {
		for _, r := range d.Refs {
			stores := strings.Split(r.Store, "|")
			ref, err := resolver.ParseRef(r.Ref)
			if err != nil || len(stores) > 2 || !allKnown(stores, known) {
				skipped++
				continue
			}
			for _, st := range stores {
				id := ref.ID
				if id == resolver.Redacted {
					// The store's ids are values, printed redacted: count
					// each reference.
					id = d.Path + "\x00" + r.Field
				}
				ids.add(st, id)
			}
		}
	}
	return ids, len(snap.Definitions), skipped, nil
}

func allKnown(stores []string, known map[string]bool) bool {
	for _, s := range stores {
		if !known[s] {
			return false
		}
	}
	return true
}

// requestError words a failed request in one line, without the URL the
// net/http error repeats (and its query).
func requestError(ctx context.Context, err error, timeout time.Duration) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("no answer within %s (--timeout)", timeout)
	}
	return errors.New(oneLine(err.Error()))
}

// jsonProblem words a decoding error without quoting the document.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("a JSON %s where %s wants a %s", te.Value, cmp.Or(te.Field, "the document"), te.Type)
	}
	return oneLine(err.Error())
}

// oneLine clips s and folds it onto one line.
func oneLine(s string) string {
	return resolver.Clip(strings.Join(strings.Fields(s), " "))
}

// fleetPlan is plan's report; its JSON field names are stable.
type fleetPlan struct {
	// Source is "definitions" or "status".
	Source string `json:"source"`
	// Definitions is the number of definitions read.
	Definitions int `json:"definitions"`
	// SkippedRefs counts /status references that named no known store
	// or did not parse.
	SkippedRefs            int         `json:"skippedRefs"`
	Pods                   int         `json:"pods"`
	RefreshIntervalSeconds float64     `json:"refreshIntervalSeconds"`
	Stores                 []storePlan `json:"stores"`
	// Assumptions are what the numbers rest on.
	Assumptions []string `json:"assumptions"`
}

// storePlan is one store's load.
type storePlan struct {
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
	Quota     *quota `json:"quota,omitempty"`
	ListQuota *quota `json:"listQuota,omitempty"`
	QuotaNote string `json:"quotaNote,omitempty"`
	// StartupBurstCalls is pods × CallsPerPass, all at once (a rolling
	// restart), and StartupDrainSeconds how long the fleet needs for it
	// at the quota (0 without one).
	StartupBurstCalls   int64         `json:"startupBurstCalls"`
	StartupDrainSeconds float64       `json:"startupDrainSeconds"`
	Warnings            []planWarning `json:"warnings,omitempty"`
}

// planWarning is a rate above half a quota.
type planWarning struct {
	Operation           string  `json:"operation"`
	FleetCallsPerSecond float64 `json:"fleetCallsPerSecond"`
	QuotaPerSecond      float64 `json:"quotaPerSecond"`
	// SuggestedRefreshIntervalSeconds brings the rate to half the quota,
	// rounded up to a whole second, or minute above one.
	SuggestedRefreshIntervalSeconds float64 `json:"suggestedRefreshIntervalSeconds"`
	Message                         string  `json:"message"`
}

// planAssumptions are stated with every plan.
var planAssumptions = []string{
	"every pod holds the same definitions (one dag_generated_configs) and reads each id once per pass",
	"a full pass runs at start-up and on a refresh whose change detection is refused or fails; the warnings compare it with the fetch quota",
	"calls per refresh are the steady-state bound with change detection; each changed id adds its share of a fetch batch (assumed few between refreshes)",
	"ids routed to a store with a fallback are counted in both",
	"rates are at the nominal refresh interval (it is jittered by up to 10%)",
}

// statusAssumption is added to a plan made from /status.
const statusAssumption = "from /status: the references it lists; what assembling a config reads besides them (bot JWTs of pipelines, OpenMetadata 0.12-0.13 connection secrets) is not listed there"

// makePlan computes every store's load for a fleet of pods refreshing
// every interval.
func makePlan(ids planIDs, pods int, interval time.Duration) fleetPlan {
	p := fleetPlan{Pods: pods, RefreshIntervalSeconds: interval.Seconds(), Stores: []storePlan{}, Assumptions: planAssumptions}
	for _, spec := range storeTable {
		set := ids[spec.Name]
		if len(set) == 0 {
			continue
		}
		sp := storePlan{Store: spec.Name, IDs: len(set), BatchSize: max(spec.BatchSize, 1)}
		q, hasQuotas := quotas[spec.Name]
		if !hasQuotas {
			sp.Local = true
			p.Stores = append(p.Stores, sp)
			continue
		}
		sp.FetchOperation = q.fetch.Operation
		sp.CallsPerPass = ceilDiv(sp.IDs, sp.BatchSize)
		sp.RefreshOperation, sp.CallsPerRefresh, sp.RefreshNote = refreshModel(spec.Name, set, sp.CallsPerPass, q.fetch.Operation)
		fq := q.fetch
		sp.Quota = &fq
		if q.list != nil && sp.RefreshOperation == q.list.Operation {
			lq := *q.list
			sp.ListQuota = &lq
		}
		sp.QuotaNote = q.note
		rate := func(calls int) float64 { return float64(pods) * float64(calls) / interval.Seconds() }
		sp.FleetCallsPerSecond = round3(rate(sp.CallsPerPass))
		sp.FleetRefreshCallsPerSecond = round3(rate(sp.CallsPerRefresh))
		sp.StartupBurstCalls = int64(pods) * int64(sp.CallsPerPass)
		if per, ok := publishedQuota(spec.Name); ok {
			sp.StartupDrainSeconds = math.Ceil(float64(sp.StartupBurstCalls) / per)
			if w, ok := warn(spec.Name, fq, pods, sp.CallsPerPass, interval, per); ok {
				sp.Warnings = append(sp.Warnings, w)
			}
		}
		if per, ok := listQuota(spec.Name); ok && sp.ListQuota != nil {
			if w, ok := warn(spec.Name, *sp.ListQuota, pods, sp.CallsPerRefresh, interval, per); ok {
				sp.Warnings = append(sp.Warnings, w)
			}
		}
		p.Stores = append(p.Stores, sp)
	}
	return p
}

// refreshModel returns the operation and number of calls of a refresh of
// ids with store's change detection, and what it rests on.
func refreshModel(store string, ids map[string]bool, full int, fetchOp string) (string, int, string) {
	n := len(ids)
	switch store {
	case "aws":
		if sharedPrefix(ids) {
			return "ListSecrets", ceilDiv(n, listSecretsPage), "ListSecrets, 100 per page, filtered by the ids' name prefix: ceil(ids/100) when the prefix holds only these secrets (others under it add pages, never beyond a full read); plus the changed ids' BatchGetSecretValue calls"
		}
		return fetchOp, full, "the ids share no name prefix, so no bounded ListSecrets can vouch for them: a refresh is a full read"
	case "aws-ssm":
		if sharedPrefix(ids) {
			return "DescribeParameters", ceilDiv(n, describeParametersPage), "DescribeParameters, 50 per page, filtered by the ids' name prefix: ceil(ids/50) when the prefix holds only these parameters (others under it add pages, never beyond a full read); plus the changed ids' GetParameters calls"
		}
		return fetchOp, full, "the ids share no name prefix, so no bounded DescribeParameters can vouch for them: a refresh is a full read"
	case "azure-kv":
		return "GetSecrets", ceilDiv(n, keyVaultListPage), "Get Secrets (list), 25 per page over the whole vault: ceil(ids/25) when the vault holds only these secrets (others add pages, never beyond a full read); plus the changed ids' GetSecret calls"
	case "kubernetes":
		return "watch", 0, "0 while the store's watches hold (each Secret it read is watched); a watch that is refused leaves its Secrets to full reads"
	}
	return fetchOp, full, "no change detection: a refresh is a full read"
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
func warn(store string, q quota, pods, calls int, interval time.Duration, perSecond float64) (planWarning, bool) {
	perInterval := float64(pods) * float64(calls)
	rate := perInterval / interval.Seconds()
	if rate <= perSecond/2 {
		return planWarning{}, false
	}
	suggested := halfQuotaInterval(perInterval, perSecond)
	w := planWarning{
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

// writeTable prints the plan: one row per store, then the warnings, the
// quotas and the assumptions.
func (p fleetPlan) writeTable(w io.Writer) error {
	interval := time.Duration(p.RefreshIntervalSeconds * float64(time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%d definition(s) from %s; %d pod(s), refresh every %s\n", p.Definitions, p.Source, p.Pods, shortDuration(interval))
	if p.SkippedRefs > 0 {
		fmt.Fprintf(&b, "%d reference(s) skipped: no known store, or not a reference\n", p.SkippedRefs)
	}
	if len(p.Stores) == 0 {
		b.WriteString("no secret references\n")
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
		for _, q := range []*quota{s.Quota, s.ListQuota} {
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
