package chaos

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestChaosKillTempFileRemoved is what a SIGKILL in the middle of a write
// leaves: the sink's temporary file (".<name>.tmp-<16 hex>", mode 0600,
// holding resolved secrets) in the output directory, found by the next
// run. docs/outputs.md says such files "are removed by the next resolve or run
// once they are a minute old". A container restarted by its kubelet comes
// back within seconds, so its leftover is younger than a minute when the
// next run starts; that run must still remove it once it is a minute old,
// not keep it for as long as it runs.
//
// The leftovers are planted (a kill lands inside the microseconds a write
// takes too rarely to test by chance; TestChaosKill counts the ones it
// does leave): one 2 minutes old, which the start-up sweep removes, and
// one 50 s old, which must be gone five refreshes after it turned a
// minute old.
func TestChaosKillTempFileRemoved(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 2, 0, nil, 0)
	p := newProc(t, nil, w.runArgs("--refresh-interval", "1s", "--rescan-interval", "1s")...)
	binary(t) // build first: the ages below count from the start
	old := filepath.Join(w.out, ".d0.json.tmp-00112233445566aa")
	young := filepath.Join(w.out, ".d1.json.tmp-8899aabbccddeeff")
	now := time.Now()
	for path, age := range map[string]time.Duration{old: 2 * time.Minute, young: 50 * time.Second} {
		require.NoError(t, os.WriteFile(path, []byte(`{"password": "`+marker+`-left-by-a-kill"}`), 0o600))
		require.NoError(t, os.Chtimes(path, now.Add(-age), now.Add(-age)))
	}
	p.Start()
	p.WaitReady(20 * time.Second)
	require.Less(t, time.Since(now), 10*time.Second, "precondition: the run must start while the young file is under a minute old")
	assert.NoFileExists(t, old, "a temporary file older than a minute survived the start-up sweep")

	// The young one turns a minute old 10 s after it was planted; give the
	// run 5 s (five refreshes, five rescans) more.
	time.Sleep(time.Until(now.Add(15 * time.Second)))
	_, err := os.Stat(young)
	assert.ErrorIs(t, err, os.ErrNotExist,
		"BUG: a temporary file left by a killed write (holding secrets) is still in the output directory, aged %v (past a minute): `run` sweeps temporary files only at start-up (cmd/omsecrets/run.go s.sweep(out)), "+
			"so one younger than a minute then stays for the whole run", time.Since(now.Add(-50*time.Second)).Round(time.Second))
	p.Stop()
	leaks := newLeakCheck()
	leaks.snapshot(t, p, w.out)
	leaks.Check(t, p)
	t.Logf("CHAOS tempfile planted=2 old_removed_at_start=%v young_removed_after_a_minute=%v", !fileExists(old), !fileExists(young))
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
