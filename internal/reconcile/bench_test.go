package reconcile_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"omsecrets/internal/reconcile"
	"omsecrets/resolver"
	"omsecrets/resolver/resolvertest"
)

// benchDefs builds n definitions with 8 references each, shared the way
// deployments share them: one bot JWT for all, 10 warehouse credentials
// each used by many pipelines, and 6 references unique to the pipeline.
func benchDefs(n int) ([][]byte, map[string]string) {
	values := map[string]string{"/openmetadata/bot/ingestion-bot/config/jwttoken": "jwt"}
	var docs [][]byte
	for i := range n {
		shared := fmt.Sprintf("/warehouse/%d/password", i%10)
		values[shared] = "pw"
		own := make([]any, 6)
		for k := range own {
			id := fmt.Sprintf("/pipeline/%d/field%d", i, k)
			values[id] = "v"
			own[k] = "secret:" + id
		}
		doc := fmt.Sprintf(`{"source":{"type":"mysql","serviceConnection":{"config":{"type":"Mysql","authType":{"password":"secret:%s"},
"sslConfig":{"caCertificate":%q,"sslCertificate":%q,"sslKey":%q},"connectionArguments":{"a":%q,"b":%q,"c":%q}}}},
"workflowConfig":{"openMetadataServerConfig":{"securityConfig":{"jwtToken":"secret:/openmetadata/bot/ingestion-bot/config/jwttoken"}}}}`, append([]any{shared}, own...)...)
		docs = append(docs, []byte(doc))
	}
	return docs, values
}

// BenchmarkReconcile100x8 resolves 100 definition files × 8 references
// against an in-memory batch store (batches of 20, like Secrets Manager)
// and reports the store calls one pass makes. Each pass reads and parses
// the files, as every command does.
func BenchmarkReconcile100x8(b *testing.B) {
	docs, values := benchDefs(100)
	store := resolvertest.NewBatchFake(values, 20)
	r, err := reconcile.New(reconcile.Options{
		Resolver:  resolver.New(resolver.Options{Stores: map[string]resolver.Getter{"aws": store}}),
		Providers: reconcile.NewProviders([]resolver.Spec{{Name: "aws", Providers: []string{"aws"}}}),
		Provider:  "aws",
	})
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	jobs := make([]reconcile.Job, len(docs))
	for i, d := range docs {
		jobs[i].Path = filepath.Join(dir, fmt.Sprintf("p%d.json", i))
		if err := os.WriteFile(jobs[i].Path, d, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, res := range r.Reconcile(context.Background(), jobs) {
			if res.Err != nil {
				b.Fatal(res.Err)
			}
		}
	}
	b.ReportMetric(float64(store.Batches())/float64(b.N), "store-calls/op")
	b.ReportMetric(float64(len(values)), "unique-ids")
}
