package main

import (
	"flag"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"omsecrets/internal/config"
	"omsecrets/resolver"
)

// The parts of README.md and docs/ that are made from the code's own
// tables: the flag definitions (flags.go, plan.go, probe.go, run.go), the
// store settings and the store table (stores.go, each store's Spec).
// Each lies between
//
//	<!-- BEGIN GENERATED name -->
//	<!-- END GENERATED name -->
//
// in a committed file; TestDocs fails when a file's copy differs from
// what the code makes, and `make docs` (go test -run '^TestDocs$' -update)
// rewrites them.

// docCommands are the commands that take flags, in the order the docs
// list them.
var docCommands = []string{"resolve", "check", "run", "plan", "probe"}

// docSections maps each generated section's name to its maker.
func docSections() map[string]func() string {
	return map[string]func() string{
		"stores":        storesMarkdown,
		"store-list":    storeListMarkdown,
		"configuration": configurationMarkdown,
	}
}

// docFlagSet builds the flag set of a command as the command itself
// does (parseCommand, parsePlan), with every default the code gives it
// when nothing is set. TestDocsFlagSetsMatchHelp checks it against each
// command's -h.
func docFlagSet(name string) *flag.FlagSet {
	cfg, err := config.Load(nil)
	if err != nil {
		panic("config defaults: " + err.Error())
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	groups := commandFlags()[name]
	if name == "plan" {
		groups = [][]flagSpec{commonFlags, planRefreshFlag(), omFlags}
	}
	for _, specs := range groups {
		bind(fs, &cfg, specs)
	}
	if name == "plan" {
		for _, s := range planFlags {
			fs.Func(s.name, s.usage, func(string) error { return nil })
		}
	}
	if name != "probe" {
		bindStoreFlags(fs, &storeValues{})
	}
	return fs
}

// docFlagSpecs are every flagSpec group, for the environment variable
// and meaning of a flag.
func docFlagSpecs() []flagSpec {
	return slices.Concat(commonFlags, outputFlags, runFlags, omFlags, planFlags, probeFlags)
}

// docRow is one row of the configuration reference: a flag with one
// meaning, and the commands that take it.
type docRow struct {
	flag, env, def, meaning string
	commands                []string
}

var (
	// usageDefault matches a default stated at the end of a usage text:
	// "(default 1)", "(defaults: aws=100, ...)", "; default: the ...".
	usageDefault = regexp.MustCompile(`^(.*?)(?:\s*\(defaults?:? ([^()]*)\)|;\s*default:\s*(.*))$`)
	// docCode matches flag and environment variable names, which
	// meanings set in code type.
	docCode = regexp.MustCompile(`--[a-z][a-z0-9-]*|\$?\b[A-Z][A-Z0-9]*_[A-Z0-9_]*[A-Z0-9]\b`)
)

// docDefault returns the default of a flag, as a Markdown table cell,
// and its meaning without it: the value the code sets, else the default
// the usage text states.
func docDefault(defValue, usage string) (def, meaning string) {
	meaning = usage
	if m := usageDefault.FindStringSubmatch(usage); m != nil {
		meaning = m[1]
		def = docText(m[2] + m[3])
	}
	switch defValue {
	case "", "0s", "0":
	default:
		def = "`" + strings.ReplaceAll(docDuration(defValue), "|", `\|`) + "`"
	}
	return def, meaning
}

// docDuration writes a time.Duration's String without its zero tails
// ("5m0s" as "5m", "1h0m0s" as "1h"); other values are kept.
func docDuration(s string) string {
	if strings.HasSuffix(s, "h0m0s") {
		return strings.TrimSuffix(s, "0m0s")
	}
	if strings.HasSuffix(s, "m0s") && !strings.HasSuffix(s, "ms") {
		return strings.TrimSuffix(s, "0s")
	}
	return s
}

// docText escapes text for a Markdown table cell and sets flag and
// variable names in code type.
func docText(s string) string {
	s = strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;", "*", `\*`).Replace(s)
	return docCode.ReplaceAllString(s, "`$0`")
}

// configurationMarkdown is the configuration reference: for each command
// its flags, then every flag with its environment variables, default and
// meaning.
func configurationMarkdown() string {
	// A flag name may have two specs (run's --http-addr and probe's):
	// the one whose usage the flag carries is the flag's.
	specFor := func(f *flag.Flag) (flagSpec, bool) {
		for _, s := range docFlagSpecs() {
			if s.name == f.Name && strings.HasPrefix(f.Usage, s.usage) {
				return s, true
			}
		}
		return flagSpec{}, false
	}
	settings := map[string]resolver.Setting{}
	for _, set := range storeSettings() {
		settings[set.Name] = set
	}
	var rows, storeRows []*docRow
	byKey := map[string]*docRow{}
	perCommand := map[string][]string{}
	for _, cmd := range docCommands {
		docFlagSet(cmd).VisitAll(func(f *flag.Flag) {
			perCommand[cmd] = append(perCommand[cmd], f.Name)
			key := f.Name + "\x00" + f.Usage
			if r := byKey[key]; r != nil {
				r.commands = append(r.commands, cmd)
				return
			}
			r := &docRow{flag: f.Name, commands: []string{cmd}}
			byKey[key] = r
			if set, ok := settings[f.Name]; ok {
				r.env = "`" + strings.Join(settingVars(set), "`, `") + "`"
				r.def, r.meaning = docDefault(set.Default, set.Usage)
				storeRows = append(storeRows, r)
				return
			}
			s, ok := specFor(f)
			if !ok {
				panic("docs: flag without a flagSpec: " + f.Name)
			}
			r.env = "`" + config.Prefix + s.env + "`"
			defValue := f.DefValue
			if slices.Contains(planFlags, s) {
				defValue = "" // plan's own flags are parsed by plan, which states their defaults
			}
			r.def, r.meaning = docDefault(defValue, s.usage)
			rows = append(rows, r)
		})
	}
	var b strings.Builder
	b.WriteString("### Flags by command\n\n")
	b.WriteString("| command | flags |\n|---|---|\n")
	for _, cmd := range docCommands {
		var own []string
		stores := 0
		for _, name := range perCommand[cmd] {
			if _, ok := settings[name]; ok {
				stores++
				continue
			}
			own = append(own, "`--"+name+"`")
		}
		line := strings.Join(own, ", ")
		if stores > 0 {
			line += fmt.Sprintf(", and the %d store settings", stores)
		}
		fmt.Fprintf(&b, "| `%s` | %s |\n", cmd, line)
	}
	b.WriteString("\n### Flags\n\n")
	writeDocRows(&b, "environment", rows)
	b.WriteString("\n### Store settings\n\n")
	b.WriteString("Each store setting is a flag, its `OMSECRETS_` twin and the further variables listed after it, in order of\n")
	b.WriteString("precedence (a flag wins over every variable); the stores that read it are in [stores.md](stores.md).\n\n")
	writeDocRows(&b, "environment, in order", storeRows)
	return b.String()
}

// writeDocRows writes rows as a Markdown table.
func writeDocRows(b *strings.Builder, envHeader string, rows []*docRow) {
	fmt.Fprintf(b, "| flag | %s | default | commands | meaning |\n|---|---|---|---|---|\n", envHeader)
	for _, r := range rows {
		fmt.Fprintf(b, "| `--%s` | %s | %s | %s | %s |\n", r.flag, r.env, r.def, strings.Join(r.commands, ", "), docText(r.meaning))
	}
}

// storeListMarkdown is the README's list of stores: each store, the
// provider names that select it and what it reads.
func storeListMarkdown() string {
	var b strings.Builder
	for _, s := range storeTable {
		word := "provider"
		if len(s.Providers) > 1 {
			word = "providers"
		}
		fmt.Fprintf(&b, "- `%s` (%s `%s`): %s\n", s.Name, word, strings.Join(s.Providers, "`, `"), docText(s.Summary))
	}
	return b.String()
}
