package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/azuretest"
	"omsecrets/internal/testbed/gcptest"
)

// stormWorld is a cloud store's server with throttling to switch and the
// arrival times of its reads.
type stormWorld struct {
	env      []string
	put      func(id, v string)
	id       func(i int) string
	throttle func(on bool)
	reads    func() []time.Time
}

var stormWorlds = map[string]func(t *testing.T) stormWorld{
	"azure-kv": func(t *testing.T) stormWorld {
		srv := azuretest.New(t)
		return stormWorld{env: srv.Env(), put: func(id, v string) { srv.PutSecret(id, v) },
			id: func(i int) string { return fmt.Sprintf("openmetadata-storm-%03d", i) }, throttle: srv.SetThrottling,
			reads: func() []time.Time {
				var out []time.Time
				for _, c := range srv.CallLog() {
					if c.Op == azuretest.OpGetSecret {
						out = append(out, c.At)
					}
				}
				return out
			}}
	},
	"gcp": func(t *testing.T) stormWorld {
		srv := gcptest.New(t)
		return stormWorld{env: srv.Env(), put: func(id, v string) { srv.PutSecret(id, v) },
			id: func(i int) string { return fmt.Sprintf("openmetadata_storm_%03d", i) }, throttle: srv.SetThrottling,
			reads: func() []time.Time {
				var out []time.Time
				for _, c := range srv.CallLog() {
					if c.Op == gcptest.OpAccessSecretVersion {
						out = append(out, c.At)
					}
				}
				return out
			}}
	},
}

// TestThrottlingStormOnTheWire: 60 secrets read while the store throttles
// every call for the first second. The resolve completes once throttling
// stops, every value right, and the store never sees more reads than the
// configured rate allows (rate × window + burst in any window).
func TestThrottlingStormOnTheWire(t *testing.T) {
	t.Parallel()
	const rate, burst, ids = 40, 5, 60
	for name, world := range stormWorlds {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := world(t)
			defs := t.TempDir()
			var args []string
			for d := range 6 {
				var b strings.Builder
				b.WriteString(workflowConfig("secret:"+w.id(d*10), "jwt-literal"))
				b.WriteString("extra:\n")
				for k := 1; k < 10; k++ {
					fmt.Fprintf(&b, "  r%d: \"secret:%s\"\n", k, w.id(d*10+k))
				}
				p := filepath.Join(defs, fmt.Sprintf("d%d.yaml", d))
				require.NoError(t, os.WriteFile(p, []byte(b.String()), 0o600))
				args = append(args, p)
			}
			for i := range ids {
				w.put(w.id(i), fmt.Sprintf("PLANTED-storm-%03d", i))
			}
			w.throttle(true)
			go func() {
				time.Sleep(time.Second)
				w.throttle(false)
			}()
			out := t.TempDir()
			start := time.Now()
			r := omsecrets(t, w.env, append([]string{"resolve", "--provider", name, "--allow-disk", "--out-dir", out,
				"--rate-limits", fmt.Sprintf("%s=%d:%d", name, rate, burst), "--cache-ttl", "0"}, args...)...)
			require.Equal(t, 0, r.code, r.stderr)
			took := time.Since(start)
			for d := range 6 {
				got := readFile(t, filepath.Join(out, fmt.Sprintf("d%d.json", d)))
				assert.Contains(t, got, fmt.Sprintf("PLANTED-storm-%03d", d*10))
			}
			reads := w.reads()
			assert.GreaterOrEqual(t, len(reads), ids, "every id read at least once")
			// The token bucket allows at most burst + rate × window calls in
			// any window. Arrival times are the server's: a call released by
			// the limiter may arrive up to jitter later than the next one
			// (scheduling, TLS, -race), so the window is widened by it.
			const jitter = 0.2
			worst := 0.0
			for i := range reads {
				for j := i; j < len(reads); j++ {
					window := reads[j].Sub(reads[i]).Seconds()
					allowed := float64(burst) + rate*(window+jitter)
					if excess := float64(j-i+1) - allowed; excess > worst {
						worst = excess
					}
				}
			}
			assert.LessOrEqual(t, worst, 0.0, "reads exceeded the rate limit by %.0f", worst)
			t.Logf("%s: %d reads (%d ids) in %s under a 1 s throttling storm, rate %d/s burst %d", name, len(reads), ids, took.Round(time.Millisecond), rate, burst)
			assert.NotContains(t, r.stdout+r.stderr, "PLANTED")
		})
	}
}
