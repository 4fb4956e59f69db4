package chaos

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// staleTempAge is the age after which omsecrets documents that it removes
// a temporary file a crash left (docs/outputs.md; cmd/omsecrets
// staleTempAge).
const staleTempAge = time.Minute

// TestChaosKill kills `omsecrets run` with SIGKILL at random moments (at
// start-up, in the first pass, between passes, in the middle of writes)
// while a mutator rewrites definitions (atomically and in place), breaks
// and deletes them and rotates secrets. After each kill the mutator
// pauses, the process is started again, and once /readyz answers every
// output and status file must match the current state exactly (see
// world.verify), and every temporary file the sink left must be younger
// than staleTempAge (older ones are documented as removed). While it runs,
// every output is sampled and must be a complete resolution of some state
// that existed (world.consistent).
func TestChaosKill(t *testing.T) {
	t.Parallel()
	cycles := size(15, 200)
	defs := size(20, 50)
	rate := size(40, 60) // changes per second while running
	w := newWorld(t, defs, 2000, nil, 0)
	p := newProc(t, nil, w.runArgs("--refresh-interval", "400ms", "--cache-ttl", "0",
		"--watch-quiet", "20ms", "--watch-max-wait", "200ms", "--rescan-interval", "2s")...)
	leaks := newLeakCheck()
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))

	// The mutator runs while gate is open.
	var gate sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	seed := r.Uint64()
	mr := rand.New(rand.NewPCG(seed, 2))
	every(&wg, stop, time.Second/time.Duration(rate), func() {
		gate.Lock()
		w.mutate(mr)
		gate.Unlock()
	})
	defer func() { close(stop); wg.Wait() }()

	var (
		readyTimes       []time.Duration
		sampled, tmpSeen int
		beforeReady      int
		startupKills     int
		verified         int
	)
	p.Start()
	for c := range cycles {
		// Kill at a random moment: after up to 1.5 s of changes, and in a
		// quarter of the cycles also once at start-up, within the first
		// 60 ms (the first pass takes about 20 ms here).
		deadline := time.Now().Add(time.Duration(r.IntN(1500)) * time.Millisecond)
		for time.Now().Before(deadline) {
			n, problems := w.sampleOutputs(w.out)
			sampled += n
			for _, pr := range problems {
				t.Errorf("cycle %d: %s", c, pr)
			}
			time.Sleep(time.Duration(20+r.IntN(80)) * time.Millisecond)
		}
		if r.IntN(4) == 0 {
			p.Kill()
			p.Start()
			time.Sleep(time.Duration(r.IntN(60)) * time.Millisecond)
			if code, _, err := p.get("/readyz"); err != nil || code != 200 {
				beforeReady++
			}
			startupKills++
		}
		p.Kill()

		gate.Lock() // nothing changes until this restart is verified
		p.Start()
		readyTimes = append(readyTimes, p.WaitReady(30*time.Second))
		// Nothing changes; refreshes may still rewrite status files, which
		// is fine: they must say the same.
		problems := w.verify(w.out)
		for _, pr := range problems {
			t.Errorf("cycle %d, after restart: %s", c, pr)
		}
		if len(problems) > 0 {
			t.Logf("cycle %d log tail:\n%s", c, p.tail())
		}
		verified += defs
		temps := tempFiles(t, w.out)
		tmpSeen += len(temps)
		for name, age := range temps {
			assert.Less(t, age, staleTempAge+5*time.Second, "cycle %d: temporary file %s (age %v) outlived a pass of the run after it was a minute old", c, name, age)
		}
		leaks.snapshot(t, p, w.out)
		gate.Unlock()
		if t.Failed() {
			break
		}
	}
	p.Stop()
	scanned := leaks.Check(t, p)

	slices.Sort(readyTimes)
	w.mu.Lock()
	defer w.mu.Unlock()
	t.Logf("CHAOS kill cycles=%d defs=%d startup_kills=%d (before_ready=%d) restarts_ready=%d verified_outputs=%d sampled_outputs=%d "+
		"def_writes=%d (in_place=%d atomic=%d) broken_edits=%d deletes=%d creds_rotations=%d shared_rotations=%d "+
		"tmp_left_after_pass=%d ready_p50=%v ready_max=%v leak_scan_bytes=%d failed=%v",
		cycles, defs, startupKills, beforeReady, len(readyTimes), verified, sampled,
		w.writes, w.inPlace, w.atomicOps, w.invalids, w.deletes, w.rotations, w.sharedRotations,
		tmpSeen, readyTimes[len(readyTimes)/2].Round(time.Millisecond), readyTimes[len(readyTimes)-1].Round(time.Millisecond),
		scanned, t.Failed())
	require.Equal(t, cycles, len(readyTimes), "every restart must become ready")
}
