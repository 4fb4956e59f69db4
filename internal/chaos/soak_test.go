package chaos

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/awstest"
)

// TestChaosSoak runs `omsecrets run` over many definitions (a quarter of
// them resolving in AWS, the rest in the file store) while a mutator
// makes changes at a steady rate: new versions written in place and by
// rename, broken edits, deletions and re-creations, secret rotations.
// Every 3 s every output is sampled (world.consistent); every second the
// process's VmRSS, open descriptors and go_goroutines are read. After the
// changes stop, every definition must end in the right state
// (world.verify), and nothing may grow without bound: the last third's
// peak RSS within 1.5x (+16 MiB) of the first third's, goroutines within
// 1.5x (+20), and at the end goroutines and descriptors back near the
// baseline taken before the changes began.
func TestChaosSoak(t *testing.T) {
	t.Parallel()
	defs := size(100, 1000)
	rate := size(50, 100)
	duration := size(10*time.Second, 10*time.Minute)
	refresh := size("2s", "15s")
	aws := awstest.New(t)
	w := newWorld(t, defs, 200, aws, 4)
	p := newProc(t, awsEnv(aws, ""), w.runArgs("--refresh-interval", refresh, "--rescan-interval", "30s")...)
	leaks := newLeakCheck(aws.SecretKey)
	p.Start()
	p.WaitReady(2 * time.Minute)
	if _, ok := eventually(time.Minute, func() bool { return len(w.verify(w.out)) == 0 }); !ok {
		t.Fatalf("before the soak: %v\n%s", w.verify(w.out), p.tail())
	}
	time.Sleep(time.Second)
	start := time.Now()
	base, err := p.Sample(start)
	require.NoError(t, err)

	var (
		mu      sync.Mutex
		samples []sample
		sampled int
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 3))
	every(&wg, stop, time.Second/time.Duration(rate), func() { w.mutate(r) }) // the mutator
	every(&wg, stop, time.Second, func() {                                    // resources
		if s, err := p.Sample(start); err == nil {
			mu.Lock()
			samples = append(samples, s)
			mu.Unlock()
		} else {
			t.Errorf("sample: %v", err)
		}
	})
	deadline := time.Now().Add(duration)
	for time.Now().Before(deadline) {
		time.Sleep(min(3*time.Second, time.Until(deadline)))
		n, problems := w.sampleOutputs(w.out)
		sampled += n
		for _, pr := range problems {
			t.Error(pr)
		}
		leaks.snapshot(t, p, w.out)
	}
	close(stop)
	wg.Wait()

	var problems []string
	converged, ok := eventually(2*time.Minute, func() bool {
		problems = w.verify(w.out)
		return len(problems) == 0
	})
	assert.True(t, ok, "after the soak, not every definition is in the right state: %v", problems)
	time.Sleep(3 * time.Second) // idle: let connections and goroutines wind down
	final, err := p.Sample(start)
	require.NoError(t, err)
	leaks.snapshot(t, p, w.out)

	require.GreaterOrEqual(t, len(samples), 6, "too few samples")
	third := len(samples) / 3
	first, last := samples[:third], samples[len(samples)-third:]
	peak := func(ss []sample, f func(sample) int64) int64 {
		return slices.Max(func() []int64 {
			out := make([]int64, len(ss))
			for i, s := range ss {
				out[i] = f(s)
			}
			return out
		}())
	}
	rss := func(s sample) int64 { return s.rssKiB }
	gor := func(s sample) int64 { return int64(s.goroutines) }
	fds := func(s sample) int64 { return int64(s.fds) }
	assert.LessOrEqual(t, peak(last, rss), peak(first, rss)*3/2+16<<10, "RSS grows: last third's peak vs the first's")
	assert.LessOrEqual(t, peak(last, gor), peak(first, gor)*3/2+20, "goroutines grow: last third's peak vs the first's")
	assert.LessOrEqual(t, final.goroutines, base.goroutines*3/2+20, "goroutines do not return near the baseline")
	assert.LessOrEqual(t, final.fds, base.fds+16, "open descriptors do not return near the baseline")

	p.Stop()
	scanned := leaks.Check(t, p)
	w.mu.Lock()
	defer w.mu.Unlock()
	t.Logf("CHAOS soak defs=%d rate=%d/s duration=%v changes=%d (def_writes=%d broken=%d deletes=%d rotations=%d shared=%d) "+
		"sampled_outputs=%d converged_after=%v "+
		"rss_kib base=%d peak=%d final=%d first_third_peak=%d last_third_peak=%d "+
		"goroutines base=%d peak=%d final=%d fds base=%d peak=%d final=%d samples=%d leak_scan_bytes=%d",
		defs, rate, duration, w.writes+w.invalids+w.deletes+w.rotations+w.sharedRotations-defs-1-defs,
		w.writes-defs, w.invalids, w.deletes, w.rotations-defs, w.sharedRotations-1,
		sampled, converged.Round(time.Millisecond),
		base.rssKiB, peak(samples, rss), final.rssKiB, peak(first, rss), peak(last, rss),
		base.goroutines, peak(samples, gor), final.goroutines, base.fds, peak(samples, fds), final.fds,
		len(samples), scanned)

}
