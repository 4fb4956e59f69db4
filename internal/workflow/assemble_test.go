package workflow

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/render"
	"omsecrets/internal/testbed/schematest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// loadService reads a service entity as the OpenMetadata API returns it.
func loadService(t *testing.T, entityType, file string) *Service {
	t.Helper()
	var e struct {
		ID, Name, FullyQualifiedName, ServiceType string
		Connection                                json.RawMessage
	}
	require.NoError(t, json.Unmarshal(readTestdata(t, file), &e))
	return &Service{EntityType: entityType, ID: e.ID, Name: e.Name, FQN: e.FullyQualifiedName, ServiceType: e.ServiceType, Connection: e.Connection}
}

func mysqlService(t *testing.T) *Service {
	t.Helper()
	return loadService(t, "databaseService", "service-mysql.json")
}

// golden compares got with testdata/<name>.golden, rewriting it with
// -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./internal/workflow -run TestAssemble -update to create it")
	assert.Equal(t, string(want), string(got))
}

func assemble(t *testing.T, file string, svc *Service) (*Definition, map[string]any, []byte) {
	t.Helper()
	def := parsePipelineFile(t, file)
	out, err := def.Pipeline.Assemble(svc)
	require.NoError(t, err)
	b, err := out.Doc.Marshal(render.JSON)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	return out, m, b
}

// topKeys returns the top-level keys of a JSON object in document order.
func topKeys(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(b)))
	_, err := dec.Token()
	require.NoError(t, err)
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		require.NoError(t, err)
		keys = append(keys, k.(string))
		var skip json.RawMessage
		require.NoError(t, dec.Decode(&skip))
	}
	return keys
}

func TestAssemble(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file, golden string
		svc          bool
		sourceType   string
		keys         []string
		processor    string
		raiseOnError any // nil: absent
		check        func(t *testing.T, m map[string]any)
	}{
		{
			file: "pipeline-metadata.json", golden: "metadata", svc: true, sourceType: "mysql",
			keys:         []string{"source", "sink", "workflowConfig", "ingestionPipelineFQN"},
			raiseOnError: true,
		},
		{
			file: "pipeline-usage.json", golden: "usage", svc: true, sourceType: "mysql-usage",
			keys:      []string{"source", "processor", "stage", "bulkSink", "workflowConfig", "ingestionPipelineFQN"},
			processor: "query-parser", raiseOnError: true,
			check: func(t *testing.T, m map[string]any) {
				assert.Equal(t, map[string]any{"type": "table-usage", "config": map[string]any{"filename": "/tmp/mysql_prod_usage"}}, m["stage"])
				assert.Equal(t, map[string]any{"type": "metadata-usage", "config": map[string]any{"filename": "/tmp/mysql_prod_usage"}}, m["bulkSink"])
				assert.Equal(t, "DEBUG", sub(m, "workflowConfig")["loggerLevel"])
			},
		},
		{
			file: "pipeline-lineage.json", golden: "lineage", svc: true, sourceType: "mysql-lineage",
			keys:         []string{"source", "sink", "workflowConfig", "ingestionPipelineFQN"},
			raiseOnError: false,
		},
		{
			file: "pipeline-dbt.json", golden: "dbt", svc: true, sourceType: "dbt",
			keys:         []string{"source", "sink", "workflowConfig", "ingestionPipelineFQN"},
			raiseOnError: true,
		},
		{
			file: "pipeline-profiler.json", golden: "profiler", svc: true, sourceType: "mysql",
			keys:      []string{"source", "processor", "sink", "workflowConfig", "ingestionPipelineFQN"},
			processor: "orm-profiler",
			check: func(t *testing.T, m map[string]any) {
				assert.Equal(t, "WARN", sub(m, "workflowConfig")["loggerLevel"])
			},
		},
		{
			file: "pipeline-autoclassification.json", golden: "autoclassification", svc: true, sourceType: "mysql",
			keys:      []string{"source", "processor", "sink", "workflowConfig", "ingestionPipelineFQN"},
			processor: "tag-pii-processor",
		},
		{
			file: "pipeline-testsuite.json", golden: "testsuite", sourceType: "testSuite",
			keys:      []string{"source", "processor", "sink", "workflowConfig", "ingestionPipelineFQN"},
			processor: "orm-test-runner",
			check: func(t *testing.T, m map[string]any) {
				src := sub(m, "source")
				assert.Equal(t, "mysql_prod.shop.public.orders.testSuite", src["serviceName"])
				assert.NotContains(t, src, "serviceConnection")
			},
		},
		{
			file: "pipeline-dotted.json", golden: "dotted", svc: true, sourceType: "mysql",
			keys:         []string{"source", "sink", "workflowConfig", "ingestionPipelineFQN"},
			raiseOnError: true,
			check: func(t *testing.T, m map[string]any) {
				assert.Equal(t, "mysql.prod", sub(m, "source")["serviceName"])
				assert.Equal(t, `"mysql.prod"."mysql.prod metadata (nightly)"`, m["ingestionPipelineFQN"])
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			t.Parallel()
			var svc *Service
			if tt.svc {
				svc = mysqlService(t)
				if tt.golden == "dotted" {
					svc.Name, svc.FQN = "mysql.prod", `"mysql.prod"`
				}
			}
			in := parsePipelineFile(t, tt.file)
			def, m, out := assemble(t, tt.file, svc)
			golden(t, tt.golden, out)
			schematest.RequireValid(t, tt.golden, out)

			assert.Equal(t, KindWorkflowConfig, def.Kind)
			assert.Equal(t, tt.file, def.Path)
			assert.Equal(t, in.Name, def.Name)
			assert.Equal(t, tt.keys, topKeys(t, out), "OpenMetadata's key order")
			src := sub(m, "source")
			assert.Equal(t, tt.sourceType, src["type"])
			wantSource := []string{"type", "serviceName", "serviceConnection", "sourceConfig"}
			if !tt.svc {
				wantSource = []string{"type", "serviceName", "sourceConfig"}
			}
			assert.Equal(t, wantSource, topKeys(t, rawField(t, out, "source")), "build_source's key order")

			// sourceConfig and the server connection are the pipeline's, as is.
			var wantSC, wantServer, wantConn map[string]any
			require.NoError(t, json.Unmarshal(in.Pipeline.sourceConfig, &wantSC))
			assert.Equal(t, wantSC, src["sourceConfig"])
			require.NoError(t, json.Unmarshal(in.Pipeline.server, &wantServer))
			assert.Equal(t, wantServer, sub(m, "workflowConfig")["openMetadataServerConfig"])
			assert.Equal(t, in.Pipeline.fqn, m["ingestionPipelineFQN"])
			assert.NotContains(t, m, "pipelineRunId")
			if tt.svc {
				require.NoError(t, json.Unmarshal(svc.Connection, &wantConn))
				assert.Equal(t, wantConn, src["serviceConnection"])
			}
			if tt.processor != "" {
				assert.Equal(t, map[string]any{"type": tt.processor, "config": map[string]any{}}, m["processor"])
			}
			if slices.Contains(tt.keys, "sink") {
				assert.Equal(t, map[string]any{"type": "metadata-rest", "config": map[string]any{}}, m["sink"])
			}
			wc := sub(m, "workflowConfig")
			if tt.raiseOnError == nil {
				assert.NotContains(t, wc, "raiseOnError")
			} else {
				assert.Equal(t, tt.raiseOnError, wc["raiseOnError"])
			}
			if tt.check != nil {
				tt.check(t, m)
			}
		})
	}
}

// rawField returns the raw JSON of a top-level key, its key order kept.
func rawField(t *testing.T, b []byte, key string) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(b, &m))
	return m[key]
}

func jsonOf(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// TestAssembleESReindex: the shared schema set lacks
// metadataESConnection.json (SOURCE.md, "Not copied"), so the fixed
// serviceConnection is checked here and the rest against the schema.
func TestAssembleESReindex(t *testing.T) {
	t.Parallel()
	def, m, out := assemble(t, "pipeline-esreindex.json", nil)
	golden(t, "esreindex", out)
	assert.Equal(t, KindWorkflowConfig, def.Kind)
	assert.Equal(t, []string{"source", "sink", "workflowConfig", "ingestionPipelineFQN"}, topKeys(t, out))
	src := sub(m, "source")
	assert.Equal(t, "metadata_elasticsearch", src["type"])
	assert.Equal(t, "OpenMetadata", src["serviceName"], "the service FQN")
	assert.Equal(t, map[string]any{"config": map[string]any{"type": "MetadataES"}}, src["serviceConnection"])
	assert.NotContains(t, sub(m, "workflowConfig"), "raiseOnError")

	delete(src, "serviceConnection")
	schematest.RequireValid(t, "esreindex without serviceConnection", jsonOf(t, m))
}

var (
	workflowConfigSchemaOnce sync.Once
	workflowConfigSchema     *schematest.Validator
	workflowConfigSchemaErr  error
)

// TestAssembleApplication: application.json and the app config schemas are
// not in the shared set, so the workflowConfig is validated against
// workflow.json#/definitions/workflowConfig and the keys against
// application.json's properties (read upstream at 0a9a9263).
func TestAssembleApplication(t *testing.T) {
	t.Parallel()
	def, m, out := assemble(t, "pipeline-application.json", nil)
	golden(t, "application", out)
	assert.Equal(t, KindApplicationConfig, def.Kind)
	assert.Equal(t, []string{"workflowConfig", "sourcePythonClass", "appConfig", "appPrivateConfig", "ingestionPipelineFQN", "enableStreamableLogs"}, topKeys(t, out))
	assert.Equal(t, "metadata.applications.auto_tagger.app.AutoTaggerApp", m["sourcePythonClass"])
	assert.Equal(t, map[string]any{"type": "AutoTagger", "confidenceLevel": float64(80)}, m["appConfig"])
	assert.Equal(t, map[string]any{"token": "secret:/openmetadata/apps/autotagger/token"}, m["appPrivateConfig"])
	assert.Equal(t, false, m["enableStreamableLogs"])
	assert.Equal(t, true, sub(m, "workflowConfig")["raiseOnError"])
	assert.Equal(t, "aws", def.Provider(), "the server connection sits where a workflow config keeps it")

	// A subtest, so that without the shared schemas only this part skips.
	t.Run("schema", func(t *testing.T) {
		schematest.SharedDir(t)
		workflowConfigSchemaOnce.Do(func() {
			workflowConfigSchema, workflowConfigSchemaErr = schematest.Load("metadataIngestion/workflow.json", "/definitions/workflowConfig")
		})
		require.NoError(t, workflowConfigSchemaErr)
		require.NoError(t, workflowConfigSchema.Validate(jsonOf(t, m["workflowConfig"])))
	})
}

func TestAssembleUnsupported(t *testing.T) {
	t.Parallel()
	for _, typ := range []string{"dataInsight", "reverseMetadata"} {
		t.Run(typ, func(t *testing.T) {
			t.Parallel()
			data := mutate(t, readTestdata(t, "pipeline-metadata.json"), func(m map[string]any) { m["pipelineType"] = typ })
			def, err := Parse("u.json", data)
			require.NoError(t, err)
			_, err = def.Pipeline.Assemble(mysqlService(t))
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrUnsupportedPipeline)
			assert.True(t, strings.HasPrefix(err.Error(), "u.json: unsupported pipeline type: "+typ+": "), err.Error())
		})
	}
}

// TestAssembleEveryType: every enum value either assembles or says why not.
func TestAssembleEveryType(t *testing.T) {
	t.Parallel()
	for _, typ := range PipelineTypes {
		data := mutate(t, readTestdata(t, "pipeline-metadata.json"), func(m map[string]any) { m["pipelineType"] = typ })
		def, err := Parse("e.json", data)
		require.NoError(t, err, typ)
		_, err = def.Pipeline.Assemble(mysqlService(t))
		if err != nil {
			assert.ErrorIs(t, err, ErrUnsupportedPipeline, typ)
			assert.Contains(t, []string{"dataInsight", "reverseMetadata", "policyAgent"}, typ)
		}
	}
}

func TestAssembleDefaults(t *testing.T) {
	t.Parallel()
	data := mutate(t, readTestdata(t, "pipeline-usage.json"), func(m map[string]any) {
		delete(m, "loggerLevel")
		delete(m, "raiseOnError")
		delete(sub(m, "sourceConfig", "config"), "stageFileLocation")
	})
	def, err := Parse("d.json", data)
	require.NoError(t, err)
	out, err := def.Pipeline.Assemble(mysqlService(t))
	require.NoError(t, err)
	level, _ := out.Doc.Lookup("workflowConfig", "loggerLevel")
	assert.Equal(t, "INFO", level)
	file, _ := out.Doc.Lookup("stage", "config", "filename")
	assert.Equal(t, "/tmp/query_log", file)
	b, err := out.Doc.Marshal(render.JSON)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	assert.Equal(t, true, sub(m, "workflowConfig")["raiseOnError"], "the model's default")
	schematest.RequireValid(t, "usage with defaults", b)
}

// TestAssembleHiddenConnection: a service served without its connection
// gives a source without serviceConnection, still a valid config.
func TestAssembleHiddenConnection(t *testing.T) {
	t.Parallel()
	for _, conn := range []json.RawMessage{nil, json.RawMessage("null")} {
		svc := mysqlService(t)
		svc.Connection = conn
		def := parsePipelineFile(t, "pipeline-metadata.json")
		out, err := def.Pipeline.Assemble(svc)
		require.NoError(t, err)
		assert.False(t, out.Doc.IsMapping("source", "serviceConnection"))
		b, err := out.Doc.Marshal(render.JSON)
		require.NoError(t, err)
		schematest.RequireValid(t, "hidden connection", b)
	}
}

func TestAssembleErrors(t *testing.T) {
	t.Parallel()
	planted := mutate(t, readTestdata(t, "pipeline-metadata.json"), func(m map[string]any) {
		sub(m, "openMetadataServerConnection", "securityConfig")["jwtToken"] = marker
	})
	tests := []struct {
		name   string
		mutate func(m map[string]any)
		svc    func(s *Service) *Service
		want   string
		errIs  error
	}{
		{name: "no service", svc: func(*Service) *Service { return nil },
			want: "p.json: service does not fit: pipeline type metadata needs its databaseService", errIs: ErrService},
		{name: "entity type mismatch", svc: func(s *Service) *Service { s.EntityType = "dashboardService"; return s },
			want: "p.json: service does not fit: service entity type is not the pipeline's service.type databaseService", errIs: ErrService},
		{name: "no service type", svc: func(s *Service) *Service { s.ServiceType = ""; return s },
			want: "p.json: service does not fit: service type missing", errIs: ErrService},
		{name: "no service name", svc: func(s *Service) *Service { s.Name = ""; return s },
			want: "p.json: service does not fit: service name missing", errIs: ErrService},
		{name: "connection not an object", svc: func(s *Service) *Service { s.Connection = json.RawMessage(`["` + marker + `"]`); return s },
			want: "p.json: service does not fit: service connection: not an object", errIs: ErrService},
		{name: "connection not JSON", svc: func(s *Service) *Service { s.Connection = json.RawMessage(`{"password": ` + marker + `}`); return s },
			want: "p.json: service does not fit: service connection: syntax error: line 1 column", errIs: render.ErrSyntax},
		{name: "service type build_source does not fetch",
			mutate: func(m map[string]any) { sub(m, "service")["type"] = "securityService" },
			svc:    func(s *Service) *Service { s.EntityType = "securityService"; return s },
			want:   "p.json: service.type: invalid: want one of apiService", errIs: ErrInvalidField},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data := planted
			if tt.mutate != nil {
				data = mutate(t, planted, tt.mutate)
			}
			def, err := Parse("p.json", data)
			require.NoError(t, err)
			svc := mysqlService(t)
			svc.Connection = json.RawMessage(`{"config":{"type":"Mysql","password":"` + marker + `"}}`)
			_, err = def.Pipeline.Assemble(tt.svc(svc))
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), tt.want), err.Error())
			assert.True(t, errors.Is(err, tt.errIs), err.Error())
			assert.NotContains(t, err.Error(), marker)
			assert.NotContains(t, err.Error(), "\n")
		})
	}
}

// TestAssembleRefs: the assembled document carries the references of the
// service connection and the server connection, for the daemon to resolve.
func TestAssembleRefs(t *testing.T) {
	t.Parallel()
	def, _, _ := assemble(t, "pipeline-metadata.json", mysqlService(t))
	occ, err := def.Doc.Refs()
	require.NoError(t, err)
	var got []string
	for _, o := range occ {
		got = append(got, o.Path+"="+o.Ref.String())
	}
	assert.Equal(t, []string{
		"source.serviceConnection.config.authType.password=secret:/openmetadata/database/mysql_prod/password",
		"workflowConfig.openMetadataServerConfig.securityConfig.jwtToken=secret:/openmetadata/bot/ingestion-bot/jwt",
	}, got)
	def.MarkResolved()
	assert.Equal(t, "db", def.Provider())
}

func TestNeedsService(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     ServiceRef
		ok       bool
	}{
		{"mysql", `{"source":{"type":"mysql","serviceName":"db1","sourceConfig":{}},"workflowConfig":{}}`, ServiceRef{Type: "databaseService", Name: "db1"}, true},
		{"usage suffix", `{"source":{"type":"snowflake-usage","serviceName":"sf"},"workflowConfig":{}}`, ServiceRef{Type: "databaseService", Name: "sf"}, true},
		{"lineage suffix", `{"source":{"type":"BigQuery-lineage","serviceName":"bq"},"workflowConfig":{}}`, ServiceRef{Type: "databaseService", Name: "bq"}, true},
		{"dashboard", `{"source":{"type":"tableau","serviceName":"t"},"workflowConfig":{}}`, ServiceRef{Type: "dashboardService", Name: "t"}, true},
		{"mlmodel", `{"source":{"type":"mlflow","serviceName":"m"},"workflowConfig":{}}`, ServiceRef{Type: "mlmodelService", Name: "m"}, true},
		{"dbt", `{"source":{"type":"dbt","serviceName":"d"},"workflowConfig":{}}`, ServiceRef{Type: "databaseService", Name: "d"}, true},
		{"null connection", `{"source":{"type":"kafka","serviceName":"k","serviceConnection":null},"workflowConfig":{}}`, ServiceRef{Type: "messagingService", Name: "k"}, true},
		{"has connection", `{"source":{"type":"mysql","serviceName":"db1","serviceConnection":{"config":{}}},"workflowConfig":{}}`, ServiceRef{}, false},
		{"connection is a reference", `{"source":{"type":"mysql","serviceName":"db1","serviceConnection":"secret:/c"},"workflowConfig":{}}`, ServiceRef{}, false},
		{"no serviceName", `{"source":{"type":"mysql"},"workflowConfig":{}}`, ServiceRef{}, false},
		{"empty serviceName", `{"source":{"type":"mysql","serviceName":""},"workflowConfig":{}}`, ServiceRef{}, false},
		{"test suite", `{"source":{"type":"testSuite","serviceName":"s"},"workflowConfig":{}}`, ServiceRef{}, false},
		{"es reindex", `{"source":{"type":"metadata_elasticsearch","serviceName":"OpenMetadata"},"workflowConfig":{}}`, ServiceRef{}, false},
		{"unknown type", `{"source":{"type":"nosuch","serviceName":"x"},"workflowConfig":{}}`, ServiceRef{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			def, err := Parse("w.json", []byte(tt.in))
			require.NoError(t, err)
			got, ok := def.NeedsService()
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, got)
		})
	}
	t.Run("pipelines never need one", func(t *testing.T) {
		t.Parallel()
		_, ok := parsePipelineFile(t, "pipeline-metadata.json").NeedsService()
		assert.False(t, ok)
	})
}

func TestCompleteService(t *testing.T) {
	t.Parallel()
	const in = "source:\n  type: mysql-usage\n  serviceName: mysql_prod\n  sourceConfig:\n    config:\n      type: DatabaseUsage\n" +
		"processor: {type: query-parser, config: {}}\nstage: {type: table-usage, config: {filename: /tmp/q}}\n" +
		"bulkSink: {type: metadata-usage, config: {filename: /tmp/q}}\n" +
		"workflowConfig:\n  openMetadataServerConfig:\n    hostPort: http://om:8585/api\n    authProvider: openmetadata\n" +
		"    securityConfig: {jwtToken: 'secret:/bot/jwt'}\n"
	def, err := Parse("u.yaml", []byte(in))
	require.NoError(t, err)
	require.NoError(t, def.CompleteService(mysqlService(t)))
	_, ok := def.NeedsService()
	assert.False(t, ok, "completed")
	pw, ok := def.Doc.Lookup("source", "serviceConnection", "config", "authType", "password")
	assert.True(t, ok)
	assert.Equal(t, "secret:/openmetadata/database/mysql_prod/password", pw)
	out, err := def.Doc.Marshal(render.JSON)
	require.NoError(t, err)
	schematest.RequireValid(t, "completed usage config", out)
	yout, err := def.Doc.Marshal(render.YAML)
	require.NoError(t, err)
	schematest.RequireValid(t, "completed usage config (yaml)", yout)

	t.Run("errors", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			name string
			svc  func(s *Service) *Service
			want string
		}{
			{"nil", func(*Service) *Service { return nil }, "u.yaml: service does not fit: no service"},
			{"wrong entity", func(s *Service) *Service { s.EntityType = "pipelineService"; return s }, "u.yaml: service does not fit: service entity type is not databaseService"},
			{"wrong name", func(s *Service) *Service { s.Name = "other"; return s }, "u.yaml: service does not fit: service name is not source.serviceName"},
			{"hidden", func(s *Service) *Service { s.Connection = nil; return s }, "u.yaml: service does not fit: the service has no connection"},
			{"planted", func(s *Service) *Service { s.Connection = json.RawMessage(`"` + marker + `"`); return s }, "u.yaml: service does not fit: service connection: not an object"},
		} {
			def, err := Parse("u.yaml", []byte(in))
			require.NoError(t, err)
			err = def.CompleteService(tc.svc(mysqlService(t)))
			require.Error(t, err, tc.name)
			assert.Equal(t, tc.want, err.Error(), tc.name)
			assert.ErrorIs(t, err, ErrService, tc.name)
			assert.False(t, def.Doc.IsMapping("source", "serviceConnection"), "%s: nothing set", tc.name)
		}
		def, err := Parse("full.yaml", []byte(minimal))
		require.NoError(t, err)
		assert.ErrorIs(t, def.CompleteService(mysqlService(t)), ErrService, "needs no service")
	})
}

func TestPipelineNeedsService(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		fixture string
		want    bool
	}{
		{"pipeline-metadata.json", true}, {"pipeline-usage.json", true}, {"pipeline-profiler.json", true},
		{"pipeline-dbt.json", true}, {"pipeline-testsuite.json", false},
		{"pipeline-esreindex.json", false}, {"pipeline-application.json", false},
	} {
		def := parsePipelineFile(t, tt.fixture)
		assert.Equal(t, tt.want, def.Pipeline.NeedsService(), tt.fixture)
	}
}
