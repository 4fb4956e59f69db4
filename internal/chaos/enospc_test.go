package chaos

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/daemon"
)

// pageSize is tmpfs's allocation unit here.
var pageSize = os.Getpagesize()

// tmpfsWorld is a world whose output directory is a size-limited tmpfs
// mounted in a private mount namespace that only the omsecrets process
// lives in (so nothing outside it is touched); the test reaches the files
// through /proc/<pid>/root.
type tmpfsWorld struct {
	*world
	mnt string // the mount point, as the process sees it
	p   *proc
}

// newTmpfsWorld mounts a tmpfs of sizeKiB over an empty directory in a new
// mount namespace and runs `omsecrets run` there with extra arguments.
func newTmpfsWorld(t *testing.T, defs, pad, sizeKiB int, extra ...string) *tmpfsWorld {
	t.Helper()
	w := newWorld(t, defs, pad, nil, 0)
	mnt := t.TempDir()
	w.out = mnt
	args := append([]string{"run", "--watch-dirs", w.defs, "--out-dir", mnt, "--file-dir", w.store, "--log-format", "json"},
		policyArgs(worldOMHost)...)
	p := newProc(t, nil, append(args, extra...)...)
	p.wrap = mountNS(t, `mount -t tmpfs -o size=`+fmt.Sprint(sizeKiB)+`k,mode=0700 omsecrets-chaos "$1"`, mnt)
	return &tmpfsWorld{world: w, mnt: mnt, p: p}
}

// view is the output directory as the process sees it: the tmpfs.
func (tw *tmpfsWorld) view() string { return fmt.Sprintf("/proc/%d/root%s", tw.p.Pid(), tw.mnt) }

// fill writes a hidden filler file in the tmpfs until it is full, and
// returns its path. The sink ignores it: it is neither an output nor one
// of its temporary files.
func (tw *tmpfsWorld) fill(t *testing.T) string {
	t.Helper()
	var st syscall.Statfs_t
	require.NoError(t, syscall.Statfs(tw.view(), &st))
	require.EqualValues(t, 0x01021994, uint32(st.Type), "the output directory must be the namespace's tmpfs")
	path := filepath.Join(tw.view(), ".chaos-filler")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	require.NoError(t, err)
	defer f.Close()
	chunk := bytes.Repeat([]byte{'F'}, pageSize)
	for {
		if _, err := f.Write(chunk); err != nil {
			require.True(t, errors.Is(err, syscall.ENOSPC), "filling the tmpfs: %v", err)
			break
		}
	}
	// A partial page write leaves the size unaligned; round down so that
	// freeing whole pages later frees exactly that many.
	fi, err := f.Stat()
	require.NoError(t, err)
	require.NoError(t, f.Truncate(fi.Size()/int64(pageSize)*int64(pageSize)))
	require.NoError(t, syscall.Statfs(tw.view(), &st))
	require.Zero(t, st.Bfree, "tmpfs not full after filling")
	return path
}

// free frees pages of the filler.
func free(t *testing.T, filler string, pages int) {
	t.Helper()
	fi, err := os.Stat(filler)
	require.NoError(t, err)
	require.NoError(t, os.Truncate(filler, max(fi.Size()-int64(pages*pageSize), 0)))
}

// TestChaosENOSPC fills the output tmpfs while a definition changes and a
// secret rotates. Outputs are three pages, status files one.
//
//  1. Full, not a page free: the old outputs stay byte for byte, no
//     temporary file is left, and /status, the log and
//     omsecrets_resolutions_total say write_failed naming the output
//     file; the status files (which cannot be written either) must not
//     claim the new definition.
//  2. One page free: room for a status file, not an output. The status
//     files must now say stale, write_failed, naming the file, with the
//     digest of the definition the kept output came from.
//  3. Space back: every output is the complete resolution of the current
//     state, current, within a few refreshes.
func TestChaosENOSPC(t *testing.T) {
	t.Parallel()
	tw := newTmpfsWorld(t, 3, 10000, 256, "--refresh-interval", "1s", "--watch-quiet", "20ms")
	p := tw.p
	p.Start()
	p.WaitReady(20 * time.Second)
	require.Empty(t, tw.verify(tw.view()), "before the fault:\n%s", p.tail())
	old := make([][]byte, tw.n)
	for i := range tw.n {
		var err error
		old[i], err = os.ReadFile(filepath.Join(tw.view(), tw.outName(i)))
		require.NoError(t, err)
		require.Greater(t, len(old[i]), 2*pageSize, "outputs must take three pages")
	}
	oldDigest := tw.versionDigest(0, 0)
	leaks := newLeakCheck()

	// 1. Full.
	filler := tw.fill(t)
	before := sumMetric(p.Metrics(), "omsecrets_resolutions_total", `result="write_failed"`)
	tw.mu.Lock()
	tw.writeDef(0, true, false) // d0: a new version, picked up by the watcher
	tw.rotateCreds(1)           // d1: a rotation, picked up by the refresh
	tw.mu.Unlock()
	newDigest := tw.versionDigest(0, 1)
	var d0err string
	took := waitFor(t, 15*time.Second, "no write_failed for d0 and d1 in /status", func() bool {
		n := 0
		for _, d := range p.Status().Definitions {
			if (strings.HasSuffix(d.Path, "/d0.json") || strings.HasSuffix(d.Path, "/d1.json")) && d.Class == "write_failed" && d.Stale {
				n++
				if strings.HasSuffix(d.Path, "/d0.json") {
					d0err = d.Error
				}
			}
		}
		return n == 2
	})
	assert.Contains(t, d0err, "d0.json", "the write_failed error must name the output file")
	assert.Contains(t, d0err, "no space left on device")
	after := sumMetric(p.Metrics(), "omsecrets_resolutions_total", `result="write_failed"`)
	assert.Greater(t, after, before, "omsecrets_resolutions_total{result=write_failed} did not count the failures")
	logged := false
	for _, l := range logLines(p.stderr.String()) {
		if l["class"] == "write_failed" && strings.Contains(fmt.Sprint(l["error"]), "d0.json") {
			logged = true
		}
	}
	assert.True(t, logged, "no log line with class write_failed naming d0.json")
	tw.checkKept(t, old, "full")
	st, ok := readFreshness(t, filepath.Join(tw.view(), tw.statusName(0)))
	require.True(t, ok)
	assert.NotEqual(t, newDigest, st.DefinitionSHA256, "full: d0's status file claims the definition whose output could not be written")
	phase1Status := st.State + "/" + st.Outcome
	leaks.snapshot(t, p, tw.view())

	// 2. One page free: a status file fits, an output does not.
	free(t, filler, 1)
	waitFor(t, 15*time.Second, "d0.status and d1.status never said stale/write_failed with a page free", func() bool {
		for i := range 2 {
			st, ok := readFreshness(t, filepath.Join(tw.view(), tw.statusName(i)))
			if !ok || st.State != daemon.StateStale || st.Outcome != "write_failed" {
				return false
			}
		}
		return true
	})
	st, _ = readFreshness(t, filepath.Join(tw.view(), tw.statusName(0)))
	assert.Equal(t, oldDigest, st.DefinitionSHA256, "d0's stale status file must name the definition its kept output came from")
	assert.Equal(t, tw.outName(0), st.Output)
	assert.Contains(t, st.Error, "d0.json")
	assert.Contains(t, st.Error, "no space left on device")
	tw.checkKept(t, old, "one page free")
	leaks.snapshot(t, p, tw.view())

	// 3. Space back.
	require.NoError(t, os.Remove(filler))
	var problems []string
	resumed, ok := eventually(20*time.Second, func() bool {
		problems = tw.verify(tw.view())
		return len(problems) == 0
	})
	assert.True(t, ok, "writing did not resume when space returned: %v", problems)
	assert.Empty(t, tempFiles(t, tw.view()))
	leaks.snapshot(t, p, tw.view())
	p.Stop()
	leaks.Check(t, p)
	t.Logf("CHAOS enospc method=tmpfs-size=256k-in-private-mount-namespace write_failed_after=%v write_failed_count=%v "+
		"status_file_when_full=%s stale_status_with_a_page_free=ok resumed_after=%v outputs_kept_intact=%v",
		took.Round(time.Millisecond), after-before, phase1Status, resumed.Round(time.Millisecond), !t.Failed())
}

// checkKept checks that the outputs are still old, byte for byte, except
// d2's (unchanged, so never rewritten), and that no temporary file is
// left.
func (tw *tmpfsWorld) checkKept(t *testing.T, old [][]byte, phase string) {
	t.Helper()
	for i := range tw.n {
		data, err := os.ReadFile(filepath.Join(tw.view(), tw.outName(i)))
		if assert.NoError(t, err, "%s: output d%d", phase, i) {
			assert.True(t, bytes.Equal(old[i], data), "%s: output d%d changed while the tmpfs was full", phase, i)
		}
	}
	assert.Empty(t, tempFiles(t, tw.view()), "%s: a failed write left its temporary file", phase)
}

// TestChaosENOSPCRetry: a write that failed for want of space is tried
// again soon once space returns, as a store outage is (retries from 5 s,
// doubling: within 12 s here), not only at the next refresh (5 minutes by default; 10 here),
// when the task waiting for the output has long failed.
func TestChaosENOSPCRetry(t *testing.T) {
	t.Parallel()
	tw := newTmpfsWorld(t, 1, 10000, 128, "--refresh-interval", "10m", "--watch-quiet", "20ms")
	p := tw.p
	p.Start()
	p.WaitReady(20 * time.Second)
	require.Empty(t, tw.verify(tw.view()), "before the fault:\n%s", p.tail())
	filler := tw.fill(t)
	tw.mu.Lock()
	tw.writeDef(0, true, false)
	tw.mu.Unlock()
	waitFor(t, 10*time.Second, "no write_failed", func() bool {
		s := p.Status()
		return len(s.Definitions) == 1 && s.Definitions[0].Class == "write_failed"
	})
	require.NoError(t, os.Remove(filler))
	var problems []string
	took, resumed := eventually(12*time.Second, func() bool {
		problems = tw.verify(tw.view())
		return len(problems) == 0
	})
	t.Logf("CHAOS enospc_retry refresh=10m resumed=%v after=%v", resumed, took.Round(time.Second))
	assert.Empty(t, problems, "BUG: 12 s after space returned the output is still not written: a write_failed "+
		"definition is not retried (reconcile.Transient is false for ClassWrite, so internal/daemon retries "+
		"schedules nothing) and waits for the next refresh")
	leaks := newLeakCheck()
	leaks.snapshot(t, p, tw.view())
	p.Stop()
	leaks.Check(t, p)
}

// TestChaosENOSPCStatusFile: when the tmpfs is full, a rotation cannot
// reach the output (write_failed) and the status file cannot be rewritten
// either. The status file left in place then says "current", outcome ok,
// with a freshUntil in the future and the same definition digest, so a
// task trusts an output holding the rotated-away secret although the
// last attempt failed. Removing a file needs no space: a status file that
// cannot be updated to a state other than current must not stay behind
// saying current.
func TestChaosENOSPCStatusFile(t *testing.T) {
	t.Parallel()
	tw := newTmpfsWorld(t, 1, 10000, 128, "--refresh-interval", "1s")
	p := tw.p
	p.Start()
	p.WaitReady(20 * time.Second)
	require.Empty(t, tw.verify(tw.view()), "before the fault:\n%s", p.tail())
	tw.fill(t)
	tw.mu.Lock()
	tw.rotateCreds(0)
	tw.mu.Unlock()
	waitFor(t, 10*time.Second, "no write_failed", func() bool {
		s := p.Status()
		return len(s.Definitions) == 1 && s.Definitions[0].Class == "write_failed" && s.Definitions[0].Stale
	})
	st, ok := readFreshness(t, filepath.Join(tw.view(), tw.statusName(0)))
	t.Logf("CHAOS enospc_status_file present=%v state=%s outcome=%s fresh_until_in_future=%v",
		ok, st.State, st.Outcome, ok && st.FreshUntil != nil && st.FreshUntil.After(time.Now()))
	if ok {
		assert.NotEqual(t, daemon.StateCurrent, st.State, "BUG: the tmpfs is full and the last attempt failed "+
			"(write_failed), but d0.status still says current/ok: internal/daemon outputs.writeStatus only logs "+
			"a failed write, leaving the old file that vouches for an output without the rotated secret")
	}
	leaks := newLeakCheck()
	leaks.snapshot(t, p, tw.view())
	p.Stop()
	leaks.Check(t, p)
}
