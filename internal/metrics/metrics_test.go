package metrics_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/metrics"
)

func TestRecorderCounts(t *testing.T) {
	t.Parallel()
	r := metrics.New()
	r.StoreCall("aws", "batch", 20, "ok", 3*time.Millisecond)
	r.StoreCall("aws", "batch", 20, "ok", 3*time.Millisecond)
	r.StoreCall("aws", "get", 1, "throttled", time.Millisecond)
	r.CacheLookup("aws", true)
	r.CacheLookup("aws", false)
	r.CacheLookup("aws", false)
	r.Retry("aws", "throttled", time.Second)
	r.Resolution("ok")
	r.Resolution("not_found")
	r.Write(true)
	r.Write(false)
	r.Outputs(5, 4, 1)
	r.WatchEvent("fs_event")
	r.OMRequest("service", 200, time.Millisecond)
	r.Ready(true)

	expect := `
# HELP omsecrets_store_calls_total Calls to secret stores, by store, operation (get, batch) and result class.
# TYPE omsecrets_store_calls_total counter
omsecrets_store_calls_total{operation="batch",result="ok",store="aws"} 2
omsecrets_store_calls_total{operation="get",result="throttled",store="aws"} 1
# HELP omsecrets_cache_lookups_total Secret cache lookups, by store and result (hit, miss).
# TYPE omsecrets_cache_lookups_total counter
omsecrets_cache_lookups_total{result="hit",store="aws"} 1
omsecrets_cache_lookups_total{result="miss",store="aws"} 2
# HELP omsecrets_stale_outputs Outputs whose last resolution failed; the last good file is kept.
# TYPE omsecrets_stale_outputs gauge
omsecrets_stale_outputs 1
`
	require.NoError(t, testutil.GatherAndCompare(r.Registry(), strings.NewReader(expect),
		"omsecrets_store_calls_total", "omsecrets_cache_lookups_total", "omsecrets_stale_outputs"))
}

func TestNilRecorderIsSafe(t *testing.T) {
	t.Parallel()
	var r *metrics.Recorder
	assert.NotPanics(t, func() {
		r.StoreCall("aws", "batch", 1, "ok", 0)
		r.CacheLookup("aws", true)
		r.Retry("aws", "throttled", 0)
		r.Resolution("ok")
		r.ResolveDuration(time.Second)
		r.Write(true)
		r.Outputs(1, 1, 0)
		r.WatchEvent("x")
		r.OMRequest("service", 0, 0)
		r.Ready(true)
		r.FullPass(time.Now())
	})
}

func TestHandlerServesExposition(t *testing.T) {
	t.Parallel()
	r := metrics.New()
	r.Ready(true)
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Contains(t, string(body), "omsecrets_ready 1")
	assert.Contains(t, string(body), "go_goroutines")
	assert.Contains(t, string(body), "process_resident_memory_bytes")
}
