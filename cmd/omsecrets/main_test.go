package main

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/kubetest"
)

// TestMain runs the tests through kubetest.Main, which stops the real
// kube-apiserver and etcd the Kubernetes store's tests start (once per
// test binary, on first use).
func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

// TestHelpStoreTableAligns: in the store table of `omsecrets help` (and
// of the usage printed without a command), every row of storeTable has
// its providers in one column, at least two spaces after the longest
// store name, whatever the names' lengths.
func TestHelpStoreTableAligns(t *testing.T) {
	t.Parallel()
	help := omsecrets(t, nil, "help")
	require.Equal(t, 0, help.code)
	bare := omsecrets(t, nil)
	require.Equal(t, 2, bare.code)
	require.Equal(t, help.stdout, bare.stderr, "the same usage either way")

	_, table, ok := strings.Cut(help.stdout, "Stores (--provider, or a definition's secretsManagerProvider):\n")
	require.True(t, ok, help.stdout)
	lines := strings.Split(strings.TrimSuffix(table, "\n"), "\n")
	require.Len(t, lines, len(storeTable), "one row per store:\n%s", table)
	longest := 0
	for _, spec := range storeTable {
		longest = max(longest, len(spec.Name))
	}
	column := -1
	for i, spec := range storeTable {
		row := lines[i]
		require.True(t, strings.HasPrefix(row, "  "+spec.Name+" "), "row %d is %s's: %q", i, spec.Name, row)
		at := strings.Index(row, " "+strings.Join(spec.Providers, ", ")+": "+spec.Summary)
		require.Positive(t, at, "%s's providers and summary: %q", spec.Name, row)
		at++ // the column of the providers
		if column < 0 {
			column = at
		}
		assert.Equal(t, column, at, "%s's providers are not in the column of %s's:\n%s", spec.Name, storeTable[0].Name, table)
		assert.Equal(t, strings.Repeat(" ", at-2-len(spec.Name)), row[2+len(spec.Name):at], "only spaces between %s and its providers", spec.Name)
	}
	assert.GreaterOrEqual(t, column, 2+longest+2, "two spaces at least after the longest name")
}
