package tlsroots_test

import (
	"crypto/tls"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/resolver/internal/tlsroots"
)

func TestPoolTrustsTheBundle(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	t.Cleanup(srv.Close)
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))

	get := func(env map[string]string) error {
		pool, err := tlsroots.Pool(env)
		require.NoError(t, err)
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		resp, err := c.Get(srv.URL)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	assert.Error(t, get(nil), "the test CA is not a system root")
	assert.NoError(t, get(map[string]string{tlsroots.Var: bundle}))
}

func TestPoolRefusesBadBundles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.pem")
	require.NoError(t, os.WriteFile(empty, []byte("no certificate here\n"), 0o600))
	big := filepath.Join(dir, "big.pem")
	require.NoError(t, os.WriteFile(big, make([]byte, 5<<20), 0o600))
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	for name, path := range map[string]string{
		"missing":   filepath.Join(dir, "missing.pem"),
		"no cert":   empty,
		"too large": big,
		"directory": dir,
		"fifo":      fifo,
		"device":    "/dev/zero",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := tlsroots.Pool(map[string]string{tlsroots.Var: path})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tlsroots.Var+" "+path)
		})
	}
}
