package workflow

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
		if _, ok := def.Doc.Lookup(append(ServerConfigPath, ProviderKey)...); ok && def.Provider() != "db" {
			t.Fatalf("provider not marked: %q", def.Provider())
		}
	})
}
