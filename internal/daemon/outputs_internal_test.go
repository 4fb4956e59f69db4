package daemon

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/sink"
)

func TestParseGood(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC)
	digest := strings.Repeat("ab", 32)
	valid, _ := json.Marshal(Freshness{Version: 1, DefinitionSHA256: digest, ResolvedAt: &at})
	assert.Equal(t, good{digest: digest, resolvedAt: at}, parseGood(valid))
	for name, data := range map[string]string{
		"empty":          "",
		"not json":       "{",
		"version 2":      `{"omsecretsStatus":2,"definitionSHA256":"` + digest + `","resolvedAt":"2026-12-01T20:00:00Z"}`,
		"no resolvedAt":  `{"omsecretsStatus":1,"definitionSHA256":"` + digest + `"}`,
		"short digest":   `{"omsecretsStatus":1,"definitionSHA256":"abc","resolvedAt":"2026-12-01T20:00:00Z"}`,
		"upper digest":   `{"omsecretsStatus":1,"definitionSHA256":"` + strings.ToUpper(digest) + `","resolvedAt":"2026-12-01T20:00:00Z"}`,
		"zero time":      `{"omsecretsStatus":1,"definitionSHA256":"` + digest + `","resolvedAt":"0001-01-01T00:00:00Z"}`,
		"bad time":       `{"omsecretsStatus":1,"definitionSHA256":"` + digest + `","resolvedAt":"yesterday"}`,
		"deep":           strings.Repeat("[", 100000),
		"over the bound": `{"omsecretsStatus":1,"pad":"` + strings.Repeat("x", maxStatusSize) + `"}`,
	} {
		assert.Equal(t, good{}, parseGood([]byte(data)), name)
	}
}

// FuzzParseGood: a freshness file left in the output directory (by an
// older run, or planted) never panics the adoption and yields either
// nothing or a well-formed digest.
func FuzzParseGood(f *testing.F) {
	at := time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC)
	seed, _ := json.Marshal(Freshness{Version: 1, DefinitionSHA256: strings.Repeat("0", 64), ResolvedAt: &at})
	f.Add(seed)
	f.Add([]byte(`{"omsecretsStatus":1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		g := parseGood(data)
		if g.digest != "" && !isDigest(g.digest) {
			t.Fatalf("digest %q is not a SHA-256", g.digest)
		}
		if (g.digest == "") != g.resolvedAt.IsZero() {
			t.Fatalf("half a result: %+v", g)
		}
	})
}

// TestReadGoodRefusesSpecialFiles: a FIFO or a device planted where a
// freshness file belongs reads as nothing known, at once.
func TestReadGoodRefusesSpecialFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	snk, err := sink.New(sink.Options{Dir: dir, Group: -1, AllowDisk: true})
	require.NoError(t, err)
	o := newOutputs(snk, ".json", slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "a.status"), 0o600))
	require.NoError(t, os.Symlink("/dev/zero", filepath.Join(dir, "b.status")))
	done := make(chan good, 2)
	go func() {
		done <- o.readGood("a.json")
		done <- o.readGood("b.json")
	}()
	for range 2 {
		select {
		case g := <-done:
			assert.Equal(t, good{}, g)
		case <-time.After(5 * time.Second):
			t.Fatal("readGood hangs on a special file")
		}
	}
}
