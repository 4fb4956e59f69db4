package watch_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/watch"
)

func TestScan(t *testing.T) {
	t.Parallel()
	a, b := t.TempDir(), t.TempDir()
	for _, name := range []string{"p.json", "q.yaml", "r.YML", ".hidden.json", "x.json~", "notes.txt", "x.json.swp"} {
		require.NoError(t, os.WriteFile(filepath.Join(a, name), []byte("{}"), 0o644))
	}
	require.NoError(t, os.Mkdir(filepath.Join(a, "dir.json"), 0o755))
	require.NoError(t, os.Symlink("p.json", filepath.Join(a, "link.json")))
	require.NoError(t, os.Symlink("gone.json", filepath.Join(a, "dangling.json")))
	require.NoError(t, os.WriteFile(filepath.Join(b, "s.json"), []byte("{}"), 0o644))

	got, err := watch.Scan([]string{b, a})
	require.NoError(t, err)
	assert.Equal(t, []string{
		filepath.Join(a, "link.json"), filepath.Join(a, "p.json"), filepath.Join(a, "q.yaml"),
		filepath.Join(a, "r.YML"), filepath.Join(b, "s.json"),
	}, got)

	_, err = watch.Scan([]string{filepath.Join(a, "missing")})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "missing")
}
