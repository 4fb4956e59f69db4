package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/schematest"
)

var update = flag.Bool("update", false, "rewrite the examples' expected outputs")

const examplesDir = "../../examples/local"

// TestExamplesGolden resolves every example definition with the example
// file store and compares the output with its expected file, then
// validates it against OpenMetadata's workflow schema.
func TestExamplesGolden(t *testing.T) {
	t.Parallel()
	inputs, err := filepath.Glob(filepath.Join(examplesDir, "*.*"))
	require.NoError(t, err)
	require.NotEmpty(t, inputs)
	out := t.TempDir()
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			r := omsecrets(t, nil, "resolve", "--provider", "file", "--file-dir", filepath.Join(examplesDir, "secrets"),
				"--om-hosts", "http://openmetadata-server:8585", "--allow-ids", "/openmetadata/*",
				"--out-dir", out, "--allow-disk", in)
			require.Equal(t, 0, r.code, r.stderr)
			name := strings.TrimSuffix(filepath.Base(in), filepath.Ext(in)) + ".json"
			got, err := os.ReadFile(filepath.Join(out, name))
			require.NoError(t, err)
			golden := filepath.Join(examplesDir, "expected", name)
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(golden), 0o755))
				require.NoError(t, os.WriteFile(golden, got, 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test ./cmd/omsecrets -run TestExamplesGolden -update to create it")
			assert.Equal(t, string(want), string(got))
			assert.NotContains(t, string(got), "secret:/", "every reference resolved")
			schematest.RequireValid(t, golden, got)
		})
	}
}
