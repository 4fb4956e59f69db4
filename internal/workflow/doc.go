// Package workflow reads workflow definition files into Definitions and
// builds workflow configs the way OpenMetadata's Airflow side does.
//
// It owns:
//   - parsing the two definition shapes: the self-contained workflow config
//     that `metadata ingest -c` reads (JSON or YAML), and the
//     IngestionPipeline entity OpenMetadata's Airflow APIs deploy to
//     dag_generated_configs/<dag_id>.json (Pipeline), checking every field
//     Assemble and Definition.Server read;
//   - Pipeline.Assemble: the workflow config (or application config)
//     openmetadata-airflow-apis builds for each pipeline type, from the
//     pipeline and its service as the OpenMetadata API returns it;
//   - completing a workflow config that names its service but carries no
//     connection (NeedsService, CompleteService);
//   - the OpenMetadata 0.12–0.13 "connection-secret" layout: the secret ids
//     that era's ingestion side read and functions that apply their
//     contents (legacy.go);
//   - where OpenMetadata keeps the secrets-manager provider.
//
// It does no I/O: it does not fetch services or secrets, resolve
// references or write files. Nothing here puts a value from a definition,
// a connection or a secret in an error.
package workflow
