package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dagRun is what airflow/tests/sidecar_check.py reports of one task run.
type dagRun struct {
	DagID, TaskID string
	Error         *string
	Network       int
	Log           string
	Workflow      string
	Password      *string
	Provider      string
}

// runDAG renders the replacement DAG runner for definition, imports it and
// executes its task against outDir, with Airflow and OpenMetadata's
// modules stood in (Debian's python3 and python3-jinja2, which .ci/run
// installs).
func runDAG(t *testing.T, definition, outDir string) dagRun {
	t.Helper()
	cmd := exec.Command("/usr/bin/python3", "../../airflow/tests/sidecar_check.py", definition, outDir, t.TempDir())
	cmd.Dir = "."
	out, err := cmd.Output()
	var stderr string
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = string(ee.Stderr)
	}
	require.NoError(t, err, "sidecar_check.py: %s", stderr)
	var r dagRun
	require.NoError(t, json.Unmarshal(out, &r), string(out))
	return r
}

// TestDagRunnerReadsTheSidecarsFiles joins the two halves of the Airflow
// handoff: the real binary resolves a deployed pipeline (run --once, as in
// a KubernetesExecutor pod), then OpenMetadata's DAG for it, rendered from
// omsecrets' template, runs its task from that output with no store and no
// network. When the next attempt fails, the kept output is stale and the
// task refuses it, in one line, with what the sidecar reported.
func TestDagRunnerReadsTheSidecarsFiles(t *testing.T) {
	t.Parallel()
	om, srv := omWorld(t)
	defs, out := t.TempDir(), t.TempDir()
	def := filepath.Join(defs, "mysql_prod_metadata.json")
	require.NoError(t, os.WriteFile(def, pipelineJSON(t, om, "mysql_prod_metadata", "mysql_prod"), 0o644))

	r := omsecrets(t, omEnv(om, srv), "run", "--once", "--out-dir", out, def)
	require.Equal(t, 0, r.code, r.stderr)
	run := runDAG(t, def, out)
	require.Nil(t, run.Error, "the task refused a current output: %v", run.Error)
	assert.Equal(t, "mysql_prod_metadata", run.DagID)
	assert.Equal(t, "ingestion_task", run.TaskID)
	assert.Equal(t, "MetadataWorkflow", run.Workflow)
	require.NotNil(t, run.Password)
	assert.Equal(t, "PLANTED-pw", *run.Password, "the workflow got the value the sidecar resolved")
	assert.Equal(t, "db", run.Provider, "and no secrets manager to ask again")
	assert.Zero(t, run.Network)
	assert.NotContains(t, run.Log, "PLANTED")

	// The service is deleted: the next attempt fails, the output stays as
	// the last good one, and the task refuses it.
	om.DeleteService("databaseService", "mysql_prod")
	r = omsecrets(t, omEnv(om, srv), "run", "--once", "--out-dir", out, def)
	require.Equal(t, 1, r.code, r.stderr)
	run = runDAG(t, def, out)
	require.NotNil(t, run.Error, "a stale output was accepted")
	assert.Contains(t, *run.Error, "stale")
	assert.Contains(t, *run.Error, "om_not_found")
	assert.Contains(t, *run.Error, "not resolving secrets in-process")
	assert.NotContains(t, *run.Error, "PLANTED")
	assert.Empty(t, run.Workflow, "no workflow ran")

	// A redeploy the sidecar has not resolved yet is not taken for current.
	require.NoError(t, os.WriteFile(def, pipelineJSON(t, om, "mysql_prod_metadata", "other_service"), 0o644))
	run = runDAG(t, def, out)
	require.NotNil(t, run.Error)
	assert.Empty(t, run.Workflow)
}
