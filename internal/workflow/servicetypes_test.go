package workflow

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/testbed/schematest"
)

// TestConnectionTypesMatchSchema checks the table against the serviceType
// enum of every entity/services/*Service.json in the shared schema set:
// every enum value must be listed under its entity type, and nothing else.
func TestConnectionTypesMatchSchema(t *testing.T) {
	t.Parallel()
	dir := schematest.SharedDir(t)
	files, err := filepath.Glob(filepath.Join(dir, "schema", "entity", "services", "*Service.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	checked := 0
	for _, f := range files {
		entity := strings.TrimSuffix(filepath.Base(f), ".json")
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		var s struct {
			Definitions map[string]struct {
				Enum []string `json:"enum"`
			} `json:"definitions"`
		}
		require.NoError(t, json.Unmarshal(raw, &s), f)
		var enum []string
		for name, def := range s.Definitions {
			if strings.HasSuffix(strings.ToLower(name), "servicetype") {
				enum = append(enum, def.Enum...)
			}
		}
		if enum == nil {
			continue // not a service category file
		}
		checked++
		var missing []string
		for _, v := range enum {
			if !slices.Contains(connectionTypes[entity], v) {
				missing = append(missing, v)
			}
			if got, ok := EntityTypeOf(v); !ok || got != entity {
				t.Errorf("%s: EntityTypeOf(%q) = %q, %v", entity, v, got, ok)
			}
		}
		assert.Empty(t, missing, "%s: serviceType values missing from connectionTypes", entity)
		var extra []string
		for _, v := range connectionTypes[entity] {
			if !slices.Contains(enum, v) {
				extra = append(extra, v)
			}
		}
		assert.Empty(t, extra, "%s: connectionTypes values not in the schema", entity)
	}
	assert.Equal(t, len(connectionTypes), checked, "every category in the table has a schema file")
}

func TestConnectionTypesUnique(t *testing.T) {
	t.Parallel()
	seen := map[string]string{}
	for entity, types := range connectionTypes {
		for _, v := range types {
			l := strings.ToLower(v)
			if prev, ok := seen[l]; ok {
				t.Errorf("%q is in both %s and %s", l, prev, entity)
			}
			seen[l] = entity
		}
	}
}

func TestEntityTypeOf(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"mysql": "databaseService", "Mysql": "databaseService", "mysql-usage": "databaseService",
		"bigquery-lineage": "databaseService", "querylog-usage": "databaseService", "dbt": "databaseService",
		"powerbi": "dashboardService", "kafka": "messagingService", "airflow": "pipelineService",
		"mlflow": "mlmodelService", "s3": "storageService", "elasticsearch": "searchService",
		"openmetadata": "metadataService", "rest": "apiService", "sftp": "driveService", "ranger": "securityService",
	} {
		got, ok := EntityTypeOf(in)
		assert.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "testSuite", "metadata_elasticsearch", "dataInsight", "mysql-profiler", "-usage", "sample-data"} {
		_, ok := EntityTypeOf(in)
		assert.False(t, ok, in)
	}
	for entity, want := range map[string]string{"databaseService": "database", "mlmodelService": "mlmodel", "apiService": "api"} {
		got, ok := serviceCategory(entity)
		assert.True(t, ok)
		assert.Equal(t, want, got)
	}
	_, ok := serviceCategory("testSuite")
	assert.False(t, ok)
}
