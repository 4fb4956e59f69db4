package workflow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/schematest"
)

// marker is a planted secret: no error, formatted value or log line may
// contain it.
const marker = "eyJ-PLANTED-SECRET-7f3a"

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

func parsePipelineFile(t *testing.T, name string) *Definition {
	t.Helper()
	def, err := Parse(name, readTestdata(t, name))
	require.NoError(t, err)
	require.Equal(t, KindIngestionPipeline, def.Kind)
	require.NotNil(t, def.Pipeline)
	return def
}

// mutate decodes a JSON fixture, applies fn and encodes it again (key order
// is lost, which error tests do not mind).
func mutate(t *testing.T, data []byte, fn func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(data, &m))
	fn(m)
	out, err := json.Marshal(m)
	require.NoError(t, err)
	return out
}

func sub(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		m = m[k].(map[string]any)
	}
	return m
}

var pipelineSchema = sync.OnceValues(func() (*schematest.Validator, error) {
	return schematest.Load("entity/services/ingestionPipelines/ingestionPipeline.json", "")
})

// TestPipelineFixturesAreValid keeps the fixtures honest: each is a valid
// IngestionPipeline under the shared (current) schema.
func TestPipelineFixturesAreValid(t *testing.T) {
	t.Parallel()
	schematest.SharedDir(t)
	v, err := pipelineSchema()
	require.NoError(t, err)
	files, err := filepath.Glob("testdata/pipeline-*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		assert.NoError(t, v.Validate(readTestdata(t, filepath.Base(f))), f)
	}
}

func TestParsePipeline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file, name, fqn, pipelineType string
		service                       ServiceRef
	}{
		{"pipeline-metadata.json", "mysql_prod_metadata_cFjZmNAR", "mysql_prod.mysql_prod_metadata_cFjZmNAR", "metadata",
			ServiceRef{"891b373d-a253-4639-ad54-fc17491a7d5d", "databaseService", "mysql_prod", "mysql_prod"}},
		{"pipeline-usage.json", "mysql_prod_usage_Xk2", "mysql_prod.mysql_prod_usage_Xk2", "usage",
			ServiceRef{"891b373d-a253-4639-ad54-fc17491a7d5d", "databaseService", "mysql_prod", "mysql_prod"}},
		{"pipeline-testsuite.json", "orders_test_suite_Ef5", "mysql_prod.shop.public.orders.testSuite.orders_test_suite_Ef5", "TestSuite",
			ServiceRef{"0b7c8cb3-9b6c-4a7b-8f6c-6c6b7a8f9e0d", "testSuite", "mysql_prod.shop.public.orders.testSuite", "mysql_prod.shop.public.orders.testSuite"}},
		{"pipeline-dotted.json", "mysql.prod metadata (nightly)", `"mysql.prod"."mysql.prod metadata (nightly)"`, "metadata",
			ServiceRef{"6bd2e219-f12c-4ad1-8f2c-2c2bd0ef5e6d", "databaseService", "mysql.prod", `"mysql.prod"`}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			def := parsePipelineFile(t, tt.file)
			p := def.Pipeline
			assert.Equal(t, tt.name, def.Name, "Name is the raw pipeline name, not the file name")
			assert.Equal(t, tt.file, def.Path)
			assert.Equal(t, tt.name, p.Name())
			assert.Equal(t, tt.fqn, p.fqn)
			assert.Equal(t, tt.pipelineType, p.pipelineType)
			assert.Equal(t, tt.service, p.Service())
			assert.Equal(t, "aws", def.Provider(), "the pipeline's secretsManagerProvider")
		})
	}
}

// TestPipelineFields checks what Parse reads: the server connection as
// Definition.Server returns it (what reconcile uses), the rest as the
// fields Assemble reads.
func TestPipelineFields(t *testing.T) {
	t.Parallel()
	data := readTestdata(t, "pipeline-metadata.json")
	def := parsePipelineFile(t, "pipeline-metadata.json")
	p := def.Pipeline

	srv, err := def.Server()
	require.NoError(t, err)
	assert.Equal(t, "http://openmetadata-server:8585/api", srv.HostPort)
	assert.Equal(t, "openmetadata", srv.AuthProvider)
	assert.Equal(t, "secret:/openmetadata/bot/ingestion-bot/jwt", srv.JWTToken)
	assert.Equal(t, "aws", srv.Provider)
	assert.Equal(t, "noop", srv.Loader)
	assert.Equal(t, "no-ssl", srv.VerifySSL)
	assert.Equal(t, "", srv.CACertificate)
	assert.Nil(t, srv.ExtraHeaders)
	assert.Equal(t, "openmetadata", srv.ClusterName)
	assert.Equal(t, "", p.srv.workflowBot)
	assert.Equal(t, "INFO", p.loggerLevel)
	if assert.NotNil(t, p.raiseOnError) {
		assert.True(t, *p.raiseOnError)
	}
	assert.False(t, p.streamLogs)

	// The raw parts are the file's bytes, key order and literals kept.
	var raw struct {
		SourceConfig json.RawMessage `json:"sourceConfig"`
		Server       json.RawMessage `json:"openMetadataServerConnection"`
	}
	require.NoError(t, json.Unmarshal(data, &raw))
	assert.Equal(t, string(raw.SourceConfig), string(p.sourceConfig))
	assert.Equal(t, string(raw.Server), string(p.server))

	// Other server connection shapes.
	data = mutate(t, data, func(m map[string]any) {
		conn := sub(m, "openMetadataServerConnection")
		conn["sslConfig"] = map[string]any{"caCertificate": "/etc/ssl/om-ca.pem"}
		conn["verifySSL"] = "validate"
		conn["extraHeaders"] = map[string]any{"X-Tenant": "a", "X-Env": "prod"}
		conn["clusterName"] = "eu"
		delete(m, "raiseOnError")
		m["loggerLevel"] = nil
	})
	p2, err := Parse("p.json", data)
	require.NoError(t, err)
	srv2, err := p2.Server()
	require.NoError(t, err)
	assert.Equal(t, "/etc/ssl/om-ca.pem", srv2.CACertificate)
	assert.Equal(t, "validate", srv2.VerifySSL)
	assert.Equal(t, map[string]string{"X-Tenant": "a", "X-Env": "prod"}, srv2.ExtraHeaders)
	assert.Equal(t, "eu", srv2.ClusterName)
	assert.Equal(t, "", p2.Pipeline.loggerLevel)
	assert.Nil(t, p2.Pipeline.raiseOnError)

	// The older sslConfig.certificatePath.
	data = mutate(t, data, func(m map[string]any) {
		sub(m, "openMetadataServerConnection")["sslConfig"] = map[string]any{"certificatePath": "/old/ca.pem"}
	})
	p3, err := Parse("p.json", data)
	require.NoError(t, err)
	srv3, err := p3.Server()
	require.NoError(t, err)
	assert.Equal(t, "/old/ca.pem", srv3.CACertificate)
}

// TestParseDocsPipeline parses the OpenMetadata docs' entity (0.12 era:
// owner, workflowBot, secretsManagerProvider noop), which the current schema
// rejects but OpenMetadata deployed.
func TestParseDocsPipeline(t *testing.T) {
	t.Parallel()
	dir := schematest.SharedDir(t)
	path := filepath.Join(dir, "examples", "docs-ingestion-pipeline-entity.json")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	def, err := Parse(path, data)
	require.NoError(t, err)
	assert.Equal(t, KindIngestionPipeline, def.Kind)
	assert.Equal(t, "mysql_metadata_cFjZmNAR", def.Name)
	assert.Equal(t, "ingestion-bot", def.Pipeline.srv.workflowBot, "parsed, though ignored")
	assert.Equal(t, "noop", def.Provider())
	assert.Equal(t, ServiceRef{"891b373d-a253-4639-ad54-fc17491a7d5d", "databaseService", "mysql", "mysql"}, def.Pipeline.Service())
}

// TestParsePipelineNulls: pydantic writes unset optional fields as null.
func TestParsePipelineNulls(t *testing.T) {
	t.Parallel()
	data := mutate(t, readTestdata(t, "pipeline-metadata.json"), func(m map[string]any) {
		for _, k := range []string{"description", "owners", "loggerLevel", "raiseOnError", "enableStreamableLogs", "domains", "pipelineStatuses"} {
			m[k] = nil
		}
		srv := sub(m, "openMetadataServerConnection")
		for _, k := range []string{"authProvider", "securityConfig", "sslConfig", "extraHeaders", "clusterName", "secretsManagerLoader"} {
			srv[k] = nil
		}
		sub(m, "service")["fullyQualifiedName"] = nil
	})
	def, err := Parse("nulls.json", data)
	require.NoError(t, err)
	p := def.Pipeline
	srv, err := def.Server()
	require.NoError(t, err)
	assert.Equal(t, "", p.loggerLevel)
	assert.Equal(t, "", srv.AuthProvider)
	assert.Equal(t, "", srv.JWTToken)
	assert.Equal(t, DefaultClusterName, srv.ClusterName)
	assert.Equal(t, "", p.Service().FQN)
	assert.Nil(t, p.raiseOnError)
}

func TestParsePipelineYAML(t *testing.T) {
	t.Parallel()
	in := "name: y\nfullyQualifiedName: svc.y\npipelineType: lineage\n" +
		"service: {type: databaseService, name: svc}\n" +
		"sourceConfig: {config: {type: DatabaseLineage, resultLimit: 10}}\n" +
		"openMetadataServerConnection: {hostPort: 'http://om:8585/api'}\n"
	def, err := Parse("y.yaml", []byte(in))
	require.NoError(t, err)
	assert.Equal(t, KindIngestionPipeline, def.Kind)
	assert.Equal(t, "lineage", def.Pipeline.pipelineType)
	assert.JSONEq(t, `{"config":{"type":"DatabaseLineage","resultLimit":10}}`, string(def.Pipeline.sourceConfig))
}

func TestParsePipelineErrors(t *testing.T) {
	t.Parallel()
	base := readTestdata(t, "pipeline-metadata.json")
	planted := mutate(t, base, func(m map[string]any) {
		sub(m, "openMetadataServerConnection", "securityConfig")["jwtToken"] = marker
		sub(m, "sourceConfig", "config")["password"] = marker
	})
	tests := []struct {
		name   string
		mutate func(m map[string]any)
		want   string
		is     error
	}{
		{"name missing", func(m map[string]any) { delete(m, "name") }, "x.json: name: missing", ErrMissingField},
		{"name empty", func(m map[string]any) { m["name"] = "" }, "x.json: name: missing", ErrMissingField},
		{"name not a string", func(m map[string]any) { m["name"] = 42 }, "x.json: name: invalid: want a string", ErrInvalidField},
		{"fqn missing", func(m map[string]any) { m["fullyQualifiedName"] = nil }, "x.json: fullyQualifiedName: missing", ErrMissingField},
		{"pipelineType unknown", func(m map[string]any) { m["pipelineType"] = marker }, "x.json: pipelineType: invalid: want one of metadata, usage, lineage, profiler, autoClassification, TestSuite, dataInsight, elasticSearchReindex, dbt, application, reverseMetadata, policyAgent", ErrInvalidField},
		{"pipelineType missing", func(m map[string]any) { delete(m, "pipelineType") }, "x.json: pipelineType: missing", ErrMissingField},
		{"service.type missing", func(m map[string]any) { delete(sub(m, "service"), "type") }, "x.json: service.type: missing", ErrMissingField},
		{"service.name not a string", func(m map[string]any) { sub(m, "service")["name"] = []any{marker} }, "x.json: service.name: invalid: want a string", ErrInvalidField},
		{"service not an object", func(m map[string]any) { m["service"] = marker }, "x.json: service: invalid: want an object", ErrInvalidField},
		{"sourceConfig missing", func(m map[string]any) { delete(m, "sourceConfig") }, "x.json: sourceConfig: missing", ErrMissingField},
		{"sourceConfig.config missing", func(m map[string]any) { m["sourceConfig"] = map[string]any{} }, "x.json: sourceConfig.config: missing", ErrMissingField},
		{"loggerLevel unknown", func(m map[string]any) { m["loggerLevel"] = "TRACE" }, "x.json: loggerLevel: invalid: want one of DEBUG, INFO, WARN, ERROR", ErrInvalidField},
		{"raiseOnError not a boolean", func(m map[string]any) { m["raiseOnError"] = "yes" }, "x.json: raiseOnError: invalid: want a boolean", ErrInvalidField},
		{"server connection missing", func(m map[string]any) { delete(m, "openMetadataServerConnection") }, "x.json: openMetadataServerConnection: missing", ErrMissingField},
		{"hostPort missing", func(m map[string]any) { delete(sub(m, "openMetadataServerConnection"), "hostPort") }, "x.json: openMetadataServerConnection.hostPort: missing", ErrMissingField},
		{"jwtToken not a string", func(m map[string]any) {
			sub(m, "openMetadataServerConnection", "securityConfig")["jwtToken"] = map[string]any{"v": marker}
		}, "x.json: openMetadataServerConnection.securityConfig.jwtToken: invalid: want a string", ErrInvalidField},
		{"securityConfig not an object", func(m map[string]any) { sub(m, "openMetadataServerConnection")["securityConfig"] = marker },
			"x.json: openMetadataServerConnection.securityConfig: invalid: want an object", ErrInvalidField},
		{"extraHeaders value not a string", func(m map[string]any) {
			sub(m, "openMetadataServerConnection")["extraHeaders"] = map[string]any{"Authorization": 1}
		}, "x.json: openMetadataServerConnection.extraHeaders.Authorization: invalid: want a string", ErrInvalidField},
		{"sslConfig.caCertificate not a string", func(m map[string]any) {
			sub(m, "openMetadataServerConnection")["sslConfig"] = map[string]any{"caCertificate": true}
		}, "x.json: openMetadataServerConnection.sslConfig.caCertificate: invalid: want a string", ErrInvalidField},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("x.json", mutate(t, planted, tt.mutate))
			require.Error(t, err)
			assert.Equal(t, tt.want, err.Error())
			assert.ErrorIs(t, err, tt.is)
			assert.NotContains(t, err.Error(), "\n")
			assert.NotContains(t, err.Error(), marker)
		})
	}

	t.Run("syntax error names the file, not the content", func(t *testing.T) {
		t.Parallel()
		in := append(bytes.Clone(planted[:len(planted)-2]), []byte(`,"x": `+marker+`}`)...)
		_, err := Parse("x.json", in)
		require.Error(t, err)
		assert.True(t, strings.HasPrefix(err.Error(), "x.json: syntax error"), err.Error())
		assert.NotContains(t, err.Error(), marker)
	})
	t.Run("duplicate keys", func(t *testing.T) {
		t.Parallel()
		in := bytes.Replace(planted, []byte(`{`), []byte(`{"name":"a",`), 1)
		_, err := Parse("x.json", in)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "x.json: syntax error")
		assert.NotContains(t, err.Error(), marker)
	})
}

// TestWorkflowConfigStillParses: a workflow config is never taken for a
// pipeline, even one with a stray pipelineType.
func TestWorkflowConfigStillParses(t *testing.T) {
	t.Parallel()
	def, err := Parse("w.json", []byte(`{"source":{"type":"mysql"},"pipelineType":"metadata","workflowConfig":{}}`))
	require.NoError(t, err)
	assert.Equal(t, KindWorkflowConfig, def.Kind)
	assert.Nil(t, def.Pipeline)
	assert.Equal(t, "w", def.Name)
}

// TestPipelineFormattingHidesSecrets plants a token in the server
// connection and the source config and prints the pipeline every way.
func TestPipelineFormattingHidesSecrets(t *testing.T) {
	t.Parallel()
	data := mutate(t, readTestdata(t, "pipeline-metadata.json"), func(m map[string]any) {
		sub(m, "openMetadataServerConnection", "securityConfig")["jwtToken"] = marker
		sub(m, "sourceConfig", "config")["dbtConfigSource"] = map[string]any{"token": marker}
	})
	def, err := Parse("p.json", data)
	require.NoError(t, err)
	p := def.Pipeline
	srv, err := def.Server()
	require.NoError(t, err)
	require.Equal(t, marker, srv.JWTToken, "the token is readable on purpose")

	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	logger.Info("parsed", "pipeline", p)
	logger.Info("parsed", "pipeline", *p)
	for _, s := range []string{
		fmt.Sprint(p), fmt.Sprintf("%v %+v %#v %s", p, p, p, p),
		fmt.Sprintf("%v %+v %#v", *p, *p, *p),
		fmt.Sprintf("%v %+v", def, *def),
		logs.String(),
	} {
		assert.NotContains(t, s, marker)
	}
	assert.Contains(t, logs.String(), `"name":"mysql_prod_metadata_cFjZmNAR"`)
}
