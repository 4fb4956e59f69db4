package render

import (
	"os"
	"testing"

	"omsecrets/resolver"
)

// BenchmarkRender measures one example config through parse, walk,
// substitute and marshal, in each input and output format.
func BenchmarkRender(b *testing.B) {
	for _, c := range []struct {
		name, file string
		in, out    Format
	}{
		{"yaml-to-json", "../../examples/local/mysql_prod.yaml", YAML, JSON},
		{"json-to-json", "../../examples/local/postgres_analytics.json", JSON, JSON},
		{"yaml-to-yaml", "../../examples/local/kafka_events.yaml", YAML, YAML},
	} {
		data, err := os.ReadFile(c.file)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				doc, err := Parse(data, c.in)
				if err != nil {
					b.Fatal(err)
				}
				occ, err := doc.Refs()
				if err != nil {
					b.Fatal(err)
				}
				vals := make(map[resolver.Ref]resolver.Secret, len(occ))
				for _, o := range occ {
					vals[o.Ref] = resolver.NewSecret("value")
				}
				if err := doc.Apply(occ, vals); err != nil {
					b.Fatal(err)
				}
				if _, err := doc.Marshal(c.out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
