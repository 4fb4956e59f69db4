package workflow

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"omsecrets/internal/render"
)

// TestSecretIDs checks the ids against the exact strings OpenMetadata's own
// tests expect.
func TestSecretIDs(t *testing.T) {
	t.Parallel()

	// ingestion/tests/unit/metadata/utils/secrets/test_aws_based_secrets_manager.py
	// (open-metadata/OpenMetadata, 0.13 era),
	// test_aws_manager_add_service_config_connection: a Mysql service named
	// "test_service", service_type "database" (ServiceType.Database.name.lower()).
	id, err := ConnectionSecretID("openmetadata", "databaseService", "Mysql", "test_service")
	require.NoError(t, err)
	assert.Equal(t, "/openmetadata/service/database/mysql/test_service", id)

	// Same file, test_aws_manager_add_auth_provider_security_config with
	// BotType.ingestion_bot.
	assert.Equal(t, "/openmetadata/bot/ingestion-bot/auth-provider", BotAuthProviderSecretID("openmetadata", DefaultBot))
	assert.Equal(t, "/openmetadata/bot/ingestion-bot", BotSecretID("openmetadata", DefaultBot))

	// Same file, test_aws_manager_retrieve_dbt_source_config("test-pipeline");
	// workflow.py passes source.serviceName as that argument.
	assert.Equal(t, "/openmetadata/database-metadata-pipeline/test-pipeline", DbtSecretID("openmetadata", "test-pipeline"))
	// openmetadata-service ExternalSecretsManagerTest (Java), for a pipeline
	// whose service is "database-service".
	assert.Equal(t, "/openmetadata/database-metadata-pipeline/database-service", DbtSecretID("openmetadata", "database-service"))

	tests := []struct {
		name                                  string
		cluster, entity, serviceType, svcName string
		want                                  string
	}{
		// SecretsManager.buildSecretId (Java) lower-cases the whole id.
		{"cluster lower-cased", "OpenMetadata-EU", "databaseService", "Snowflake", "Sales_DW", "/openmetadata-eu/service/database/snowflake/sales_dw"},
		{"dotted service name", "openmetadata", "databaseService", "Mysql", "mysql.prod", "/openmetadata/service/database/mysql/mysql.prod"},
		{"mlmodel category", "openmetadata", "mlmodelService", "Mlflow", "ml", "/openmetadata/service/mlmodel/mlflow/ml"},
		{"dashboard", "openmetadata", "dashboardService", "Looker", "looker", "/openmetadata/service/dashboard/looker/looker"},
		{"messaging", "openmetadata", "messagingService", "Kafka", "events", "/openmetadata/service/messaging/kafka/events"},
		{"pipeline", "openmetadata", "pipelineService", "Airflow", "af", "/openmetadata/service/pipeline/airflow/af"},
		{"metadata", "openmetadata", "metadataService", "Amundsen", "a", "/openmetadata/service/metadata/amundsen/a"},
	}
	for _, tt := range tests {
		got, err := ConnectionSecretID(tt.cluster, tt.entity, tt.serviceType, tt.svcName)
		require.NoError(t, err, tt.name)
		assert.Equal(t, tt.want, got, tt.name)
	}
	assert.Equal(t, "/eu/bot/my-bot", BotSecretID("EU", "My-Bot"))
	assert.Equal(t, "/openmetadata/database-metadata-pipeline/mysql.prod", DbtSecretID("openmetadata", "mysql.prod"))

	for _, bad := range [][4]string{
		{"openmetadata", "testSuite", "Mysql", "x"},
		{"openmetadata", "database", "Mysql", "x"},
		{"", "databaseService", "Mysql", "x"},
		{"openmetadata", "databaseService", "", "x"},
		{"openmetadata", "databaseService", "Mysql", ""},
	} {
		_, err := ConnectionSecretID(bad[0], bad[1], bad[2], bad[3])
		assert.Error(t, err, "%v", bad)
	}
}

func TestWithConnectionSecret(t *testing.T) {
	t.Parallel()
	svc := &Service{EntityType: "databaseService", Name: "test_service", ServiceType: "Mysql"}
	require.False(t, svc.HasConnection())
	require.NoError(t, svc.WithConnectionSecret([]byte(`{"type":"Mysql","username":"u","authType":{"password":"`+marker+`"},"hostPort":"db:3306"}`)))
	assert.Equal(t, `{"config":{"type":"Mysql","username":"u","authType":{"password":"`+marker+`"},"hostPort":"db:3306"}}`, string(svc.Connection), "wrapped, order kept")
	assert.True(t, svc.HasConnection())

	// A secret without type: pydantic fills the default.
	svc2 := &Service{EntityType: "databaseService", Name: "s", ServiceType: "Mysql"}
	require.NoError(t, svc2.WithConnectionSecret([]byte(`{"username":"u"}`)))
	assert.Equal(t, `{"config":{"username":"u"}}`, string(svc2.Connection))

	for _, raw := range []string{
		`null`, `"` + marker + `"`, `[` + `"` + marker + `"]`, `{"password": ` + marker + `}`, ``,
		`{"type":"Postgres","password":"` + marker + `"}`, `{"a":1,"a":"` + marker + `"}`,
	} {
		s := &Service{EntityType: "databaseService", Name: "s", ServiceType: "Mysql", Connection: json.RawMessage(`{"config":{"x":1}}`)}
		err := s.WithConnectionSecret([]byte(raw))
		require.Error(t, err, raw)
		assert.ErrorIs(t, err, ErrSecretContent, raw)
		assert.NotContains(t, err.Error(), marker)
		assert.Equal(t, `{"config":{"x":1}}`, string(s.Connection), "unchanged on error")
	}
}

func TestHasConnection(t *testing.T) {
	t.Parallel()
	for conn, want := range map[string]bool{
		``:                                     false,
		`null`:                                 false,
		`{}`:                                   false,
		`{"config":null}`:                      false,
		`{"config":{}}`:                        false,
		`{"config":{"type":"Mysql"}}`:          false,
		`{"config":"x"}`:                       false,
		`[{"config":{"a":1}}]`:                 false,
		`{"config":{"type":"Mysql","a":null}}`: true,
		`{"config":{"hostPort":"h"}}`:          true,
	} {
		s := Service{Connection: json.RawMessage(conn)}
		assert.Equal(t, want, s.HasConnection(), conn)
	}
}

// legacyConfig is an assembled 0.13-era config: authProvider google, the
// security config hidden.
const legacyConfig = `{"source":{"type":"mysql","serviceName":"sales.db","sourceConfig":{"config":{"type":"DatabaseMetadata","includeTables":true}}},` +
	`"sink":{"type":"metadata-rest","config":{}},` +
	`"workflowConfig":{"openMetadataServerConfig":{"hostPort":"http://om:8585/api","authProvider":"google","secretsManagerProvider":"aws","clusterName":"openmetadata"}}}`

func TestApplyBotSecrets(t *testing.T) {
	t.Parallel()
	def, err := Parse("l.json", []byte(legacyConfig))
	require.NoError(t, err)
	require.True(t, def.NeedsBotSecrets())
	require.NoError(t, def.ApplyBotSecrets([]byte(`"openmetadata"`), []byte(`{"jwtToken":"`+marker+`"}`)))
	got, _ := def.Doc.Lookup("workflowConfig", "openMetadataServerConfig", "authProvider")
	assert.Equal(t, "openmetadata", got, "the bot's provider replaces the connection's")
	tok, _ := def.Doc.Lookup("workflowConfig", "openMetadataServerConfig", "securityConfig", "jwtToken")
	assert.Equal(t, marker, tok)
	assert.False(t, def.NeedsBotSecrets(), "done")
	out, err := def.Doc.Marshal(render.JSON)
	require.NoError(t, err)
	assert.Less(t, strings.Index(string(out), `"authProvider"`), strings.Index(string(out), `"secretsManagerProvider"`), "authProvider keeps its place")

	// Applying again changes nothing.
	require.NoError(t, def.ApplyBotSecrets([]byte(`"google"`), []byte(`{"secretKey":"x"}`)))
	got, _ = def.Doc.Lookup("workflowConfig", "openMetadataServerConfig", "authProvider")
	assert.Equal(t, "openmetadata", got)

	for name, in := range map[string]string{
		"no-auth":         strings.Replace(legacyConfig, `"google"`, `"no-auth"`, 1),
		"no authProvider": strings.Replace(legacyConfig, `"authProvider":"google",`, ``, 1),
		"security config": strings.Replace(legacyConfig, `"authProvider":"google"`, `"authProvider":"google","securityConfig":{"secretKey":"k"}`, 1),
	} {
		def, err := Parse("l.json", []byte(in))
		require.NoError(t, err)
		assert.False(t, def.NeedsBotSecrets(), name)
		before, _ := def.Doc.Marshal(render.JSON)
		require.NoError(t, def.ApplyBotSecrets([]byte(`"openmetadata"`), []byte(`{"jwtToken":"t"}`)), name)
		after, _ := def.Doc.Marshal(render.JSON)
		assert.Equal(t, string(before), string(after), name)
	}
	t.Run("null security config counts as none", func(t *testing.T) {
		def, err := Parse("l.json", []byte(strings.Replace(legacyConfig, `"authProvider":"google"`, `"authProvider":"google","securityConfig":null`, 1)))
		require.NoError(t, err)
		assert.True(t, def.NeedsBotSecrets())
	})

	for name, secrets := range map[string][2]string{
		"provider not JSON":     {marker, `{"jwtToken":"t"}`},
		"provider not a string": {`{"p":"` + marker + `"}`, `{"jwtToken":"t"}`},
		"provider unknown":      {`"` + marker + `"`, `{"jwtToken":"t"}`},
		"provider no-auth":      {`"no-auth"`, `{"jwtToken":"t"}`},
		"provider null":         {`null`, `{"jwtToken":"t"}`},
		"config not JSON":       {`"openmetadata"`, `{"jwtToken":` + marker + `}`},
		"config not an object":  {`"openmetadata"`, `"` + marker + `"`},
		"config null":           {`"openmetadata"`, `null`},
		"config duplicate keys": {`"openmetadata"`, `{"jwtToken":"a","jwtToken":"` + marker + `"}`},
	} {
		def, err := Parse("l.json", []byte(legacyConfig))
		require.NoError(t, err)
		before, _ := def.Doc.Marshal(render.JSON)
		err = def.ApplyBotSecrets([]byte(secrets[0]), []byte(secrets[1]))
		require.Error(t, err, name)
		assert.ErrorIs(t, err, ErrSecretContent, name)
		assert.True(t, strings.HasPrefix(err.Error(), "l.json: bot "), err.Error())
		assert.NotContains(t, err.Error(), marker, name)
		after, _ := def.Doc.Marshal(render.JSON)
		assert.Equal(t, string(before), string(after), "%s: unchanged", name)
	}
}

func TestDbtSecret(t *testing.T) {
	t.Parallel()
	def, err := Parse("l.json", []byte(legacyConfig))
	require.NoError(t, err)
	name, ok := def.DbtServiceName()
	require.True(t, ok)
	assert.Equal(t, "sales.db", name)
	assert.Equal(t, "/openmetadata/database-metadata-pipeline/sales.db", DbtSecretID("openmetadata", name))

	before, _ := def.Doc.Marshal(render.JSON)
	require.NoError(t, def.ApplyDbtSecret([]byte("null")))
	after, _ := def.Doc.Marshal(render.JSON)
	assert.Equal(t, string(before), string(after), "null: no dbt")

	require.NoError(t, def.ApplyDbtSecret([]byte(`{"dbtConfigType":"s3","dbtSecurityConfig":{"awsSecretAccessKey":"`+marker+`","awsRegion":"eu-west-1"}}`)))
	v, _ := def.Doc.Lookup("source", "sourceConfig", "config", "dbtConfigSource", "dbtSecurityConfig", "awsSecretAccessKey")
	assert.Equal(t, marker, v)

	for _, raw := range []string{`"` + marker + `"`, `[1]`, `{"k": ` + marker + `}`, ``} {
		err := def.ApplyDbtSecret([]byte(raw))
		require.Error(t, err, raw)
		assert.ErrorIs(t, err, ErrSecretContent)
		assert.NotContains(t, err.Error(), marker)
	}

	for name, in := range map[string]string{
		"usage":     strings.Replace(legacyConfig, `"type":"DatabaseMetadata"`, `"type":"DatabaseUsage"`, 1),
		"dashboard": strings.Replace(legacyConfig, `"type":"mysql"`, `"type":"looker"`, 1),
	} {
		def, err := Parse("l.json", []byte(in))
		require.NoError(t, err)
		_, ok := def.DbtServiceName()
		assert.False(t, ok, name)
	}
}

// TestLegacyFlow walks the daemon's 0.13 path: a pipeline whose service
// came back without a connection, completed from the connection secret and
// the bot secrets.
func TestLegacyFlow(t *testing.T) {
	t.Parallel()
	def := parsePipelineFile(t, "pipeline-metadata.json")
	p := def.Pipeline
	svc := mysqlService(t)
	svc.Connection = json.RawMessage(`{"config":{"type":"Mysql"}}`)
	require.False(t, svc.HasConnection())

	srv, err := def.Server()
	require.NoError(t, err)
	id, err := ConnectionSecretID(srv.ClusterName, svc.EntityType, svc.ServiceType, svc.Name)
	require.NoError(t, err)
	assert.Equal(t, "/openmetadata/service/database/mysql/mysql_prod", id)
	require.NoError(t, svc.WithConnectionSecret([]byte(`{"type":"Mysql","username":"u","authType":{"password":"secret:/x/pw"},"hostPort":"db:3306"}`)))
	out, err := p.Assemble(svc)
	require.NoError(t, err)
	pw, _ := out.Doc.Lookup("source", "serviceConnection", "config", "authType", "password")
	assert.Equal(t, "secret:/x/pw", pw)
	assert.False(t, out.NeedsBotSecrets(), "the pipeline carries a security config")
	name, ok := out.DbtServiceName()
	assert.True(t, ok)
	assert.Equal(t, "mysql_prod", name)
}
