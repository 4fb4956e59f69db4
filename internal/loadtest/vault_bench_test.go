package loadtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"omsecrets/internal/reconcile"
	"omsecrets/internal/testbed/vaulttest"
	"omsecrets/resolver/vault"
)

// vaultFields are the two fields of every fleet path in Vault; each
// definition references both, so its 8 paths make 16 references.
var vaultFields = [2]string{"value", "username"}

// vaultFieldRefs is the number of field references of the fleet.
const vaultFieldRefs = occurrences * len(vaultFields)

// vaultFleetConfig is pipeline i's workflow config referencing both
// fields of each of its 8 paths.
func vaultFleetConfig(i int) string {
	var opts []string
	for j, id := range fleetIDs(i) {
		for _, f := range vaultFields {
			opts = append(opts, fmt.Sprintf("%s_%d: \"secret:%s#%s\"", f, j, id, f))
		}
	}
	return fmt.Sprintf(`source:
  type: mysql
  serviceName: svc_%02d
  serviceConnection:
    config:
      type: Mysql
      username: reader
      hostPort: db:3306
      connectionOptions: {%s}
  sourceConfig:
    config:
      type: DatabaseMetadata
sink: {type: metadata-rest, config: {}}
workflowConfig:
  openMetadataServerConfig:
    hostPort: http://om:8585/api
    authProvider: openmetadata
    securityConfig: {jwtToken: "not-a-reference"}
    secretsManagerProvider: vault
`, i%services, strings.Join(opts, ", "))
}

func vaultFleet(b *testing.B) []reconcile.Job {
	b.Helper()
	dir := b.TempDir()
	jobs := make([]reconcile.Job, pipelines)
	for i := range jobs {
		jobs[i].Path = filepath.Join(dir, fmt.Sprintf("p_%03d.yaml", i))
		if err := os.WriteFile(jobs[i].Path, []byte(vaultFleetConfig(i)), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	return jobs
}

// vaultFleetServer is a Vault test server (TLS) holding every path of
// the fleet with its two fields, with netLatency per call.
func vaultFleetServer(b *testing.B) *vaulttest.Server {
	b.Helper()
	srv := vaulttest.New(b)
	for i := range pipelines {
		for _, id := range fleetIDs(i) {
			p := strings.TrimPrefix(id, "/")
			srv.Put(p, map[string]any{"value": "v" + id, "username": "u" + id})
		}
	}
	srv.SetLatency(netLatency)
	return srv
}

// newVaultReconciler is the reconciler cmd builds for the vault store:
// its default rate limit, KV version detected, token auth.
func newVaultReconciler(b *testing.B, srv *vaulttest.Server) *reconcile.Reconciler {
	b.Helper()
	hc, err := vault.NewHTTPClient(map[string]string{"SSL_CERT_FILE": srv.CACertFile()}, vault.TLS{})
	if err != nil {
		b.Fatal(err)
	}
	store, err := vault.New(b.Context(), vault.Options{Address: srv.URL(), HTTPClient: hc, Auth: vault.Auth{Token: srv.Token}})
	if err != nil {
		b.Fatal(err)
	}
	return storeReconciler(b, vault.Spec, store, false)
}

// BenchmarkVault100x8TwoFields compares, for Vault KV version 2 with two
// fields per path (1,600 field references over 272 paths), omsecrets cold
// (a: a new store, so the token lookup and the KV version detection are
// counted), warm within the TTL (b), and one read per reference
// occurrence, sequential, with no cache (c: what a provider that reads
// one field per call, like OpenMetadata's proposed OpenBao provider, PR
// #31984, does).
func BenchmarkVault100x8TwoFields(b *testing.B) {
	srv := vaultFleetServer(b)
	reads := func() int { return srv.CallsWithPrefix("secret/data/") }

	b.Run("a_cold", func(b *testing.B) {
		srv.Reset()
		defs := vaultFleet(b)
		calls, n := 0, 0
		for b.Loop() {
			r := newVaultReconciler(b, srv)
			before, beforeReads := srv.TotalCalls(), reads()
			resolveFleet(b, r, defs)
			calls, n = srv.TotalCalls()-before, reads()-beforeReads
		}
		b.ReportMetric(float64(calls), "calls/op")
		b.ReportMetric(float64(n), "reads/op")
		b.ReportMetric(float64(uniqueIDs), "min-reads")
		b.ReportMetric(float64(vaultFieldRefs), "field-refs")
	})

	b.Run("b_warm", func(b *testing.B) {
		r := newVaultReconciler(b, srv)
		defs := vaultFleet(b)
		resolveFleet(b, r, defs) // fill the cache
		calls := 0
		for b.Loop() {
			before := srv.TotalCalls()
			resolveFleet(b, r, defs)
			calls = srv.TotalCalls() - before
		}
		b.ReportMetric(float64(calls), "calls/op")
	})

	b.Run("c_read_per_reference", func(b *testing.B) {
		c, err := api.NewClient(&api.Config{Address: srv.URL(), HttpClient: srv.Client(), MaxRetries: 0})
		if err != nil {
			b.Fatal(err)
		}
		c.SetToken(srv.Token)
		kv := c.KVv2(vaulttest.DefaultMount)
		ctx := context.Background()
		calls := 0
		for b.Loop() {
			before := srv.TotalCalls()
			for i := range pipelines {
				for _, id := range fleetIDs(i) {
					for range vaultFields {
						if _, err := kv.Get(ctx, strings.TrimPrefix(id, "/")); err != nil {
							b.Fatal(err)
						}
					}
				}
			}
			calls = srv.TotalCalls() - before
		}
		b.ReportMetric(float64(calls), "calls/op")
	})
}
