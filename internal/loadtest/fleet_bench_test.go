package loadtest

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"omsecrets/internal/testbed/awstest"
	"omsecrets/internal/testbed/omtest"
	"omsecrets/resolver/resolvertest"
)

// The fleet simulation (issue "Fleet scale"): fleetPods omsecrets
// processes, the real binary, started at once over the same
// fleetDefinitions definitions, against one AWS test server whose
// Parameter Store answers within the account-wide standard throughput
// (40 GetParameters calls/s for all of them, awstest.QuotaSSMStandard).
const (
	fleetPods        = 50
	fleetDefinitions = 500
	fleetServices    = 100
	fleetRefsPerSvc  = 5 // 500 unique parameter ids, 50 GetParameters calls per pod per pass
	// fleetRefresh is each sidecar's refresh interval: long enough that
	// the start-up storm is over before the first refresh (±10%).
	fleetRefresh = 150 * time.Second
	// fleetReadyCap bounds the wait for every sidecar to become ready.
	fleetReadyCap = 130 * time.Second
	// describeQuota is the rate assumed for DescribeParameters, whose
	// quota AWS does not publish: the standard throughput's.
	describeQuota = 40
)

// fleetWorld is the shared part: OpenMetadata, the AWS test server with
// its quota, and the definitions directory every sidecar watches.
type fleetWorld struct {
	om   *omtest.Server
	aws  *awstest.Server
	defs string
}

func newFleetWorld(b *testing.B) *fleetWorld {
	b.Helper()
	w := &fleetWorld{
		om: omtest.New(b),
		aws: awstest.New(b,
			awstest.WithQuota(awstest.QuotaSSMStandard, awstest.Quota{PerSecond: 40}),
			awstest.WithQuota(awstest.QuotaDescribeParameters, awstest.Quota{PerSecond: describeQuota})),
		defs: b.TempDir(),
	}
	w.aws.PutParameter("/openmetadata/bot/ingestion-bot/config/jwttoken", w.om.BotToken("ingestion-bot"), true)
	for s := range fleetServices {
		name := fmt.Sprintf("svc_%03d", s)
		id := func(k int) string { return fmt.Sprintf("/openmetadata/database/%s/f%d", name, k) }
		opts := map[string]any{}
		for k := range fleetRefsPerSvc {
			w.aws.PutParameter(id(k), fmt.Sprintf("pw-%s-%d", name, k), true)
			if k > 0 {
				opts[fmt.Sprintf("opt%d", k)] = "secret:" + id(k)
			}
		}
		w.om.PutService("databaseService", omtest.ServiceEntity(name, "Mysql", map[string]any{
			"username": "reader", "authType": map[string]any{"password": "secret:" + id(0)},
			"hostPort": name + ":3306", "connectionOptions": opts,
		}))
	}
	for i := range fleetDefinitions {
		name := fmt.Sprintf("pipe_%03d", i)
		svc := fmt.Sprintf("svc_%03d", i%fleetServices)
		data := pipelineJSON(w.om.URL(), name, svc, "aws-ssm", false)
		if err := os.WriteFile(filepath.Join(w.defs, name+".json"), data, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	return w
}

// pod is one sidecar process.
type pod struct {
	cmd      *exec.Cmd
	httpBase string
	stderr   *resolvertest.LogBuffer
	ready    time.Duration // since the fleet's start; 0 if never
}

// startPod starts one sidecar with args.
func (w *fleetWorld) startPod(b *testing.B, bin string, args []string) *pod {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	out, err := os.MkdirTemp("/dev/shm", "omsecrets-fleet-")
	if err != nil {
		out = b.TempDir()
	} else {
		b.Cleanup(func() { _ = os.RemoveAll(out) })
	}
	p := &pod{httpBase: "http://" + addr, stderr: &resolvertest.LogBuffer{}}
	args = append([]string{"run", "--watch-dirs", w.defs, "--out-dir", out, "--allow-disk", "--http-addr", addr,
		"--log-level", "warn", "--refresh-interval", fleetRefresh.String()}, args...)
	p.cmd = startBinary(b, bin, args, w.aws, w.om, p.stderr)
	return p
}

func (p *pod) isReady() bool {
	resp, err := http.Get(p.httpBase + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// BenchmarkFleet50 runs the fleet with today's behaviour (fixed rates,
// full refreshes, no start jitter) and with the fleet settings (the
// defaults: adaptive rates, change-detecting refresh, start jitter), and
// reports for each: the time until every sidecar was ready, throttled
// responses, the peak accepted and throttled GetParameters rates in any
// one second against the 40/s quota, and the store calls per sidecar in
// one refresh pass.
func BenchmarkFleet50(b *testing.B) {
	for _, mode := range []struct {
		name string
		args []string
	}{
		{"today", []string{"--adaptive-rate=false", "--change-detection=false", "--start-jitter=0"}},
		{"fleet-defaults", nil},
	} {
		b.Run(mode.name, func(b *testing.B) {
			for range b.N {
				fleetRun(b, fleetPods, mode.args)
			}
		})
	}
}

// BenchmarkFleet1 is the same world with one sidecar alone, with the
// fleet defaults: its ready time is what the start-up pacing must not
// slow (a sidecar alone is never throttled). It stops once the sidecar
// is ready: there is no fleet's refresh to measure.
func BenchmarkFleet1(b *testing.B) {
	for range b.N {
		fleetRun(b, 1, nil)
	}
}

func fleetRun(b *testing.B, n int, args []string) {
	bin, err := buildOnce()
	if err != nil {
		b.Fatal(err)
	}
	w := newFleetWorld(b)
	b.ResetTimer()
	start := time.Now()
	pods := make([]*pod, n)
	for i := range pods {
		pods[i] = w.startPod(b, bin, args)
	}
	// Readiness, polled.
	var wg sync.WaitGroup
	for _, p := range pods {
		wg.Go(func() {
			for time.Since(start) < fleetReadyCap {
				if p.isReady() {
					p.ready = time.Since(start)
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	var readyTimes []time.Duration
	notReady := 0
	for _, p := range pods {
		if p.ready == 0 {
			notReady++
			continue
		}
		readyTimes = append(readyTimes, p.ready)
	}
	allReady := time.Since(start)
	if len(readyTimes) > 0 {
		allReady = slices.Max(readyTimes)
	}
	startThrottled := w.aws.Throttled()
	startAccepted, startThrottledPeak := w.aws.PeakRate(awstest.QuotaSSMStandard)
	// The Parameter Store reads so far, and the throttled ones among them.
	startCalls, startCallsThrottled := 0, 0
	for _, c := range w.aws.CallLog() {
		if c.Target == awstest.TargetGetParameters || c.Target == awstest.TargetGetParameter {
			startCalls++
			if c.Throttled {
				startCallsThrottled++
			}
		}
	}
	minimum := quotaMinimum(startCalls - startCallsThrottled)
	if n == 1 {
		b.StopTimer()
		b.ReportMetric(allReady.Seconds(), "ready-s")
		b.ReportMetric(float64(notReady), "not-ready")
		b.ReportMetric(float64(startThrottled), "throttled-startup")
		b.Logf("one sidecar alone, %d definitions, %d unique ids: ready after %v; %d Parameter Store reads, %d throttled",
			fleetDefinitions, fleetServices*fleetRefsPerSvc+1, allReady.Round(time.Millisecond), startCalls, startCallsThrottled)
		return
	}

	// One refresh pass: every sidecar refreshes between 0.9 and 1.1
	// refresh intervals after its start; wait until all have, plus the
	// time a pass takes at the quota.
	end := start.Add(fleetRefresh*11/10 + 40*time.Second)
	time.Sleep(time.Until(end))
	refreshFrom := start.Add(max(allReady, fleetRefresh*9/10))
	counts := map[string]int{}
	throttledInRefresh := 0
	for _, c := range w.aws.CallLog() {
		if c.At.Before(refreshFrom) || c.At.After(end) {
			continue
		}
		counts[c.Target]++
		if c.Throttled {
			throttledInRefresh++
		}
	}
	b.StopTimer()

	b.ReportMetric(allReady.Seconds(), "all-ready-s")
	if len(readyTimes) > 0 {
		b.ReportMetric(percentile(readyTimes, 0.5).Seconds(), "ready-p50-s")
	}
	b.ReportMetric(float64(notReady), "not-ready")
	b.ReportMetric(float64(startThrottled), "throttled-startup")
	b.ReportMetric(100*float64(startCallsThrottled)/float64(max(startCalls, 1)), "throttled-startup-%")
	b.ReportMetric(allReady.Seconds()/minimum.Seconds(), "ready/minimum")
	b.ReportMetric(float64(startAccepted), "peak-ok/s")
	b.ReportMetric(float64(startThrottledPeak), "peak-throttled/s")
	b.ReportMetric(float64(counts[awstest.TargetGetParameters])/fleetPods, "refresh-GetParameters/pod")
	b.ReportMetric(float64(counts[awstest.TargetDescribeParameters])/fleetPods, "refresh-DescribeParameters/pod")
	b.ReportMetric(float64(throttledInRefresh), "throttled-refresh")
	b.Logf("%d sidecars, %d definitions, %d unique ids: all ready after %v (%.2fx the quota-limited minimum %v) (%d not within %v); %d throttled at start-up (%d of %d Parameter Store reads); peak %d accepted and %d throttled GetParameters/GetParameter calls in one second (quota 40/s); refresh pass: %v calls, %d throttled",
		n, fleetDefinitions, fleetServices*fleetRefsPerSvc+1, allReady.Round(time.Millisecond), allReady.Seconds()/minimum.Seconds(), minimum.Round(time.Millisecond), notReady, fleetReadyCap,
		startThrottled, startCallsThrottled, startCalls, startAccepted, startThrottledPeak, counts, throttledInRefresh)
	if notReady > 0 {
		b.Logf("a sidecar that did not become ready said: %s", lastLines(pods, 5))
	}
}

// quotaMinimum is the quota-limited minimum start-up: the accepted
// Parameter Store calls at the quota's 40/s.
func quotaMinimum(accepted int) time.Duration {
	return time.Duration(float64(accepted) / 40 * float64(time.Second))
}

// lastLines returns the last n lines of the first not-ready pod's stderr.
func lastLines(pods []*pod, n int) string {
	for _, p := range pods {
		if p.ready == 0 {
			s := p.stderr.String()
			lines := splitLines(s)
			return fmt.Sprint(lines[max(0, len(lines)-n):])
		}
	}
	return ""
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := range len(s) {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}
