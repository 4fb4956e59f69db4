package loadtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"hash/crc32"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cloud.google.com/go/auth/credentials"
	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	grpccreds "google.golang.org/grpc/credentials"

	"omsecrets/internal/reconcile"
	"omsecrets/internal/testbed/gcptest"
	"omsecrets/resolver"
	"omsecrets/resolver/gcpsm"
)

// gcpID is OpenMetadata's Secret Manager id for a fleet id: "_" as the
// separator, no leading one, and every character outside [A-Za-z0-9_]
// deleted from the parts (GCPSecretsManager's SecretsIdConfig), e.g.
// openmetadata_bot_ingestionbot_config_jwttoken.
func gcpID(id string) string {
	parts := strings.Split(strings.TrimPrefix(id, "/"), "/")
	for i, p := range parts {
		parts[i] = strings.Map(func(r rune) rune {
			if r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' {
				return r
			}
			return -1
		}, p)
	}
	return strings.Join(parts, "_")
}

// gcpFleet writes the fleet's workflow configs with Secret Manager ids
// and provider gcp, and returns their jobs.
func gcpFleet(b *testing.B) []reconcile.Job {
	b.Helper()
	dir := b.TempDir()
	jobs := make([]reconcile.Job, pipelines)
	for i := range jobs {
		cfg := fleetConfig(i, "gcp")
		for _, id := range fleetIDs(i) {
			cfg = strings.ReplaceAll(cfg, `"secret:`+id+`"`, `"secret:`+gcpID(id)+`"`)
		}
		jobs[i].Path = filepath.Join(dir, fmt.Sprintf("p_%03d.yaml", i))
		if err := os.WriteFile(jobs[i].Path, []byte(cfg), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	return jobs
}

// gcpServer is a Secret Manager test server holding every secret of the
// fleet, with netLatency per gRPC call.
func gcpServer(b *testing.B) *gcptest.Server {
	b.Helper()
	srv := gcptest.New(b)
	for i := range pipelines {
		for _, id := range fleetIDs(i) {
			srv.PutSecret(gcpID(id), "v"+id)
		}
	}
	srv.SetLatency(netLatency)
	return srv
}

func gcpEnv(srv *gcptest.Server) map[string]string {
	env := map[string]string{}
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

// gcpStore opens the store as cmd does from srv's environment: a new
// connection and token cache, so its first call asks for a token.
func gcpStore(b *testing.B, srv *gcptest.Server) *gcpsm.Provider {
	b.Helper()
	env := gcpEnv(srv)
	settings := map[string]string{}
	for _, set := range gcpsm.Spec.Settings {
		for _, name := range append([]string{set.Twin("OMSECRETS_")}, set.Env...) {
			if v := env[name]; v != "" {
				settings[set.Name] = v
				break
			}
		}
	}
	g, err := gcpsm.Spec.Open(context.Background(), resolver.StoreConfig{Settings: settings, Env: env, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	p := g.(*gcpsm.Provider)
	b.Cleanup(func() { _ = p.Close() })
	return p
}

// gcpReconciler is storeReconciler for the Secret Manager store.
func gcpReconciler(b *testing.B, g resolver.Getter) *reconcile.Reconciler {
	return storeReconciler(b, gcpsm.Spec, g, false)
}

// BenchmarkGCPSecretManager100x8 compares, for Secret Manager, omsecrets
// cold (a: a new store and cache, so one token and one
// AccessSecretVersion per unique id: there is no batch call), warm
// within the TTL (b) and OpenMetadata's Python ingestion (c: for every
// reference occurrence a new SecretManagerServiceClient, so new
// credentials, a new token and a new TLS connection, and one
// AccessSecretVersion; no cache, one after the other).
func BenchmarkGCPSecretManager100x8(b *testing.B) {
	srv := gcpServer(b)

	b.Run("a_cold", func(b *testing.B) {
		defs := gcpFleet(b)
		calls, tokens := 0, 0
		for b.Loop() {
			r := gcpReconciler(b, gcpStore(b, srv))
			before, beforeTok := srv.TotalCalls(), srv.Calls(gcptest.OpToken)
			resolveFleet(b, r, defs)
			calls, tokens = srv.TotalCalls()-before, srv.Calls(gcptest.OpToken)-beforeTok
		}
		b.ReportMetric(float64(calls), "calls/op")
		b.ReportMetric(float64(tokens), "token-calls/op")
		b.ReportMetric(float64(uniqueIDs), "min-calls")
	})

	b.Run("b_warm", func(b *testing.B) {
		r := gcpReconciler(b, gcpStore(b, srv))
		defs := gcpFleet(b)
		resolveFleet(b, r, defs) // fill the cache
		calls, tokens := 0, 0
		for b.Loop() {
			before, beforeTok := srv.TotalCalls(), srv.Calls(gcptest.OpToken)
			resolveFleet(b, r, defs)
			calls, tokens = srv.TotalCalls()-before, srv.Calls(gcptest.OpToken)-beforeTok
		}
		b.ReportMetric(float64(calls), "calls/op")
		b.ReportMetric(float64(tokens), "token-calls/op")
	})

	b.Run("c_python_baseline", func(b *testing.B) {
		// OpenMetadata's GCPSecretsManager.get_string_value creates
		// secretmanager.SecretManagerServiceClient() on every call,
		// reads projects/<p>/secrets/<id>/versions/latest and checks
		// the CRC32C. Here: the Go client with Application Default
		// Credentials from the key file, built anew for every read.
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(srv.CAPEM()) {
			b.Fatal("CA")
		}
		tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		castagnoli := crc32.MakeTable(crc32.Castagnoli)
		ctx := context.Background()
		read := func(id string) {
			creds, err := credentials.NewCredentialsFromFile(credentials.ServiceAccount, srv.KeyFile(), &credentials.DetectOptions{
				Scopes: []string{gcpsm.Scope},
				Client: &http.Client{Transport: &http.Transport{TLSClientConfig: tc}},
				Logger: slog.New(slog.DiscardHandler),
			})
			if err != nil {
				b.Fatal(err)
			}
			c, err := secretmanager.NewClient(ctx,
				option.WithEndpoint(srv.Endpoint()),
				option.WithAuthCredentials(creds),
				option.WithGRPCDialOption(grpc.WithTransportCredentials(grpccreds.NewTLS(tc))),
				option.WithLogger(slog.New(slog.DiscardHandler)),
			)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			resp, err := c.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: "projects/" + srv.Project + "/secrets/" + id + "/versions/latest"})
			if err != nil {
				b.Fatal(err)
			}
			if int64(crc32.Checksum(resp.GetPayload().GetData(), castagnoli)) != resp.GetPayload().GetDataCrc32C() {
				b.Fatal("Data corruption detected.")
			}
		}
		calls, tokens := 0, 0
		for b.Loop() {
			before, beforeTok := srv.TotalCalls(), srv.Calls(gcptest.OpToken)
			for i := range pipelines {
				for _, id := range fleetIDs(i) {
					read(gcpID(id))
				}
			}
			calls, tokens = srv.TotalCalls()-before, srv.Calls(gcptest.OpToken)-beforeTok
		}
		b.ReportMetric(float64(calls), "calls/op")
		b.ReportMetric(float64(tokens), "token-calls/op")
		b.ReportMetric(float64(occurrences), "occurrences")
	})
}
