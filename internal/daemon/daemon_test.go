package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/reconcile"
	"omsecrets/internal/testbed/omtest"
	"omsecrets/internal/testbed/schematest"
)

func TestOncePipeline(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	path := h.writeDef("mysql_prod_metadata.json", h.pipeline("mysql_prod_metadata"))

	failed := h.d.Once(context.Background(), []string{path})
	require.Equal(t, 0, failed, h.logs.String())

	data, err := os.ReadFile(filepath.Join(h.out, "mysql_prod_metadata.json"))
	require.NoError(t, err)
	schematest.RequireValid(t, "daemon output", data)
	out := h.output("mysql_prod_metadata.json")
	assert.Equal(t, plant+"-mysql-password-1", password(out))
	assert.Equal(t, h.botToken, dig(out, "workflowConfig", "openMetadataServerConfig", "securityConfig", "jwtToken"))
	assert.Equal(t, "db", dig(out, "workflowConfig", "openMetadataServerConfig", "secretsManagerProvider"))
	assert.Equal(t, "mysql", dig(out, "source", "type"))
	assert.Equal(t, "mysql_prod.mysql_prod_metadata", out["ingestionPipelineFQN"])
	assert.NotContains(t, string(data), "secret:")

	fi, err := os.Stat(filepath.Join(h.out, "mysql_prod_metadata.json"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	st, ok := h.board.Get(path)
	require.True(t, ok)
	assert.True(t, st.OK)
	assert.Equal(t, filepath.Join(h.out, "mysql_prod_metadata.json"), st.Output)
	require.NotEmpty(t, st.Refs)
	for _, r := range st.Refs {
		assert.Equal(t, "ok", r.Outcome, r.Field)
	}
	// The bot's token was used, never another.
	for _, r := range h.om.Requests() {
		assert.Equal(t, omtest.TokenBot, r.TokenKind, r.Path)
	}
}

func TestOnceWorkflowConfigCompletedFromTheAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	cfg := fmt.Sprintf(`source:
  type: mysql
  serviceName: mysql_prod
  sourceConfig:
    config:
      type: DatabaseMetadata
sink:
  type: metadata-rest
  config: {}
workflowConfig:
  openMetadataServerConfig:
    hostPort: %s
    authProvider: openmetadata
    securityConfig:
      jwtToken: secret:%s
`, h.om.URL(), jwtID)
	path := h.writeDef("nightly.yaml", []byte(cfg))
	require.Equal(t, 0, h.d.Once(context.Background(), []string{path}), h.logs.String())
	out := h.output("nightly.json")
	assert.Equal(t, plant+"-mysql-password-1", password(out))
	assert.Equal(t, "mysql_prod", dig(out, "source", "serviceName"))
}

func TestOnceFailuresAreOneLineAndKeepOthers(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	good := h.writeDef("good.json", h.pipeline("good"))
	gone := h.writeDef("gone.json", h.pipeline("gone", func(p map[string]any) {
		p["service"] = map[string]any{"id": "11111111-2222-3333-4444-555555555555", "type": "databaseService", "name": "no_such_service"}
	}))
	broken := h.writeDef("broken.json", []byte(`{"name": "broken", "pipelineType": "metadata",`))
	missing := h.writeDef("missing.json", h.pipeline("missing", func(p map[string]any) {
		srv := p["openMetadataServerConnection"].(map[string]any)
		srv["securityConfig"] = map[string]any{"jwtToken": "secret:/openmetadata/bot/ingestion-bot/config/missing"}
	}))
	otherBot := h.writeDef("other_bot.json", h.pipeline("other_bot", func(p map[string]any) {
		srv := p["openMetadataServerConnection"].(map[string]any)
		srv["securityConfig"] = map[string]any{"jwtToken": "secret:/openmetadata/bot/admin-bot/config/jwttoken"}
	}))

	failed := h.d.Once(context.Background(), []string{good, gone, broken, missing, otherBot})
	assert.Equal(t, 4, failed)
	assert.NotNil(t, h.output("good.json"))
	for _, tt := range []struct {
		path, class, want string
	}{
		{gone, "om_not_found", `pipeline "gone": databaseService "no_such_service"`},
		{broken, "invalid", "broken.json"},
		{missing, "not_found", "bot JWT secret:/openmetadata/bot/ingestion-bot/config/missing"},
		{otherBot, "forbidden_ref", `bot JWT secret:/openmetadata/bot/admin-bot/config/jwttoken: reference not allowed: not pipeline "other_bot"'s own secret`},
	} {
		st, ok := h.board.Get(tt.path)
		require.True(t, ok, tt.path)
		assert.False(t, st.OK)
		assert.Equal(t, tt.class, st.Class, st.Error)
		assert.Contains(t, st.Error, tt.want)
		assert.NotContains(t, st.Error, "\n")
		assert.Contains(t, st.Error, tt.path, "the message names the file")
	}
	assert.Nil(t, h.output("gone.json"))
}

func TestOnceTokenNotABot(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	user := h.om.UserToken("alice")
	h.setSecret(jwtID, user)
	h.planted = append(h.planted, user)
	path := h.writeDef("p.json", h.pipeline("p"))
	require.Equal(t, 1, h.d.Once(context.Background(), []string{path}))
	st, _ := h.board.Get(path)
	assert.Equal(t, "masked", st.Class, st.Error)
	assert.Contains(t, st.Error, "not a bot")
	assert.Nil(t, h.output("p.json"))
}

func TestOnceUnsupportedPipelineType(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	path := h.writeDef("di.json", h.pipeline("di", func(p map[string]any) { p["pipelineType"] = "dataInsight" }))
	require.Equal(t, 1, h.d.Once(context.Background(), []string{path}))
	st, _ := h.board.Get(path)
	assert.Equal(t, "unsupported", st.Class, st.Error)
	assert.Contains(t, st.Error, "dataInsight")
}

func TestOnceDottedServiceName(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.om.PutService("databaseService", omtest.ServiceEntity("warehouse.eu", "Postgres", map[string]any{
		"username": "etl",
		"authType": map[string]any{"password": "secret:/openmetadata/database/warehouse.eu/password"},
		"hostPort": "pg:5432",
		"database": "dw",
	}))
	h.setSecret("/openmetadata/database/warehouse.eu/password", plant+"-pg")
	path := h.writeDef("wh.json", h.pipeline("warehouse.eu_metadata", func(p map[string]any) {
		p["fullyQualifiedName"] = `"warehouse.eu".warehouse.eu_metadata`
		p["service"] = map[string]any{"type": "databaseService", "name": "warehouse.eu", "fullyQualifiedName": `"warehouse.eu"`}
	}))
	require.Equal(t, 0, h.d.Once(context.Background(), []string{path}), h.logs.String())
	out := h.output("warehouse_eu_metadata.json")
	require.NotNil(t, out, "output named by OpenMetadata's clean_dag_id")
	assert.Equal(t, plant+"-pg", password(out))
	assert.Equal(t, "postgres", dig(out, "source", "type"))
}

func TestOnceConnectionSecretLayout(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.om.HideConnections(true) // OpenMetadata 0.12-0.13: bots never see connections
	conn := fmt.Sprintf(`{"type": "Mysql", "username": "openmetadata_user", "authType": {"password": %q}, "hostPort": "mysql:3306"}`, plant+"-whole-connection")
	h.setSecret("/openmetadata/service/database/mysql/mysql_prod", conn)
	h.setSecret("/openmetadata/bot/ingestion-bot/auth-provider", `"openmetadata"`)
	h.setSecret("/openmetadata/bot/ingestion-bot", fmt.Sprintf(`{"jwtToken": %q}`, h.botToken))
	path := h.writeDef("legacy.json", h.pipeline("legacy", func(p map[string]any) {
		srv := p["openMetadataServerConnection"].(map[string]any)
		delete(srv, "securityConfig") // 0.12-0.13 kept it in the store
	}))
	require.Equal(t, 0, h.d.Once(context.Background(), []string{path}), h.logs.String())
	out := h.output("legacy.json")
	assert.Equal(t, plant+"-whole-connection", password(out))
	assert.Equal(t, h.botToken, dig(out, "workflowConfig", "openMetadataServerConfig", "securityConfig", "jwtToken"))
	assert.Equal(t, "openmetadata", dig(out, "workflowConfig", "openMetadataServerConfig", "authProvider"))
	data, err := os.ReadFile(filepath.Join(h.out, "legacy.json"))
	require.NoError(t, err)
	schematest.RequireValid(t, "connection-secret output", data)
}

func TestOnceReferencesLayoutRefusesHiddenConnection(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(o *options) { o.Layout = reconcile.LayoutReferences })
	h.om.HideConnections(true)
	path := h.writeDef("p.json", h.pipeline("p"))
	require.Equal(t, 1, h.d.Once(context.Background(), []string{path}))
	st, _ := h.board.Get(path)
	assert.Equal(t, "connection_hidden", st.Class)
	assert.Contains(t, st.Error, "OpenMetadata 0.12-0.13 kept whole connections in the secrets manager")
}

func TestOnceJWTFileOverrides(t *testing.T) {
	t.Parallel()
	jwtFile := filepath.Join(t.TempDir(), "jwt")
	h := newHarness(t, func(o *options) { o.JWTFile = jwtFile })
	other := h.om.BotToken("other-bot")
	h.planted = append(h.planted, other)
	require.NoError(t, os.WriteFile(jwtFile, []byte(other+"\n"), 0o600))
	path := h.writeDef("p.json", h.pipeline("p"))
	require.Equal(t, 0, h.d.Once(context.Background(), []string{path}), h.logs.String())
	assert.Equal(t, other, dig(h.output("p.json"), "workflowConfig", "openMetadataServerConfig", "securityConfig", "jwtToken"))
}

func TestStatusNeverHoldsValues(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	path := h.writeDef("p.json", h.pipeline("p"))
	require.Equal(t, 0, h.d.Once(context.Background(), []string{path}))
	b, err := json.Marshal(h.board.Snapshot())
	require.NoError(t, err)
	assert.Contains(t, string(b), "secret:"+passwordID, "reference ids are listed")
	assert.False(t, strings.Contains(string(b), plant))
}

// TestOnceCancelledKeepsEverything: a stop in the middle of a batch (as on
// SIGTERM) changes neither the earlier output nor its status.
func TestOnceCancelledKeepsEverything(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	path := h.writeDef("p.json", h.pipeline("p"))
	require.Equal(t, 0, h.d.Once(context.Background(), []string{path}))
	before, err := os.ReadFile(filepath.Join(h.out, "p.json"))
	require.NoError(t, err)
	stBefore, _ := h.board.Get(path)

	h.setSecret(passwordID, plant+"-rotated")
	h.om.SetLatency(2 * time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	assert.Equal(t, 1, h.d.Once(ctx, []string{path}), "nothing is known to have succeeded")

	after, err := os.ReadFile(filepath.Join(h.out, "p.json"))
	require.NoError(t, err)
	assert.Equal(t, before, after)
	stAfter, _ := h.board.Get(path)
	assert.Equal(t, stBefore.LastAttempt, stAfter.LastAttempt, "status untouched")
	assert.True(t, stAfter.OK)
}

// TestOneSlowHostFailsOnlyItsDefinitions: a definition whose OpenMetadata
// never answers fails alone; the others of its batch are written.
func TestOneSlowHostFailsOnlyItsDefinitions(t *testing.T) {
	t.Parallel()
	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(hang); slow.Close() })
	h := newHarness(t, func(o *options) {
		o.Timeout = time.Second
		o.Workers = 2
	})
	paths := []string{h.writeDef("good.json", h.pipeline("good"))}
	const stuckN = 16 // services on the hung host: many more than the workers
	for i := range stuckN {
		paths = append(paths, h.writeDef(fmt.Sprintf("stuck%d.json", i), h.pipeline(fmt.Sprintf("stuck%d", i), func(p map[string]any) {
			p["openMetadataServerConnection"].(map[string]any)["hostPort"] = slow.URL + "/api"
			p["service"] = map[string]any{"type": "databaseService", "name": fmt.Sprintf("svc_%d", i)}
		})))
	}
	start := time.Now()
	assert.Equal(t, stuckN, h.d.Once(context.Background(), paths))
	// One time budget for the fetch stage, not one per fetch in turn
	// (which would be stuckN/workers = 8 s).
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.NotNil(t, h.output("good.json"), "the good definition of the batch is written")
	for _, p := range paths[1:] {
		st, _ := h.board.Get(p)
		assert.Equal(t, "om_unavailable", st.Class, st.Error)
	}
}

// TestOverridesApplyWithoutAService: the JWT file and the host override
// reach the outputs of pipelines that call no service (a reindex).
func TestOverridesApplyWithoutAService(t *testing.T) {
	t.Parallel()
	jwtFile := filepath.Join(t.TempDir(), "jwt")
	h := newHarness(t, func(o *options) {
		o.JWTFile = jwtFile
		o.HostPort = "http://openmetadata.internal:8585/api"
	})
	tok := plant + "-file-token"
	h.planted = append(h.planted, tok)
	require.NoError(t, os.WriteFile(jwtFile, []byte(tok), 0o600))
	path := h.writeDef("reindex.json", h.pipeline("reindex", func(p map[string]any) {
		p["pipelineType"] = "elasticSearchReindex"
		p["service"] = map[string]any{"type": "metadataService", "name": "OpenMetadata", "fullyQualifiedName": "OpenMetadata"}
		p["sourceConfig"] = map[string]any{"config": map[string]any{"type": "MetadataToElasticSearch", "recreateIndex": true}}
	}))
	require.Equal(t, 0, h.d.Once(context.Background(), []string{path}), h.logs.String())
	out := h.output("reindex.json")
	assert.Equal(t, tok, dig(out, "workflowConfig", "openMetadataServerConfig", "securityConfig", "jwtToken"))
	assert.Equal(t, "http://openmetadata.internal:8585/api", dig(out, "workflowConfig", "openMetadataServerConfig", "hostPort"))
	assert.Empty(t, h.om.Requests(), "no service was fetched")
}
