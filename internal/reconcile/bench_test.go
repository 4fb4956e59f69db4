package reconcile_test

import (
	"context"
	"fmt"
	"testing"

	"omsecrets/internal/reconcile"
	"omsecrets/internal/workflow"
	"omsecrets/resolver"
	"omsecrets/resolver/resolvertest"
)

// benchDefs builds n definitions with 8 references each, shared the way
// deployments share them: one bot JWT for all, 10 warehouse credentials
// each used by many pipelines, and 6 references unique to the pipeline.
func benchDefs(n int) ([][]byte, map[string]string) {
	values := map[string]string{"/bot/jwt": "jwt"}
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
"workflowConfig":{"openMetadataServerConfig":{"securityConfig":{"jwtToken":"secret:/bot/jwt"}}}}`, append([]any{shared}, own...)...)
		docs = append(docs, []byte(doc))
	}
	return docs, values
}

// BenchmarkReconcile100x8 resolves 100 definitions × 8 references against
// an in-memory batch store (batches of 20, like Secrets Manager) and
// reports the store calls one pass makes.
func BenchmarkReconcile100x8(b *testing.B) {
	docs, values := benchDefs(100)
	store := resolvertest.NewBatchFake(values, 20)
	r := reconcile.New(reconcile.Options{
		Resolver: resolver.New(resolver.Options{Stores: map[string]resolver.Getter{"aws": store}}),
		Provider: "aws",
	})
	b.ReportAllocs()
	for b.Loop() {
		defs := make([]*workflow.Definition, len(docs))
		for i, d := range docs {
			def, err := workflow.Parse(fmt.Sprintf("p%d.json", i), d)
			if err != nil {
				b.Fatal(err)
			}
			defs[i] = def
		}
		for _, res := range r.Reconcile(context.Background(), defs) {
			if res.Err != nil {
				b.Fatal(res.Err)
			}
		}
	}
	b.ReportMetric(float64(store.Batches())/float64(b.N), "store-calls/op")
	b.ReportMetric(float64(len(values)), "unique-ids")
}
