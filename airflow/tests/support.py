"""Shared setup for the DAG runner's tests.

Airflow and OpenMetadata's Python packages are not installed here, so the
tests run omsecrets' template and runner against the stand-ins in stubs/,
which record what they are asked to do (omstub.events). Everything else is
real: Jinja2 renders the template as OpenMetadata's deploy.py does, Python
compiles and imports the result as deploy.py's import_path does, and the
runner reads real files.
"""

import contextlib
import copy
import datetime as dt
import hashlib
import importlib.machinery
import importlib.util
import io
import json
import logging
import os
import socket
import sys
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
AIRFLOW_DIR = HERE.parent
REPO = AIRFLOW_DIR.parent
STUBS = HERE / "stubs"
# OpenMetadata's examples, beside the repository (CI has ../shared).
SHARED_EXAMPLES = REPO.parent / "shared" / "openmetadata" / "examples"

for p in (str(AIRFLOW_DIR), str(STUBS)):
    if p not in sys.path:
        sys.path.insert(0, p)

import jinja2  # noqa: E402  (Debian's python3-jinja2)

import omstub  # noqa: E402
import omsecrets_runner  # noqa: E402

TEMPLATE = AIRFLOW_DIR / "dag_runner.j2"

# A value the sidecar resolved; it must never show in a message or a log.
PLANTED = "pl4nted-S3CRET-value-7f3a"
PLANTED_JWT = "eyJpl4nted.jwt.S3CRET"

# The task id OpenMetadata's builder gives each type (workflows/ingestion/*.py).
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

# The workflow class each type's task callable creates.
CLASSES = {
    "metadata": "MetadataWorkflow",
    "usage": "UsageWorkflow",
    "lineage": "MetadataWorkflow",
    "dbt": "MetadataWorkflow",
    "profiler": "ProfilerWorkflow",
    "autoClassification": "AutoClassificationWorkflow",
    "TestSuite": "TestSuiteWorkflow",
    "elasticSearchReindex": "MetadataWorkflow",
    "application": "ApplicationWorkflow",
}

_SOURCE_CONFIG_TYPES = {
    "metadata": "DatabaseMetadata",
    "usage": "DatabaseUsage",
    "lineage": "DatabaseLineage",
    "dbt": "DBT",
    "profiler": "Profiler",
    "autoClassification": "AutoClassification",
    "TestSuite": "TestSuite",
    "elasticSearchReindex": "MetadataToElasticSearch",
    "application": "Application",
}


def base_pipeline():
    """OpenMetadata's documented IngestionPipeline entity (the shape
    deploy.py dumps), or a minimal one of that shape where ../shared is
    absent."""
    path = SHARED_EXAMPLES / "docs-ingestion-pipeline-entity.json"
    if path.is_file():
        return json.loads(path.read_text())
    print(f"support: {path} not found; using a minimal IngestionPipeline", file=sys.stderr)
    return {
        "id": "9e555cea-6a5a-4fe5-a9ad-4ff65efc8289",
        "name": "mysql_metadata_cFjZmNAR",
        "displayName": "mysql_metadata_cFjZmNAR",
        "pipelineType": "metadata",
        "fullyQualifiedName": "mysql.mysql_metadata_cFjZmNAR",
        "sourceConfig": {"config": {"type": "DatabaseMetadata", "markDeletedTables": True}},
        "openMetadataServerConnection": {
            "hostPort": "http://openmetadata-server:8585/api",
            "authProvider": "openmetadata",
            "securityConfig": {"jwtToken": "..."},
            "secretsManagerProvider": "noop",
        },
        "airflowConfig": {
            "pausePipeline": False,
            "concurrency": 1,
            "retries": 3,
            "retryDelay": 300,
            "pipelineCatchup": False,
            "scheduleInterval": "0 * * * *",
            "maxActiveRuns": 1,
            "workflowDefaultView": "tree",
            "workflowDefaultViewOrientation": "LR",
        },
        "service": {"id": "891b373d-a253-4639-ad54-fc17491a7d5d", "type": "databaseService", "name": "mysql"},
        "loggerLevel": "INFO",
        "updatedAt": 1664526955086,
    }


def pipeline(ptype):
    """A definition of type ptype shaped like the documented one: the
    service, source config type and name each type has."""
    p = copy.deepcopy(base_pipeline())
    p["pipelineType"] = ptype
    p["name"] = f"mysql {ptype}.prod"  # cleaned to mysql_<type>_prod
    p["displayName"] = f"mysql {ptype}"
    p["fullyQualifiedName"] = f"mysql.mysql_{ptype}"
    p["sourceConfig"] = {"config": {**p["sourceConfig"]["config"], "type": _SOURCE_CONFIG_TYPES[ptype]}}
    p["openMetadataServerConnection"]["securityConfig"]["jwtToken"] = "secret:/openmetadata/bot/ingestion-bot/jwt"
    p["openMetadataServerConnection"]["secretsManagerProvider"] = "aws"
    if ptype == "TestSuite":
        p["service"] = {"type": "testSuite", "name": "mysql.db.sch.orders.testSuite"}
    elif ptype in ("elasticSearchReindex", "application"):
        p["service"] = {"type": "metadataService", "name": "OpenMetadata", "fullyQualifiedName": "OpenMetadata"}
    if ptype == "application":
        p["sourceConfig"] = {
            "config": {
                "type": "Application",
                "sourcePythonClass": "metadata.applications.auto_tagger.app.AutoTaggerApp",
                "appConfig": {"type": "AutoTagger", "confidenceLevel": 80},
                "appPrivateConfig": {"token": "secret:/openmetadata/app/token"},
            }
        }
    return p


def dag_id_of(ptype):
    return f"mysql_{ptype}_prod"


def resolved_output(ptype, definition):
    """What the sidecar writes for the definition: the workflow config
    OpenMetadata's builder assembles (internal/workflow/assemble.go), every
    reference resolved, secretsManagerProvider db. Carries PLANTED, and a
    null the runner must drop as OpenMetadata's dump does."""
    server = copy.deepcopy(definition["openMetadataServerConnection"])
    server["securityConfig"]["jwtToken"] = PLANTED_JWT
    server["secretsManagerProvider"] = "db"
    wc = {"loggerLevel": "DEBUG", "openMetadataServerConfig": server}
    fqn = definition["fullyQualifiedName"]
    if ptype == "application":
        return {
            "workflowConfig": {**wc, "raiseOnError": True},
            "sourcePythonClass": definition["sourceConfig"]["config"]["sourcePythonClass"],
            "appConfig": {"type": "AutoTagger", "confidenceLevel": 80},
            "appPrivateConfig": {"token": PLANTED},
            "ingestionPipelineFQN": fqn,
            "enableStreamableLogs": False,
        }
    source = {
        "type": "mysql",
        "serviceName": "mysql",
        "serviceConnection": {
            "config": {"type": "Mysql", "username": "openmetadata", "authType": {"password": PLANTED},
                       "hostPort": "mysql:3306"}
        },
        "sourceConfig": {"config": {**definition["sourceConfig"]["config"], "schemaFilterPattern": None}},
    }
    doc = {"source": source, "sink": {"type": "metadata-rest", "config": {}}}
    if ptype in ("metadata", "usage", "lineage", "dbt"):
        wc["raiseOnError"] = True
    doc["workflowConfig"] = wc
    doc["ingestionPipelineFQN"] = fqn
    return doc


def render(workflow_config_file, autoescape=True):
    """The DAG file, rendered as operations/deploy.py DagDeployer does:
    Template(pkgutil.get_data(...).decode(), autoescape=True).render(
    {"workflow_config_file": str(path)}). Older deploy.py versions omit
    autoescape."""
    raw = TEMPLATE.read_bytes().decode()
    return jinja2.Template(raw, autoescape=autoescape).render({"workflow_config_file": str(workflow_config_file)})


def import_dag_file(path):
    """api/utils.py import_path: how the deploy call imports the DAG file."""
    module_name = os.path.basename(path).replace("-", "_")
    spec = importlib.util.spec_from_loader(module_name, importlib.machinery.SourceFileLoader(module_name, str(path)))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[module_name] = module
    return module


class NetworkUsed(AssertionError):
    pass


@contextlib.contextmanager
def no_network():
    """Any connection attempt raises, and is recorded."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args[1:] if args else kwargs)
        raise NetworkUsed("network use")

    saved = (socket.socket.connect, socket.socket.connect_ex, socket.create_connection, socket.getaddrinfo)
    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse
    try:
        yield attempts
    finally:
        socket.socket.connect, socket.socket.connect_ex, socket.create_connection, socket.getaddrinfo = saved


@contextlib.contextmanager
def captured():
    """Every log record (all levels) and everything written to stdout and
    stderr, as one text."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            yield lambda: buf.getvalue() + out.getvalue()
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def exception_text(exc):
    """Everything Airflow would log for a failed task: the traceback with
    every chained exception."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def fresh_modules():
    """Forget the stand-ins' OpenMetadata modules so that the next import of
    each is recorded again."""
    for name in list(sys.modules):
        if name == "metadata" or name.startswith(("metadata.", "openmetadata_managed_apis")):
            del sys.modules[name]


def imported(prefixes=("metadata", "openmetadata_managed_apis")):
    return [e[1] for e in omstub.of("import") if e[1].split(".")[0] in prefixes]


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def rfc3339(t):
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "123Z"


def write_status(out_dir, dag_id, definition, *, output=None, state="current", outcome="ok", error=None,
                 fresh_for=300.0, **overrides):
    """A status file as the sidecar writes it (the freshness contract)."""
    now = dt.datetime.now(dt.timezone.utc)
    status = {
        "omsecretsStatus": 1,
        "dagId": dag_id,
        "definition": f"/opt/airflow/dag_generated_configs/{dag_id}.json",
        "state": state,
        "outcome": outcome,
        "resolvedAt": rfc3339(now - dt.timedelta(seconds=5)),
        "checkedAt": rfc3339(now - dt.timedelta(seconds=1)),
        "freshUntil": rfc3339(now + dt.timedelta(seconds=fresh_for)),
        "mode": "run",
    }
    if state != "failed":
        status["definitionSHA256"] = sha256(definition)
        status["output"] = output or f"{dag_id}.json"
    if error is not None:
        status["error"] = error
    status.update(overrides)
    status = {k: v for k, v in status.items() if v is not _DROP}
    path = Path(out_dir) / f"{dag_id}.status"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(status))
    os.replace(tmp, path)
    return status


_DROP = object()
DROP = _DROP
