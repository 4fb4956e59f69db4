package azurekv_test

import (
	"log/slog"
	"maps"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/azuretest"
	"omsecrets/resolver"
	"omsecrets/resolver/azurekv"
	"omsecrets/resolver/resolvertest"
)

// settingsFrom resolves the store's settings from env as cmd does: the
// OMSECRETS_ twin, then the setting's Env in order, then its Default.
func settingsFrom(env map[string]string) map[string]string {
	out := make(map[string]string)
	for _, set := range azurekv.Spec.Settings {
		out[set.Name] = set.Default
		for _, name := range append([]string{set.Twin("OMSECRETS_")}, set.Env...) {
			if v := strings.TrimSpace(env[name]); v != "" {
				out[set.Name] = v
				break
			}
		}
	}
	return out
}

// openEnv opens the store as cmd would from env alone, logging at debug
// level into log (if not nil).
func openEnv(t *testing.T, env map[string]string, log *resolvertest.LogBuffer) (resolver.Getter, error) {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	if log != nil {
		logger = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return azurekv.Spec.Open(t.Context(), resolver.StoreConfig{Settings: settingsFrom(env), Env: env, Logger: logger})
}

// newStore is a test server and the store opened from its Env, with
// changes to that environment applied ("" deletes a variable).
func newStore(t *testing.T, change map[string]string, opts ...azuretest.Option) (*azurekv.Provider, *azuretest.Server, *resolvertest.LogBuffer) {
	t.Helper()
	srv := azuretest.New(t, opts...)
	env := srv.EnvMap()
	maps.Copy(env, change)
	maps.DeleteFunc(env, func(_, v string) bool { return v == "" })
	log := &resolvertest.LogBuffer{}
	g, err := openEnv(t, env, log)
	require.NoError(t, err)
	p, ok := g.(*azurekv.Provider)
	require.True(t, ok, "Spec.Open returns a *azurekv.Provider")
	return p, srv, log
}
