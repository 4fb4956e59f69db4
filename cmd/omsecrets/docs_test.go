package main

import (
	"bytes"
	"context"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// docMarker matches the start of a generated section.
var docMarker = regexp.MustCompile(`<!-- BEGIN GENERATED ([a-z-]+) [^\n]*-->\n`)

// docFiles are the Markdown files that may hold generated sections.
func docFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../../docs/*.md")
	require.NoError(t, err)
	return append([]string{"../../README.md"}, files...)
}

// TestDocs keeps the generated sections of README.md and docs/ equal to
// what the code's tables make (docSections); with -update (make docs) it
// rewrites them instead. Every section must appear somewhere.
func TestDocs(t *testing.T) {
	t.Parallel()
	sections := docSections()
	seen := map[string]bool{}
	for _, path := range docFiles(t) {
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		text := string(data)
		var out strings.Builder
		rest := text
		for {
			loc := docMarker.FindStringSubmatchIndex(rest)
			if loc == nil {
				out.WriteString(rest)
				break
			}
			name := rest[loc[2]:loc[3]]
			gen, ok := sections[name]
			require.True(t, ok, "%s: unknown generated section %q (known: %v)", path, name, slices.Sorted(maps.Keys(sections)))
			seen[name] = true
			end := "<!-- END GENERATED " + name + " -->"
			j := strings.Index(rest[loc[1]:], end)
			require.True(t, j >= 0, "%s: section %q has no %q", path, name, end)
			got, want := rest[loc[1]:loc[1]+j], gen()
			if !*update {
				assert.Equal(t, want, got, "%s: section %q differs from what the code makes; run make docs", path, name)
			}
			out.WriteString(rest[:loc[1]])
			out.WriteString(want)
			rest = rest[loc[1]+j:]
		}
		if *update && out.String() != text {
			require.NoError(t, os.WriteFile(path, []byte(out.String()), 0o644))
			t.Logf("rewrote %s", path)
		}
	}
	for name := range sections {
		assert.True(t, seen[name], "no file holds the generated section %q", name)
	}
}

// TestDocsFlagSetsMatchHelp checks docFlagSet against what each command
// accepts: the flags its -h lists, made by the command's own parser.
func TestDocsFlagSetsMatchHelp(t *testing.T) {
	t.Parallel()
	helpFlag := regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`)
	for _, cmd := range docCommands {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{cmd, "-h"}, nil, &stdout, &stderr)
		require.Equal(t, 0, code, stderr.String())
		var help []string
		for _, m := range helpFlag.FindAllStringSubmatch(stderr.String(), -1) {
			help = append(help, m[1])
		}
		var doc []string
		docFlagSet(cmd).VisitAll(func(f *flag.Flag) { doc = append(doc, f.Name) })
		slices.Sort(help)
		assert.NotEmpty(t, help, cmd)
		assert.Equal(t, help, doc, "the flags of %s in the docs and in its -h", cmd)
	}
}

// TestDocsDefaults checks that the defaults the configuration reference
// states for Config's flags are what the code applies when nothing is
// set, and that every flag and variable of the code has a row.
func TestDocsDefaults(t *testing.T) {
	t.Parallel()
	ref := configurationMarkdown()
	for _, cmd := range docCommands {
		docFlagSet(cmd).VisitAll(func(f *flag.Flag) {
			assert.Contains(t, ref, "| `--"+f.Name+"` |", cmd)
		})
	}
	for _, set := range storeSettings() {
		for _, v := range settingVars(set) {
			assert.Contains(t, ref, "`"+v+"`", set.Name)
		}
	}
	for _, want := range []string{
		"| `--timeout` | `OMSECRETS_TIMEOUT` | `1m` |",
		"| `--refresh-interval` | `OMSECRETS_REFRESH_INTERVAL` | `5m` |",
		"| `--watch-quiet` | `OMSECRETS_WATCH_QUIET` | `300ms` |",
		"| `--adaptive-rate` | `OMSECRETS_ADAPTIVE_RATE` | `true` |",
		"| `--pods` | `OMSECRETS_PLAN_PODS` | 1 |",
		"| `--env-prefix` | `OMSECRETS_ENV_PREFIX` | `OMSECRETS_SECRET_` |",
		"| `--aws-region` | `OMSECRETS_AWS_REGION`, `AWS_REGION`, ",
		"| `--http-addr` | `OMSECRETS_HTTP_ADDR` | `127.0.0.1:8686` | run | address for ",
	} {
		assert.Contains(t, ref, want)
	}
}
