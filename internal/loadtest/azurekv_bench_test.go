package loadtest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"omsecrets/internal/reconcile"
	"omsecrets/internal/testbed/azuretest"
	"omsecrets/resolver"
	"omsecrets/resolver/azurekv"
)

// azureID is OpenMetadata's Key Vault name for a fleet id: "-" as the
// separator, no leading one, and every character outside [A-Za-z0-9-]
// deleted (AzureKVSecretsManager's SecretsIdConfig), e.g.
// openmetadata-database-svc01-authtype-password.
func azureID(id string) string {
	id = strings.ReplaceAll(strings.TrimPrefix(id, "/"), "/", "-")
	return strings.Map(func(r rune) rune {
		if r == '-' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' {
			return r
		}
		return -1
	}, id)
}

// azureFleet writes the fleet's workflow configs with Key Vault ids and
// provider azure-kv, and returns their jobs.
func azureFleet(b *testing.B) []reconcile.Job {
	b.Helper()
	dir := b.TempDir()
	jobs := make([]reconcile.Job, pipelines)
	for i := range jobs {
		cfg := fleetConfig(i, "azure-kv")
		for _, id := range fleetIDs(i) {
			cfg = strings.ReplaceAll(cfg, `"secret:`+id+`"`, `"secret:`+azureID(id)+`"`)
		}
		jobs[i].Path = filepath.Join(dir, fmt.Sprintf("p_%03d.yaml", i))
		if err := os.WriteFile(jobs[i].Path, []byte(cfg), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	return jobs
}

// azureServer is a Key Vault test server holding every secret of the
// fleet, with netLatency per request (token requests included).
func azureServer(b *testing.B) *azuretest.Server {
	b.Helper()
	srv := azuretest.New(b)
	for i := range pipelines {
		for _, id := range fleetIDs(i) {
			srv.PutSecret(azureID(id), "v"+id)
		}
	}
	srv.SetLatency(netLatency)
	return srv
}

// azureStore opens the store as cmd does from srv's environment: a new
// credential, so its first call asks for a token.
func azureStore(b *testing.B, srv *azuretest.Server) resolver.Getter {
	b.Helper()
	env := srv.EnvMap()
	settings := map[string]string{}
	for _, set := range azurekv.Spec.Settings {
		for _, name := range append([]string{set.Twin("OMSECRETS_")}, set.Env...) {
			if v := env[name]; v != "" {
				settings[set.Name] = v
				break
			}
		}
	}
	g, err := azurekv.Spec.Open(context.Background(), resolver.StoreConfig{Settings: settings, Env: env, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	return g
}

// azureReconciler is storeReconciler for the Key Vault store.
func azureReconciler(b *testing.B, g resolver.Getter) *reconcile.Reconciler {
	return storeReconciler(b, azurekv.Spec, g, false)
}

// BenchmarkAzureKeyVault100x8 compares, for Key Vault, omsecrets cold
// (a: a new store and cache, so one challenge, one token and one
// GetSecret per unique id), warm within the TTL (b) and OpenMetadata's
// Python ingestion (c: one SecretClient, then one get_secret per
// reference occurrence, no cache, one after the other).
func BenchmarkAzureKeyVault100x8(b *testing.B) {
	srv := azureServer(b)

	b.Run("a_cold", func(b *testing.B) {
		defs := azureFleet(b)
		calls, tokens := 0, 0
		for b.Loop() {
			r := azureReconciler(b, azureStore(b, srv))
			before, beforeTok := srv.TotalCalls(), srv.Calls(azuretest.OpToken)
			resolveFleet(b, r, defs)
			calls, tokens = srv.TotalCalls()-before, srv.Calls(azuretest.OpToken)-beforeTok
		}
		b.ReportMetric(float64(calls), "calls/op")
		b.ReportMetric(float64(tokens), "token-calls/op")
		b.ReportMetric(float64(uniqueIDs), "min-calls")
	})

	b.Run("b_warm", func(b *testing.B) {
		r := azureReconciler(b, azureStore(b, srv))
		defs := azureFleet(b)
		resolveFleet(b, r, defs) // fill the cache
		calls := 0
		for b.Loop() {
			before := srv.TotalCalls()
			resolveFleet(b, r, defs)
			calls = srv.TotalCalls() - before
		}
		b.ReportMetric(float64(calls), "calls/op")
	})

	b.Run("c_python_baseline", func(b *testing.B) {
		// OpenMetadata's AzureKVSecretsManager builds one SecretClient
		// with ClientSecretCredential and calls get_secret(secret_id)
		// for every reference it meets.
		opts := azcore.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: srv.AuthorityHost(), Services: map[cloud.ServiceName]cloud.ServiceConfiguration{}},
			Transport: srv.HTTPClient(),
		}
		cred, err := azidentity.NewClientSecretCredential(srv.TenantID, srv.ClientID, srv.ClientSecret, &azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: true})
		if err != nil {
			b.Fatal(err)
		}
		client, err := azsecrets.NewClient(srv.VaultURL(), cred, &azsecrets.ClientOptions{ClientOptions: azcore.ClientOptions{Transport: srv.HTTPClient()}, DisableChallengeResourceVerification: true})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		calls := 0
		for b.Loop() {
			before := srv.TotalCalls()
			for i := range pipelines {
				for _, id := range fleetIDs(i) {
					if _, err := client.GetSecret(ctx, azureID(id), "", nil); err != nil {
						b.Fatal(err)
					}
				}
			}
			calls = srv.TotalCalls() - before
		}
		b.ReportMetric(float64(calls), "calls/op")
		b.ReportMetric(float64(occurrences), "occurrences")
	})
}
