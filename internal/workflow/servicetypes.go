package workflow

import "strings"

// connectionTypes lists, per service entity type (the `type` of a service
// EntityReference), every connection type its `serviceType` enum allows,
// as spelled in openmetadata-spec entity/services/<entityType>.json. A
// test checks the list against the shared copies of those files.
var connectionTypes = map[string][]string{
	"apiService": {"Rest", "WEBHOOK"},
	"dashboardService": {
		"Superset", "Looker", "Tableau", "Redash", "Metabase", "PowerBI",
		"PowerBIReportServer", "Mode", "CustomDashboard", "DomoDashboard",
		"QuickSight", "QlikSense", "Lightdash", "MicroStrategy", "QlikCloud",
		"Sigma", "ThoughtSpot", "Hex",
	},
	"databaseService": {
		"BigQuery", "BigTable", "Mysql", "Redshift", "Snowflake", "Postgres",
		"Mssql", "Oracle", "Athena", "Hive", "Impala", "Presto", "Trino",
		"Vertica", "Glue", "MariaDB", "Druid", "Db2", "Clickhouse",
		"Databricks", "AzureSQL", "DynamoDB", "SingleStore", "SQLite",
		"DeltaLake", "Salesforce", "PinotDB", "Datalake", "DomoDatabase",
		"QueryLog", "CustomDatabase", "Dbt", "SapHana", "MongoDB",
		"Cassandra", "Couchbase", "Greenplum", "Doris", "Dremio",
		"UnityCatalog", "SAS", "Iceberg", "Teradata", "SapErp", "Synapse",
		"Exasol", "Cockroach", "SSAS",
	},
	"driveService":     {"GoogleDrive", "SharePoint", "Sftp", "CustomDrive"},
	"messagingService": {"Kafka", "Redpanda", "Kinesis", "CustomMessaging"},
	"metadataService": {
		"Amundsen", "MetadataES", "OpenMetadata", "Atlas", "Alation",
		"AlationSink", "Collibra",
	},
	"mlmodelService": {"Mlflow", "Sklearn", "CustomMlModel", "SageMaker", "VertexAI"},
	"pipelineService": {
		"Airflow", "GluePipeline", "KinesisFirehose", "Airbyte", "Fivetran",
		"Flink", "Dagster", "Nifi", "DomoPipeline", "CustomPipeline",
		"DatabricksPipeline", "Spline", "Spark", "OpenLineage", "KafkaConnect",
		"DBTCloud", "Matillion", "Stitch", "DataFactory", "Wherescape", "SSIS",
		"Snowplow", "Mulesoft", "MicrosoftFabricPipeline",
	},
	"searchService":   {"ElasticSearch", "OpenSearch", "CustomSearch"},
	"securityService": {"Ranger"},
	"storageService":  {"S3", "ADLS", "GCS", "CustomStorage"},
}

// entityBySourceType maps a lower-cased connection type, which is what
// OpenMetadata uses as a workflow's source.type, to its service entity
// type. Lower-cased connection types are unique across categories (a test
// checks it).
var entityBySourceType = func() map[string]string {
	m := make(map[string]string)
	for entity, types := range connectionTypes {
		for _, t := range types {
			m[strings.ToLower(t)] = entity
		}
	}
	return m
}()

// sourceSuffixes are what OpenMetadata appends to the lower-cased
// connection type for usage and lineage workflows (usage.py, lineage.py in
// openmetadata_managed_apis/workflows/ingestion).
var sourceSuffixes = []string{"-usage", "-lineage"}

// EntityTypeOf returns the service entity type (e.g. "databaseService") a
// workflow source.type names: the type is lower-cased and a "-usage" or
// "-lineage" suffix dropped, then looked up among every connection type of
// every service category. It reports false for source types that name no
// service, such as "testSuite" or "metadata_elasticsearch".
func EntityTypeOf(sourceType string) (string, bool) {
	t := strings.ToLower(sourceType)
	for _, s := range sourceSuffixes {
		if base, ok := strings.CutSuffix(t, s); ok {
			t = base
			break
		}
	}
	e, ok := entityBySourceType[t]
	return e, ok
}

// serviceCategory returns the service category of an entity type as
// OpenMetadata's ServiceType enum spells it, lower-cased: "database" for
// databaseService, "mlmodel" for mlmodelService. It reports false for
// entity types it does not know.
func serviceCategory(entityType string) (string, bool) {
	if _, ok := connectionTypes[entityType]; !ok {
		return "", false
	}
	return strings.ToLower(strings.TrimSuffix(entityType, "Service")), true
}
