package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"

	"omsecrets/internal/config"
	"omsecrets/internal/reconcile"
	"omsecrets/resolver"
	"omsecrets/resolver/awssm"
	"omsecrets/resolver/awsssm"
	"omsecrets/resolver/azurekv"
	"omsecrets/resolver/db"
	"omsecrets/resolver/envvar"
	"omsecrets/resolver/file"
	"omsecrets/resolver/gcpsm"
	"omsecrets/resolver/k8s"
	"omsecrets/resolver/vault"
)

// storeTable is every store omsecrets can build. Adding a store is its
// package, one row here, go.mod and `make docs`: the provider names, the
// rate-limit keys, the settings' flags and variables, --help and the docs'
// store tables come from this table, and TestStoreTableConformance runs the conformance
// suite against every row.
var storeTable = []resolver.Spec{
	db.Spec,
	envvar.Spec,
	file.Spec,
	awssm.Spec,
	awsssm.Spec,
	azurekv.Spec,
	gcpsm.Spec,
	k8s.Spec,
	vault.Spec,
}

// providers is the provider table of storeTable.
var providers = reconcile.NewProviders(storeTable)

// storeSettings returns the settings of every store, each once (stores
// may share one, like the AWS region), in table order.
func storeSettings() []resolver.Setting {
	var out []resolver.Setting
	seen := map[string]bool{}
	for _, s := range storeTable {
		for _, set := range s.Settings {
			if !seen[set.Name] {
				seen[set.Name] = true
				out = append(out, set)
			}
		}
	}
	return out
}

// storeValues holds the values of the store settings: flags over the
// OMSECRETS_ twin over the other variables over the default.
type storeValues struct {
	flags map[string]string // set on the command line
	env   map[string]string
}

// bindStoreFlags registers a flag for every store setting.
func bindStoreFlags(fs *flag.FlagSet, v *storeValues) {
	v.flags = make(map[string]string)
	for _, set := range storeSettings() {
		usage := fmt.Sprintf("%s (env %s)", set.Usage, strings.Join(settingVars(set), ", "))
		if set.Default != "" {
			usage += fmt.Sprintf(" (default %q)", set.Default)
		}
		fs.Func(set.Name, usage, func(s string) error {
			v.flags[set.Name] = s
			return nil
		})
	}
}

// settingVars lists the environment variables of a setting, in order of
// precedence.
func settingVars(set resolver.Setting) []string {
	return append([]string{set.Twin(config.Prefix)}, set.Env...)
}

// get returns a setting's value and where it came from ("" if unset).
func (v *storeValues) get(set resolver.Setting) (value, source string) {
	if s, ok := v.flags[set.Name]; ok {
		return s, "--" + set.Name
	}
	for _, name := range settingVars(set) {
		if s := strings.TrimSpace(v.env[name]); s != "" {
			return s, name
		}
	}
	return set.Default, ""
}

// settingHint names what sets a setting: its flag and variables.
func settingHint(name string) string {
	for _, set := range storeSettings() {
		if set.Name == name {
			return "--" + name + " / " + strings.Join(settingVars(set), ", ")
		}
	}
	return name
}

// notConfigured turns a store's NotConfiguredError into what to set.
func notConfigured(nc *resolver.NotConfiguredError) error {
	hints := make([]string, len(nc.Need))
	for i, n := range nc.Need {
		hints[i] = settingHint(n)
	}
	return fmt.Errorf("the %s store is not configured (set %s)", nc.Store, strings.Join(hints, " or "))
}

// stores are the stores a configuration builds, and why the others are
// not built.
type stores struct {
	getters map[string]resolver.Getter
	missing map[string]error // store name -> what to set
	once    sync.Once
}

// close closes every store that holds something past a call (io.Closer:
// resolver.Spec's lifetime contract), once.
func (st *stores) close() {
	st.once.Do(func() {
		for _, name := range slices.Sorted(maps.Keys(st.getters)) {
			if c, ok := st.getters[name].(io.Closer); ok {
				_ = c.Close()
			}
		}
	})
}

// buildStores builds every store of the table that its settings turn on.
// A store left off is recorded in missing, so that a definition needing
// it fails with what to set; --provider naming it is a usage error. A
// setting that is wrong is a usage error.
func buildStores(ctx context.Context, provider string, v *storeValues, logger *slog.Logger) (_ *stores, err error) {
	out := &stores{getters: make(map[string]resolver.Getter), missing: make(map[string]error)}
	defer func() {
		if err != nil {
			out.close() // the stores opened before the failure
		}
	}()
	for _, spec := range storeTable {
		cfg := resolver.StoreConfig{Settings: make(map[string]string), Env: v.env, Logger: logger.With("store", spec.Name)}
		var sources []string
		for _, set := range spec.Settings {
			val, src := v.get(set)
			cfg.Settings[set.Name] = val
			if src != "" {
				sources = append(sources, settingHint(set.Name))
			}
		}
		g, err := spec.Open(ctx, cfg)
		var nc *resolver.NotConfiguredError
		switch {
		case errors.As(err, &nc):
			out.missing[spec.Name] = notConfigured(nc)
		case err != nil:
			what := "store " + spec.Name
			if len(sources) > 0 {
				what = strings.Join(sources, ", ")
			}
			return nil, usagef("%s: %w", what, err)
		default:
			out.getters[spec.Name] = g
		}
	}
	if provider != "" {
		store, err := providers.StoreFor(provider)
		if err == nil && out.missing[store] != nil {
			err = fmt.Errorf("%w %q: %w", reconcile.ErrNoStore, provider, out.missing[store])
		}
		if err != nil {
			return nil, usagef("--provider / %sPROVIDER: %w", config.Prefix, err)
		}
	}
	return out, nil
}

// limits returns the client-side rate limits: each store's default, then
// --rate-limits. A key that names no store is a usage error (aws_ssm=5
// would otherwise limit nothing).
func limits(cfg config.Config) (map[string]resolver.Limit, error) {
	out := make(map[string]resolver.Limit)
	names := make([]string, 0, len(storeTable))
	for _, s := range storeTable {
		names = append(names, s.Name)
		if s.Limit != (resolver.Limit{}) {
			out[s.Name] = s.Limit
		}
	}
	given, _ := cfg.Limits() // validated
	for store, l := range given {
		if !slices.Contains(names, store) {
			return nil, usagef("--rate-limits / %sRATE_LIMITS: unknown store %q (stores: %s)", config.Prefix, store, strings.Join(names, ", "))
		}
		out[store] = resolver.Limit{Rate: l.Rate, Burst: l.Burst}
	}
	for store, l := range out {
		l.Fixed = !cfg.AdaptiveRate
		out[store] = l
	}
	return out, nil
}

// defaultLimitsHelp describes the stores' default rate limits for --help.
func defaultLimitsHelp() string {
	var parts []string
	for _, s := range storeTable {
		if s.Limit.Rate > 0 {
			parts = append(parts, fmt.Sprintf("%s=%g", s.Name, s.Limit.Rate))
		}
	}
	return strings.Join(parts, ", ")
}

// storesMarkdown is the store table of docs/stores.md, made from
// storeTable (TestDocs keeps the committed copy equal to it).
func storesMarkdown() string {
	var b strings.Builder
	b.WriteString("| provider | store | reads | ids per call | default rate limit | settings |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, s := range storeTable {
		provs := make([]string, len(s.Providers))
		for i, p := range s.Providers {
			provs[i] = "`" + p + "`"
		}
		rate := "none"
		if s.Limit.Rate > 0 {
			rate = fmt.Sprintf("%g calls/s", s.Limit.Rate)
		}
		var sets []string
		for _, set := range s.Settings {
			sets = append(sets, "`--"+set.Name+"`")
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %d | %s | %s |\n", strings.Join(provs, ", "), s.Name, s.Summary, s.BatchSize, rate, orDash(strings.Join(sets, ", ")))
	}
	return b.String()
}

// storesHelp lists the stores for the usage text, the providers aligned
// after the longest store name.
func storesHelp() string {
	var b strings.Builder
	b.WriteString("Stores (--provider, or a definition's secretsManagerProvider):\n")
	width := 0
	for _, s := range storeTable {
		width = max(width, len(s.Name))
	}
	for _, s := range storeTable {
		fmt.Fprintf(&b, "  %-*s  %s: %s\n", width, s.Name, strings.Join(s.Providers, ", "), s.Summary)
	}
	return b.String()
}
