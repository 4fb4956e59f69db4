package workflow

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/render"
)

const minimal = "source:\n  type: mysql\nworkflowConfig:\n  openMetadataServerConfig:\n    hostPort: http://om/api\n    secretsManagerProvider: aws\n"

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, path, in string
		wantName       string
		wantProvider   string
		wantErr        string
	}{
		{name: "yaml", path: "/defs/mysql prod.yaml", in: minimal, wantName: "mysql prod", wantProvider: "aws"},
		{name: "json", path: "x/pg.json", in: `{"source":{},"workflowConfig":{"openMetadataServerConfig":{}}}`, wantName: "pg"},
		{name: "sniffed", path: "x/conf", in: `{"source":{},"workflowConfig":{}}`, wantName: "conf"},
		{name: "missing source", path: "a.yaml", in: "workflowConfig: {}\n", wantErr: "a.yaml: not a workflow config: source is missing or not an object"},
		{name: "source not an object", path: "a.yaml", in: "source: x\nworkflowConfig: {}\n", wantErr: "a.yaml: not a workflow config: source"},
		{name: "missing workflowConfig", path: "a.json", in: `{"source":{}}`, wantErr: "a.json: not a workflow config: workflowConfig"},
		{name: "not a mapping", path: "a.yaml", in: "- 1\n", wantErr: "a.yaml: not a workflow config"},
		{name: "syntax error names the file", path: "b.json", in: `{"source":`, wantErr: "b.json: syntax error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			def, err := Parse(tt.path, []byte(tt.in))
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantName, def.Name)
			assert.Equal(t, KindWorkflowConfig, def.Kind)
			assert.Equal(t, tt.wantProvider, def.Provider())
		})
	}
}

func TestMarkResolved(t *testing.T) {
	t.Parallel()
	def, err := Parse("a.yaml", []byte(minimal))
	require.NoError(t, err)
	def.MarkResolved()
	assert.Equal(t, "db", def.Provider())

	// Without a server connection there is nothing to mark.
	def, err = Parse("b.yaml", []byte("source: {}\nworkflowConfig: {}\n"))
	require.NoError(t, err)
	def.MarkResolved()
	assert.Equal(t, "", def.Provider())
	assert.False(t, def.Doc.IsMapping(ServerConfigPath...), "no server connection was added")
}

// FuzzParse: any input either parses into a definition whose name and
// provider are readable, or gives an error naming the file.
func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte(`{"source":{"serviceConnection":{"config":{"password":"secret:/x"}}},"workflowConfig":{}}`))
	f.Add([]byte("source: &a {b: *a}\n"))
	f.Add([]byte(`{"name":"p","fullyQualifiedName":"s.p","pipelineType":"metadata","service":{"type":"databaseService","name":"s"},` +
		`"sourceConfig":{"config":{"type":"DatabaseMetadata"}},"openMetadataServerConnection":{"hostPort":"h","secretsManagerProvider":"aws"}}`))
	f.Add([]byte("pipelineType: usage\nservice: {type: x}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		def, err := Parse("fuzz.yaml", data)
		if err != nil {
			if len(err.Error()) < len("fuzz.yaml") || err.Error()[:len("fuzz.yaml")] != "fuzz.yaml" {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		_ = def.Provider()
		def.MarkResolved()
		if _, ok := def.Doc.Lookup(append(slices.Clone(def.serverConfigPath()), ProviderKey)...); ok && def.Provider() != "db" {
			t.Fatalf("provider not marked: %q", def.Provider())
		}
	})
}

// FuzzParsePipeline: any JSON either fails with a one-line error naming the
// file, or, when it is an ingestion pipeline, assembles (or reports an
// unsupported type) into a document that marshals to valid JSON. No error
// quotes the planted token.
func FuzzParsePipeline(f *testing.F) {
	for _, name := range []string{"pipeline-metadata.json", "pipeline-usage.json", "pipeline-testsuite.json", "pipeline-esreindex.json", "pipeline-application.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"name":"p","fullyQualifiedName":"s.p","pipelineType":"dbt","service":{"type":"databaseService","name":"s"},` +
		`"sourceConfig":{"config":{}},"openMetadataServerConnection":{"hostPort":"h","securityConfig":{"jwtToken":"` + marker + `"}}}`))
	f.Add([]byte(`{"pipelineType":"usage","sourceConfig":{"config":{"stageFileLocation":null}}}`))
	svc := &Service{EntityType: "databaseService", Name: "s", ServiceType: "Mysql", Connection: json.RawMessage(`{"config":{"type":"Mysql","password":"secret:/p"}}`)}
	f.Fuzz(func(t *testing.T, data []byte) {
		def, err := Parse("fuzz.json", data)
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "fuzz.json") || strings.Contains(msg, "\n") || strings.Contains(msg, marker) {
				t.Fatalf("bad error: %q", msg)
			}
			return
		}
		if def.Kind != KindIngestionPipeline {
			return
		}
		p := def.Pipeline
		if def.Name != p.Name() || p.Name() == "" || p.fqn == "" || !slices.Contains(PipelineTypes, p.pipelineType) {
			t.Fatalf("parsed pipeline lacks a required field: %v", p)
		}
		if strings.Contains(p.String(), marker) {
			t.Fatal("String shows the token")
		}
		s := *svc
		s.EntityType = p.Service().Type
		out, err := p.Assemble(&s)
		if err != nil {
			if strings.Contains(err.Error(), marker) || !strings.HasPrefix(err.Error(), "fuzz.json") {
				t.Fatalf("bad assemble error: %q", err)
			}
			return
		}
		b, err := out.Doc.Marshal(render.JSON)
		if err != nil || !json.Valid(b) {
			t.Fatalf("assembled document does not marshal: %v", err)
		}
		if out.Name != p.Name() {
			t.Fatalf("name %q, want %q", out.Name, p.Name())
		}
	})
}

func TestServerOfWorkflowConfig(t *testing.T) {
	t.Parallel()
	const tok = "eyJPLANTEDTOKEN"
	src := `source:
  type: mysql
  serviceName: mysql_prod
  sourceConfig: {config: {type: DatabaseMetadata}}
sink: {type: metadata-rest, config: {}}
workflowConfig:
  openMetadataServerConfig:
    hostPort: https://om.example:8585/api
    authProvider: openmetadata
    verifySSL: validate
    sslConfig: {caCertificate: "-----BEGIN CERTIFICATE-----"}
    extraHeaders: {X-Tenant: a}
    securityConfig: {jwtToken: ` + tok + `}
`
	d, err := Parse("wf.yaml", []byte(src))
	require.NoError(t, err)
	s, err := d.Server()
	require.NoError(t, err)
	assert.Equal(t, "https://om.example:8585/api", s.HostPort)
	assert.Equal(t, tok, s.JWTToken)
	assert.Equal(t, "validate", s.VerifySSL)
	assert.Equal(t, "-----BEGIN CERTIFICATE-----", s.CACertificate)
	assert.Equal(t, map[string]string{"X-Tenant": "a"}, s.ExtraHeaders)
	assert.Equal(t, DefaultClusterName, s.ClusterName)
	for _, out := range []string{s.String(), fmt.Sprintf("%#v %v %+v", *s, *s, s), slog.AnyValue(s).Resolve().String()} {
		assert.NotContains(t, out, tok)
	}

	d, err = Parse("wf.yaml", []byte("source: {type: mysql}\nworkflowConfig: {loggerLevel: INFO}\n"))
	require.NoError(t, err)
	_, err = d.Server()
	require.ErrorIs(t, err, ErrMissingField)
	assert.Contains(t, err.Error(), "wf.yaml: workflowConfig.openMetadataServerConfig")
}
