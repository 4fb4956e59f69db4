package vaulttest_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"omsecrets/internal/testbed/vaulttest"
)

// FuzzServeHTTP sends arbitrary methods, paths, namespaces and bodies
// through the Server's routing and body parsing: it must not panic, and
// every answer must be JSON (an object) with a status Vault uses.
func FuzzServeHTTP(f *testing.F) {
	s := vaulttest.New(f, vaulttest.WithHTTP())
	s.Mount("kv", 1)
	s.Put("a/b", map[string]any{"value": "x"})
	s.PutAt("", "kv", "a", map[string]any{"value": "y"})
	s.AddAppRole(vaulttest.AppRole{RoleID: "rid", SecretID: "sid", Token: vaulttest.TokenOptions{TTL: time.Hour}})
	s.AddKubernetesRole(vaulttest.KubernetesRole{Role: "om", JWT: "jwt", Token: vaulttest.TokenOptions{TTL: time.Hour, Renewable: true}})
	renewable := s.IssueToken(vaulttest.TokenOptions{TTL: time.Hour, Renewable: true})
	for _, seed := range []struct{ method, path, ns, body string }{
		{"GET", "/v1/secret/data/a/b", "", ""},
		{"GET", "/v1/secret/data/a/b?version=x", "", ""},
		{"GET", "/v1/secret/metadata/a/b", "root", ""},
		{"GET", "/v1/kv/a", "/", ""},
		{"GET", "/v1/sys/internal/ui/mounts/secret", "", ""},
		{"GET", "/v1/sys/mounts/kv", "", ""},
		{"PUT", "/v1/auth/token/renew-self", "", `{"increment":"1h"}`},
		{"PUT", "/v1/auth/token/renew-self", "", `{"increment":30}`},
		{"POST", "/v1/auth/approle/login", "", `{"role_id":"rid","secret_id":"sid"}`},
		{"PUT", "/v1/auth/kubernetes/login", "", `{"role":"om","jwt":"jwt"}`},
		{"PUT", "/v1/auth/kubernetes/login", "ns", `{"role":`},
		{"GET", "/v2/x", "", ""},
		{"DELETE", "/v1/secret/data/a/b", "", ""},
	} {
		f.Add(seed.method, seed.path, seed.ns, seed.body, true)
	}
	f.Fuzz(func(t *testing.T, method, path, ns, body string, withToken bool) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req, err := http.NewRequest(method, "http://vault"+path, strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("X-Vault-Namespace", ns)
		if withToken {
			req.Header.Set("X-Vault-Token", renewable)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 400, 403, 404, 405, 429, 500, 503:
		default:
			t.Fatalf("%s %s: status %d", method, path, rec.Code)
		}
		var v map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatalf("%s %s: answer is not a JSON object: %q", method, path, rec.Body.String())
		}
		s.Reset()
	})
}
