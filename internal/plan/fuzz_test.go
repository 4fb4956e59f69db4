package plan

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"omsecrets/internal/status"
)

// FuzzStatusDocument: whatever a /status document holds, counting it and
// printing the plan does not panic, counts no store without an id, and
// lets no control character of the document into the table.
func FuzzStatusDocument(f *testing.F) {
	f.Add([]byte(`{"definitions":[{"path":"/d.json","refs":[{"field":"a","ref":"secret:/x","store":"aws"},{"field":"b","ref":"secret:[redacted]","store":"db"}]}]}`))
	f.Add([]byte(`{"definitions":[{"path":"/d.json","refs":[{"ref":"secret:/y","store":"aws|aws-ssm"},{"ref":"secret:a#b","store":"kubernetes"}]}]}`))
	f.Add([]byte(`{"definitions":[{"path":"\u001b[31m","refs":[{"field":"\n","ref":"secret:\u001b","store":"vault|gcp"}]}]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		var snap status.Snapshot
		if json.Unmarshal(doc, &snap) != nil {
			return
		}
		c := fromSnapshot(snap, specs)
		for store, ids := range c.IDs {
			if len(ids) == 0 {
				t.Fatalf("store %q counted with no id", store)
			}
		}
		var b bytes.Buffer
		p := Make(c, specs, Fleet{Pods: 3, Interval: time.Minute})
		if err := p.WriteTable(&b); err != nil {
			t.Fatal(err)
		}
		if _, err := json.Marshal(p); err != nil {
			t.Fatal(err)
		}
		if strings.ContainsAny(b.String(), "\x1b\x00\r") {
			t.Fatalf("a control character reached the table:\n%q", b.String())
		}
	})
}
