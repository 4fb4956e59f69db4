package status_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/status"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	body, err := io.ReadAll(rec.Result().Body)
	require.NoError(t, err)
	return rec.Code, string(body)
}

func TestReadiness(t *testing.T) {
	t.Parallel()
	b := status.New()
	h := b.Handler(nil)
	code, _ := get(t, h, "/healthz")
	assert.Equal(t, http.StatusOK, code)
	code, body := get(t, h, "/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Contains(t, body, "first pass")
	b.SetReady(true)
	code, _ = get(t, h, "/readyz")
	assert.Equal(t, http.StatusOK, code)
	code, _ = get(t, h, "/metrics")
	assert.Equal(t, http.StatusNotFound, code, "no metrics handler given")
}

func TestStatusDocument(t *testing.T) {
	t.Parallel()
	b := status.New()
	now := time.Now().UTC()
	b.Set(status.Definition{Path: "/d/b.json", Name: "b", OK: true, Class: "ok", LastAttempt: now, LastSuccess: &now, Output: "/out/b.json",
		Refs: []status.Ref{{Field: "source.serviceConnection.config.password", Ref: "secret:/x", Store: "aws", Outcome: "ok"}}})
	b.Set(status.Definition{Path: "/d/a.json", Name: "a", Class: "not_found", Error: "a.json: secret:/y (store aws): not found", Stale: true, Output: "/out/a.json"})
	b.Set(status.Definition{Path: "/d/c.json", Class: "invalid", Error: "c.json: bad"})
	defs, outputs, stale := b.Counts()
	assert.Equal(t, []int{3, 2, 1}, []int{defs, outputs, stale})

	code, body := get(t, b.Handler(nil), "/status")
	require.Equal(t, http.StatusOK, code)
	var snap status.Snapshot
	require.NoError(t, json.Unmarshal([]byte(body), &snap))
	require.Len(t, snap.Definitions, 3)
	assert.Equal(t, "/d/a.json", snap.Definitions[0].Path, "sorted by path")
	assert.True(t, snap.Definitions[0].Stale)
	assert.Equal(t, "ok", snap.Definitions[1].Refs[0].Outcome)
	assert.False(t, snap.Ready)

	b.Delete("/d/a.json")
	_, ok := b.Get("/d/a.json")
	assert.False(t, ok)
}

func TestMetricsMounted(t *testing.T) {
	t.Parallel()
	b := status.New()
	h := b.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("m 1\n")) }))
	code, body := get(t, h, "/metrics")
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, "m 1\n", body)
}
