package vault_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/vaulttest"
	"omsecrets/resolver/resolvertest"
	"omsecrets/resolver/vault"
)

// testClock is a clock tests move by hand, shared by the Server and the
// Store so that token lifetimes pass without waiting.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *testClock { return &testClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is a Store on a vaulttest.Server and the Store's log.
type fixture struct {
	srv   *vaulttest.Server
	store *vault.Store
	log   *resolvertest.LogBuffer
}

// newFixture starts a TLS Server and a Store with its token; mod changes
// the Store's options before New.
func newFixture(t *testing.T, mod func(*vault.Options), opts ...vaulttest.Option) *fixture {
	t.Helper()
	srv := vaulttest.New(t, opts...)
	f := &fixture{srv: srv, log: &resolvertest.LogBuffer{}}
	f.store = f.open(t, t.Context(), mod)
	return f
}

// open builds another Store on the fixture's Server.
func (f *fixture) open(t *testing.T, ctx context.Context, mod func(*vault.Options)) *vault.Store {
	t.Helper()
	env := map[string]string{}
	if f.srv.TLS() {
		env["SSL_CERT_FILE"] = f.srv.CACertFile()
	}
	hc, err := vault.NewHTTPClient(env, vault.TLS{})
	require.NoError(t, err)
	o := vault.Options{
		Address:    f.srv.URL(),
		HTTPClient: hc,
		Auth:       vault.Auth{Token: f.srv.Token},
		Logger:     slog.New(slog.NewTextHandler(f.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&o)
	}
	s, err := vault.New(ctx, o)
	require.NoError(t, err)
	return s
}

func newLog() *resolvertest.LogBuffer { return &resolvertest.LogBuffer{} }

// get reads id and returns its value, failing the test on an error.
func get(t *testing.T, s *vault.Store, id string) string {
	t.Helper()
	v, err := s.Get(t.Context(), id)
	require.NoError(t, err, id)
	return v.Value()
}

// writeFile writes a credential file as the kubelet or Vault Agent does:
// a new file renamed over the old one.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte(content), 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

func tempFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	writeFile(t, p, content)
	return p
}
