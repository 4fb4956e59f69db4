package loadtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"omsecrets/internal/reconcile"
	"omsecrets/internal/render"
	"omsecrets/internal/testbed/awstest"
	"omsecrets/resolver"
	"omsecrets/resolver/awssm"
	"omsecrets/resolver/awsssm"
)

// Shape of the fleet: 100 pipelines over 25 services (metadata, usage,
// lineage and profiler pipelines each), 8 references per pipeline:
//
//	1 bot JWT                       shared by all 100
//	1 warehouse password            shared by all 100 (one Snowflake user for lineage)
//	2 service credentials           shared by the 4 pipelines of a service (25 × 2)
//	2 dbt S3 keys                   shared by the pipelines of a team (10 teams × 2)
//	2 pipeline-own secrets          (100 × 2)
//
// 800 occurrences, 272 unique ids.
const (
	pipelines   = 100
	services    = 25
	teams       = 10
	refsPerDef  = 8
	uniqueIDs   = 2 + services*2 + teams*2 + pipelines*2
	netLatency  = 2 * time.Millisecond // per AWS call, a same-region round trip
	cacheTTL    = time.Hour
	smBatch     = 20
	ssmBatch    = 10
	occurrences = pipelines * refsPerDef
)

// fleetIDs returns the 8 secret ids of pipeline i.
func fleetIDs(i int) []string {
	svc, team := i%services, i%teams
	return []string{
		"/openmetadata/bot/ingestion-bot/config/jwttoken",
		"/openmetadata/database/warehouse/password",
		fmt.Sprintf("/openmetadata/database/svc_%02d/authtype/password", svc),
		fmt.Sprintf("/openmetadata/database/svc_%02d/sslkey", svc),
		fmt.Sprintf("/openmetadata/dbt/team_%d/awsaccesskeyid", team),
		fmt.Sprintf("/openmetadata/dbt/team_%d/awssecretaccesskey", team),
		fmt.Sprintf("/openmetadata/pipeline/p_%03d/token", i),
		fmt.Sprintf("/openmetadata/pipeline/p_%03d/apikey", i),
	}
}

// fleetConfig is pipeline i's workflow config with its 8 references.
func fleetConfig(i int, provider string) string {
	ids := fleetIDs(i)
	return fmt.Sprintf(`source:
  type: mysql
  serviceName: svc_%02d
  serviceConnection:
    config:
      type: Mysql
      username: reader
      authType: {password: "secret:%s"}
      sslConfig: {sslKey: "secret:%s"}
      connectionOptions: {warehouse: "secret:%s", pipelineToken: "secret:%s", apiKey: "secret:%s"}
      hostPort: db:3306
  sourceConfig:
    config:
      type: DatabaseMetadata
      dbtConfigSource: {dbtSecurityConfig: {awsAccessKeyId: "secret:%s", awsSecretAccessKey: "secret:%s"}}
sink: {type: metadata-rest, config: {}}
workflowConfig:
  openMetadataServerConfig:
    hostPort: http://om:8585/api
    authProvider: openmetadata
    securityConfig: {jwtToken: "secret:%s"}
    secretsManagerProvider: %s
`, i%services, ids[2], ids[3], ids[1], ids[6], ids[7], ids[4], ids[5], ids[0], provider)
}

// fleet writes the fleet's workflow configs into a new directory and
// returns their jobs; each pass reads and parses them, as every command
// does.
func fleet(b *testing.B, provider string) []reconcile.Job {
	b.Helper()
	dir := b.TempDir()
	jobs := make([]reconcile.Job, pipelines)
	for i := range jobs {
		jobs[i].Path = filepath.Join(dir, fmt.Sprintf("p_%03d.yaml", i))
		if err := os.WriteFile(jobs[i].Path, []byte(fleetConfig(i, provider)), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	return jobs
}

// fleetServer is an AWS test server holding every secret of the fleet,
// as Secrets Manager secrets and SSM parameters, with netLatency per call.
func fleetServer(b *testing.B) *awstest.Server {
	b.Helper()
	srv := awstest.New(b)
	for i := range pipelines {
		for _, id := range fleetIDs(i) {
			srv.PutSecret(id, "v"+id)
			srv.PutParameter(id, "v"+id, true)
		}
	}
	srv.SetLatency(netLatency)
	return srv
}

func resolveFleet(b *testing.B, r *reconcile.Reconciler, defs []reconcile.Job) {
	b.Helper()
	for _, res := range r.Reconcile(context.Background(), defs) {
		if res.Err != nil {
			b.Fatal(res.Err)
		}
	}
}

// newReconciler is the reconciler cmd builds for the AWS stores: their
// default rate limits, no OpenMetadata.
func newReconciler(b *testing.B, res *resolver.Resolver) *reconcile.Reconciler {
	b.Helper()
	r, err := reconcile.New(reconcile.Options{
		Resolver:  res,
		Providers: reconcile.NewProviders([]resolver.Spec{awssm.Spec, awsssm.Spec}),
		Format:    render.JSON,
	})
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// newResolver is a resolver over srv's stores with their default limits.
func newResolver(srv *awstest.Server) *resolver.Resolver {
	return resolver.New(resolver.Options{
		Stores:   storesFor(srv),
		CacheTTL: cacheTTL,
		Limits:   map[string]resolver.Limit{awssm.Spec.Name: awssm.Spec.Limit, awsssm.Spec.Name: awsssm.Spec.Limit},
	})
}

func storesFor(srv *awstest.Server) map[string]resolver.Getter {
	cfg := srv.Config()
	return map[string]resolver.Getter{
		"aws":     awssm.New(cfg, awssm.Options{}),
		"aws-ssm": awsssm.New(cfg, awsssm.Options{}),
	}
}

// benchStore runs the three ways side by side for one provider.
func benchStore(b *testing.B, provider string, batch int) {
	srv := fleetServer(b)
	minimum := (uniqueIDs + batch - 1) / batch

	b.Run("a_cold", func(b *testing.B) {
		srv.Reset()
		calls := 0
		defs := fleet(b, provider)
		for b.Loop() {
			// A new resolver each time: an empty cache, as at start-up or
			// in a one-shot run.
			r := newReconciler(b, newResolver(srv))
			before := srv.TotalCalls()
			resolveFleet(b, r, defs)
			calls = srv.TotalCalls() - before
		}
		b.ReportMetric(float64(calls), "calls/op")
		b.ReportMetric(float64(minimum), "min-calls")
	})

	b.Run("b_warm", func(b *testing.B) {
		r := newReconciler(b, newResolver(srv))
		defs := fleet(b, provider)
		resolveFleet(b, r, defs) // fill the cache
		calls := 0
		for b.Loop() {
			before := srv.TotalCalls()
			resolveFleet(b, r, defs)
			calls = srv.TotalCalls() - before
		}
		b.ReportMetric(float64(calls), "calls/op")
	})

	// A periodic refresh of the same definitions, nothing changed: every
	// id read again (d), or only what the store's change listing cannot
	// vouch for (e: ListSecrets / DescribeParameters first).
	for _, mode := range []struct {
		name  string
		check resolver.ChangeCheck
	}{
		{"d_refresh_full", resolver.ChangeCheck{}},
		{"e_refresh_change_detection", resolver.ChangeCheck{Keep: 10 * time.Minute}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			res := resolver.New(resolver.Options{
				Stores:      storesFor(srv),
				CacheTTL:    cacheTTL,
				Limits:      map[string]resolver.Limit{awssm.Spec.Name: awssm.Spec.Limit, awsssm.Spec.Name: awsssm.Spec.Limit},
				ChangeCheck: mode.check,
			})
			r := newReconciler(b, res)
			defs := fleet(b, provider)
			resolveFleet(b, r, defs) // the first pass
			fresh := make([]reconcile.Job, len(defs))
			for i, d := range defs {
				fresh[i] = reconcile.Job{Path: d.Path, Fresh: true}
			}
			calls := 0
			for b.Loop() {
				before := srv.TotalCalls()
				resolveFleet(b, r, fresh)
				calls = srv.TotalCalls() - before
			}
			b.ReportMetric(float64(calls), "calls/op")
		})
	}

	b.Run("c_python_baseline", func(b *testing.B) {
		// What OpenMetadata's Python ingestion does today: for every
		// reference occurrence, one GetSecretValue (or GetParameter with
		// decryption), no cache, one after the other.
		cfg := srv.Config()
		sm := secretsmanager.NewFromConfig(cfg)
		ps := ssm.NewFromConfig(cfg)
		ctx := context.Background()
		calls := 0
		for b.Loop() {
			before := srv.TotalCalls()
			for i := range pipelines {
				for _, id := range fleetIDs(i) {
					var err error
					if provider == "aws" {
						_, err = sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
					} else {
						_, err = ps.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(id), WithDecryption: aws.Bool(true)})
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			calls = srv.TotalCalls() - before
		}
		b.ReportMetric(float64(calls), "calls/op")
	})
}

// BenchmarkAWSSecretsManager100x8 compares, for Secrets Manager, omsecrets
// cold (a), warm within the TTL (b) and the Python baseline (c).
func BenchmarkAWSSecretsManager100x8(b *testing.B) {
	benchStore(b, "aws", smBatch)
}

// BenchmarkAWSParameterStore100x8 is the same for SSM Parameter Store.
func BenchmarkAWSParameterStore100x8(b *testing.B) {
	benchStore(b, "aws-ssm", ssmBatch)
}
