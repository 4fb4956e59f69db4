package daemon_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/daemon"
	"omsecrets/internal/reconcile"
	"omsecrets/resolver/envvar"
)

// report reads the report file of a dag id, nil when absent, checking
// its mode and that it holds the four members and nothing else.
func (h *harness) report(dagID string) map[string]any {
	h.t.Helper()
	path := filepath.Join(h.out, dagID+daemon.ReportExt)
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(h.t, err)
	fi, err := os.Stat(path)
	require.NoError(h.t, err)
	assert.Equal(h.t, os.FileMode(0o600), fi.Mode().Perm(), "same mode as the outputs")
	var m map[string]any
	require.NoError(h.t, json.Unmarshal(data, &m))
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	assert.ElementsMatch(h.t, []string{"omsecretsReport", "dagId", "ingestionPipelineFQN", "openMetadataServerConfig"}, keys)
	assert.Equal(h.t, float64(1), m["omsecretsReport"])
	assert.Equal(h.t, dagID, m["dagId"])
	return m
}

// A pipeline whose service password is missing from the store fails and
// writes no output, but its report file is there: the bot's server
// connection with the JWT resolved, and no other value.
func TestReportWrittenWhenTheDefinitionFails(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	path := h.writeDef("p.json", h.pipeline("p"))
	// The password the service names is not in the store.
	h.secrets.Delete(envvar.VarName(envvar.DefaultPrefix, passwordID))
	require.Equal(t, 1, h.d.Once(context.Background(), []string{path}))
	require.Nil(t, h.output("p.json"), "no output")
	f := h.freshness("p")
	require.NotNil(t, f)
	assert.Equal(t, daemon.StateFailed, f.State)

	m := h.report("p")
	require.NotNil(t, m, "the report file is written although the definition failed")
	assert.Equal(t, "mysql_prod.p", m["ingestionPipelineFQN"])
	srv, _ := m["openMetadataServerConfig"].(map[string]any)
	require.NotNil(t, srv)
	assert.Equal(t, h.botToken, dig(srv, "securityConfig", "jwtToken"), "the JWT resolved")
	assert.Equal(t, "db", srv["secretsManagerProvider"])
	assert.Equal(t, h.om.URL(), srv["hostPort"])
	data, err := os.ReadFile(filepath.Join(h.out, "p"+daemon.ReportExt))
	require.NoError(t, err)
	assert.NotContains(t, string(data), "secret:")
	assert.NotContains(t, string(data), "serviceConnection", "no service connection")
	assert.NotContains(t, string(data), "password")
}

// With everything resolved, the report's server config is the output's,
// and the service password is not in it.
func TestReportIsTheOutputsServerConfig(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	path := h.writeDef("p.json", h.pipeline("p"))
	require.Equal(t, 0, h.d.Once(context.Background(), []string{path}), h.logs.String())
	out := h.output("p.json")
	require.NotNil(t, out)
	m := h.report("p")
	require.NotNil(t, m)
	assert.Equal(t, dig(out, "workflowConfig", "openMetadataServerConfig"), m["openMetadataServerConfig"])
	assert.Equal(t, out["ingestionPipelineFQN"], m["ingestionPipelineFQN"])
	data, err := os.ReadFile(filepath.Join(h.out, "p"+daemon.ReportExt))
	require.NoError(t, err)
	assert.NotContains(t, string(data), plant+"-mysql-password-1")
}

// The report follows a rotated JWT (the refresh reads it anew), and goes
// with the definition; one written by an earlier run for a definition
// that is gone is swept, one written in the first pass is not.
func TestReportFollowsRotationAndGoesWithTheDefinition(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *options) { o.Refresh = 300 * time.Millisecond })
	leftover := filepath.Join(h.out, "gone"+daemon.ReportExt)
	require.NoError(t, os.WriteFile(leftover, []byte(`{"omsecretsReport": 1, "dagId": "gone"}`), 0o600))
	h.secrets.Delete(envvar.VarName(envvar.DefaultPrefix, passwordID)) // the definition fails: the report is still kept current
	path := h.writeDef("p.json", h.pipeline("p"))
	h.start()
	h.eventually(func() bool { return h.board.Ready() }, "ready")
	m := h.report("p")
	require.NotNil(t, m, "written in the first pass and not swept")
	assert.Equal(t, h.botToken, dig(m, "openMetadataServerConfig", "securityConfig", "jwtToken"))
	_, err := os.Stat(leftover)
	assert.True(t, os.IsNotExist(err), "an earlier run's report for a gone definition is swept")

	rotated := h.om.BotToken("ingestion-bot")
	require.NotEqual(t, h.botToken, rotated)
	h.planted = append(h.planted, rotated)
	h.setSecret(jwtID, rotated)
	h.eventually(func() bool {
		m := h.report("p")
		return m != nil && dig(m, "openMetadataServerConfig", "securityConfig", "jwtToken") == rotated
	}, "the report follows the rotated JWT")

	require.NoError(t, os.Remove(path))
	// A refresh in flight when the file goes writes after the removal; the
	// next pass finds the file gone and removes both again.
	h.eventually(func() bool { return h.report("p") == nil && h.freshness("p") == nil },
		"the report goes with the definition, as its status file does")
}

// No report for a server connection outside the trust boundary, nor for
// a workflow config (only ingestion pipelines need one).
func TestReportNotWrittenOutsideTheBoundaryOrForWorkflowConfigs(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *options) {
		o.Policy = reconcile.Policy{RestrictHosts: true, Hosts: []string{"https://om.example.invalid:8585"}}
	})
	path := h.writeDef("p.json", h.pipeline("p"))
	require.Equal(t, 1, h.d.Once(context.Background(), []string{path}))
	st, ok := h.board.Get(path)
	require.True(t, ok)
	assert.Equal(t, reconcile.ClassForbiddenHost, st.Class)
	assert.Nil(t, h.report("p"), "the JWT goes only to allowed hosts")

	h2 := newHarness(t)
	cfg := []byte(`{"source": {"type": "mysql", "serviceName": "mysql_prod", "sourceConfig": {"config": {"type": "DatabaseMetadata"}}},
"sink": {"type": "metadata-rest", "config": {}},
"workflowConfig": {"openMetadataServerConfig": {"hostPort": "` + h2.om.URL() + `", "authProvider": "openmetadata", "securityConfig": {"jwtToken": "secret:` + jwtID + `"}}}}`)
	wpath := h2.writeDef("nightly.json", cfg)
	require.Equal(t, 0, h2.d.Once(context.Background(), []string{wpath}), h2.logs.String())
	require.NotNil(t, h2.output("nightly.json"))
	assert.Nil(t, h2.report("nightly"), "no report for a workflow config")
}
