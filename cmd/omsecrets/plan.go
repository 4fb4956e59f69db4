package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"omsecrets/internal/config"
	"omsecrets/internal/plan"
	"omsecrets/internal/reconcile"
	"omsecrets/internal/render"
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

// maxPods bounds --pods.
const maxPods = 100_000

// planOptions are plan's own settings, parsed and checked.
type planOptions struct {
	pods   int
	status *url.URL // nil: read the definitions
	json   bool
}

// runPlan is `omsecrets plan`: it counts the unique secret ids that
// DEFINITIONs (files, or directories read as run --once reads them; read
// as check reads them, but without fetching a reference) or a running
// sidecar's /status name, and prints internal/plan's report: per store,
// the calls a pass and a refresh make, the fleet's rate against the
// store's published quota, and the start-up burst of a rolling restart.
// It needs no store settings: a store they leave off is counted all the
// same (see countOnly).
func runPlan(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	cfg, sv, po, paths, err := parsePlan(args, environ, stderr)
	if err != nil {
		return err
	}
	var (
		counted plan.Counted
		failed  []*reconcile.Result
		s       *session
	)
	if po.status != nil {
		counted, err = plan.FromStatus(ctx, po.status, cfg.Timeout, storeTable)
		if err != nil {
			fmt.Fprintf(stderr, "omsecrets: --from-status %s: %v\n", displayURL(po.status), err)
			return errFailed
		}
	} else {
		// The references are counted, not fetched: a plan must not spend
		// the quota it sizes. What assembling a config needs (bot JWTs,
		// services, connection secrets) is still read.
		s, err = newSession(ctx, cfg, sv, stderr, sessionOptions{format: render.JSON, redact: true, countOnly: true})
		if err != nil {
			return err
		}
		if paths, err = s.definitions(paths); err != nil {
			return err
		}
		results := s.reconcile(ctx, paths)
		counted = plan.FromResults(results, s.res.HidesIDs)
		for _, r := range results {
			if r.Err != nil {
				failed = append(failed, r)
			}
		}
	}
	if ctx.Err() != nil {
		return errFailed
	}
	p := plan.Make(counted, storeTable, plan.Fleet{Pods: po.pods, Interval: cfg.RefreshInterval})
	if po.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(p)
	} else {
		err = p.WriteTable(stdout)
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

// countOnly makes the stores of plan's session: a store that the
// settings leave off becomes a stand-in, so that definitions naming it
// are counted all the same (counting reads no reference). Only what
// assembling a config reads from such a store (the bot JWT of an
// IngestionPipeline, a 0.12-0.13 connection secret) fails, saying what
// to set, and that definition alone is not counted.
func (st *stores) countOnly() {
	for name, why := range st.missing {
		st.getters[name] = unconfiguredStore{why: why}
		delete(st.missing, name)
	}
}

// unconfiguredStore stands in for a store whose settings leave it off.
type unconfiguredStore struct{ why error }

func (u unconfiguredStore) Get(context.Context, string) (resolver.Secret, error) {
	return resolver.Secret{}, notConfiguredError(u)
}

// notConfiguredError says what to set, in the unknown_store class of a
// definition naming a store that is off outside plan.
type notConfiguredError struct{ why error }

func (e notConfiguredError) Error() string { return e.why.Error() }

func (e notConfiguredError) Unwrap() []error { return []error{e.why, resolver.ErrUnknownStore} }

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
