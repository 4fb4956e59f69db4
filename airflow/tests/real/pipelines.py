"""IngestionPipelines for the compatibility tests, as OpenMetadata 2.0 would
deploy them.

Each starts from OpenMetadata's documented IngestionPipeline entity
(../shared/openmetadata/examples/docs-ingestion-pipeline-entity.json), which
predates 2.0: the members OpenMetadata 2.0's own IngestionPipeline model
forbids are dropped (a singular `owner` becomes `owners`), the source config
becomes each type's, and the definition file is what OpenMetadata's deploy
writes: the pipeline validated by its model and dumped with deploy.py's own
dump_with_safe_jwt.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from metadata.generated.schema.entity.services.connections.metadata.openMetadataConnection import (
    OpenMetadataConnection,
)
from metadata.generated.schema.entity.services.ingestionPipelines.ingestionPipeline import (
    AirflowConfig,
    IngestionPipeline,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent.parent
EXAMPLE = REPO.parent / "shared" / "openmetadata" / "examples" / "docs-ingestion-pipeline-entity.json"

# A bot JWT for the builders' parse-time client; the loopback server accepts any.
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJpbmdlc3Rpb24tYm90In0.c2lnbmF0dXJl"

# Each supported type's source config, as OpenMetadata 2.0's schema has it.
SOURCE_CONFIGS = {
    "metadata": {"type": "DatabaseMetadata", "markDeletedTables": True, "includeTables": True,
                 "includeViews": False, "includeTags": False},
    "usage": {"type": "DatabaseUsage", "queryLogDuration": 1, "stageFileLocation": "/tmp/query_log"},
    "lineage": {"type": "DatabaseLineage", "queryLogDuration": 1},
    "dbt": {"type": "DBT", "dbtConfigSource": {"dbtConfigType": "local",
                                               "dbtCatalogFilePath": "/dbt/catalog.json",
                                               "dbtManifestFilePath": "/dbt/manifest.json"}},
    "profiler": {"type": "Profiler", "computeTableMetrics": True, "threadCount": 2},
    "autoClassification": {"type": "AutoClassification", "storeSampleData": False},
    "TestSuite": {"type": "TestSuite", "entityFullyQualifiedName": "mysql.shop.public.orders"},
    "elasticSearchReindex": {"type": "MetadataToElasticSearch", "recreateIndex": True},
    "application": {
        "type": "Application",
        "sourcePythonClass": "metadata.applications.auto_tagger.app.AutoTaggerApp",
        "appConfig": {"type": "AutoTagger", "confidenceLevel": 80},
        "appPrivateConfig": {"token": "app-private-token"},
    },
    "dataInsight": {"type": "dataInsight"},
}

SUPPORTED = [t for t in SOURCE_CONFIGS if t != "dataInsight"]
TASK_IDS = {
    "metadata": "ingestion_task",
    "usage": "usage_task",
    "lineage": "lineage_task",
    "dbt": "dbt_task",
    "profiler": "profiler_task",
    "autoClassification": "auto_classification_task",
    "TestSuite": "test_suite_task",
    "elasticSearchReindex": "elasticsearch_reindex_task",
    "application": "application_task",
}


# A variant member set to DROP is removed from the pipeline.
DROP = "<drop>"


def example() -> dict:
    return json.loads(EXAMPLE.read_text())


def _keep(doc: dict, fields) -> dict:
    return {k: v for k, v in doc.items() if k in fields}


def pipeline(ptype: str, host_port: str, **variant) -> dict:
    """A valid OpenMetadata 2.0 IngestionPipeline (as a dict) of type ptype
    from the documented entity. variant sets top-level members;
    airflowConfig={...} is laid over the example's airflowConfig."""
    variant = copy.deepcopy(variant)
    doc = example()
    owner = doc.pop("owner", None)
    if owner:
        doc["owners"] = [owner]
    doc = _keep(doc, IngestionPipeline.model_fields)
    conn = _keep(doc["openMetadataServerConnection"], OpenMetadataConnection.model_fields)
    conn["hostPort"] = host_port
    conn["secretsManagerProvider"] = "db"
    conn["securityConfig"] = {"jwtToken": JWT}
    doc["openMetadataServerConnection"] = conn
    doc["airflowConfig"] = _keep(doc["airflowConfig"], AirflowConfig.model_fields)
    doc["airflowConfig"].update(variant.pop("airflowConfig", {}))
    doc["pipelineType"] = ptype
    doc["name"] = f"mysql {ptype}.prod"  # cleaned to mysql_<type>_prod
    doc["displayName"] = f"mysql {ptype}"
    doc["fullyQualifiedName"] = f'mysql."mysql {ptype}.prod"'
    doc["sourceConfig"] = {"config": copy.deepcopy(SOURCE_CONFIGS[ptype])}
    if ptype == "TestSuite":
        doc["service"] = {"id": "2f3b2b0e-6b0e-4a57-9a7e-7b7f2f0c9a11", "type": "testSuite",
                          "name": "mysql.shop.public.orders.testSuite",
                          "fullyQualifiedName": "mysql.shop.public.orders.testSuite"}
    elif ptype in ("elasticSearchReindex", "application", "dataInsight"):
        doc["service"] = {"id": "6e9b4c52-0f6c-4b8a-8f5e-3d1c0c2a7b44", "type": "metadataService",
                          "name": "OpenMetadata", "fullyQualifiedName": "OpenMetadata"}
    for k, v in variant.items():
        if v is DROP:
            doc.pop(k, None)
        else:
            doc[k] = v
    return doc


def model(doc: dict) -> IngestionPipeline:
    return IngestionPipeline.model_validate(doc)


def definition(doc: dict) -> str:
    """The dag_generated_configs/<dag_id>.json OpenMetadata's deploy writes
    for this pipeline (operations/deploy.py dump_with_safe_jwt)."""
    from openmetadata_managed_apis.operations.deploy import dump_with_safe_jwt

    return dump_with_safe_jwt(model(doc))


# Variants of the pipeline that change the DAG arguments, per supported type.
VARIANTS = {
    "documented": {},
    "everything set": {
        "description": "Nightly **metadata** <b>run</b> & \"quotes\"",
        "displayName": 'Prod "orders".db',
        "airflowConfig": {
            "scheduleInterval": "*/15 6-18 * * 1-5",
            "maxActiveRuns": 3,
            "concurrency": 4,
            "retries": 2,
            "workflowTimeout": 2,
            "pausePipeline": True,
            "pipelineCatchup": True,
            "endDate": "2031-05-04T03:02:01Z",
        },
    },
    "on demand": {
        "displayName": DROP,
        "owners": DROP,
        "airflowConfig": {"scheduleInterval": None, "retries": 0, "concurrency": None},
    },
    "preset schedule": {"airflowConfig": {"scheduleInterval": "@daily", "maxActiveRuns": 0, "retries": None}},
}
