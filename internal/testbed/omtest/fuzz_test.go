package omtest

import (
	"net/url"
	"testing"
)

// FuzzRoute: any escaped path either routes to a known collection with a
// non-empty key or is refused, and a routed key escaped back routes to
// itself.
func FuzzRoute(f *testing.F) {
	f.Add("/api/v1/services/databaseServices/891b373d-a253-4639-ad54-fc17491a7d5d")
	f.Add("/api/v1/services/databaseServices/name/%22my.svc%22")
	f.Add("/api/v1/services/llmServices/name/a%2Fb")
	f.Add("/api/v1/services/fooServices/x")
	f.Add("/api/v1/services/databaseServices/name/%zz")
	f.Fuzz(func(t *testing.T, path string) {
		typ, byName, key, ok := route(path)
		if !ok {
			return
		}
		coll, known := collectionOf(typ)
		if !known || key == "" {
			t.Fatalf("route(%q) = %q %q", path, typ, key)
		}
		again := "/api/v1/services/" + coll + "/"
		if byName {
			again += "name/"
		}
		again += url.PathEscape(key) // escapes '/' too
		typ2, byName2, key2, ok2 := route(again)
		if !ok2 || typ2 != typ || byName2 != byName || key2 != key {
			t.Fatalf("route(%q) = %q %v %q; re-escaped %q routes to %q %v %q %v", path, typ, byName, key, again, typ2, byName2, key2, ok2)
		}
	})
}
