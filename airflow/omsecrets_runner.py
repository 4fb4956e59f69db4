"""omsecrets' DAG runner for pipelines deployed from the OpenMetadata UI.

OpenMetadata's Airflow APIs render resources/dag_runner.j2 into one DAG file
per pipeline. omsecrets' dag_runner.j2 replaces that template and imports this
module, which:

- at parse time (the deploy import in the API server, the DAG processor, the
  worker before each task) builds the DAG from the IngestionPipeline JSON alone:
  the schedule and arguments OpenMetadata's build_dag_configs builds, and
  OpenMetadata's task id for the pipeline type. It makes no API call and reads
  no secret, and it imports nothing from OpenMetadata's packages;
- at run time waits (bounded) for the config the omsecrets sidecar resolved
  for this pipeline, accepts it only if the sidecar's status file says it is
  current, fresh and resolved from this very definition, applies what
  OpenMetadata's task callables apply per run (a pipelineRunId drawn at
  parse time, an application's appConfigOverride) and runs OpenMetadata's
  workflow class for the pipeline type as they do, which reports the run's
  status to OpenMetadata as usual.

It fails closed: a missing, stale, expired or foreign output fails the task
with one line saying what the sidecar reports; it never resolves a secret
in-process. When it fails closed for good and a previously good output is
still on disk, it reports the run failed to OpenMetadata with that output's
server config (report_fail_closed), best-effort and bounded; with no output,
with the server config of the sidecar's report file <dag_id>.report.json
(report_file), which the sidecar writes once the bot's JWT resolved even
when the rest of the definition did not; with neither there is no
credential to report with. Nothing here logs or raises a value
from the resolved config.

Mirrors openmetadata_managed_apis 2.0.7.0 as installed from PyPI
(workflows/ingestion/common.py, the per-type builders in
workflows/ingestion/*.py, registry.py); airflow/tests/real compares it with
those builders in real Airflow 3.3.2. See airflow/README.md.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import importlib
import json
import logging
import math
import os
import re
import stat
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger("omsecrets")

# The status file format this runner reads (the sidecar's "omsecretsStatus").
STATUS_VERSION = 1
# The omsecretsReport version of the report files this runner reads.
REPORT_VERSION = 1
DEFAULT_OUTPUT_DIR = "/omsecrets"
DEFAULT_WAIT_SECONDS = 60.0
POLL_SECONDS = 1.0

# The end of every fail-closed line.
_TAIL = "the sidecar has not produced a current config; not resolving secrets in-process"



class OmsecretsError(Exception):
    """A refusal: one line naming the pipeline and the reason, never a value."""


@dataclasses.dataclass(frozen=True)
class Kind:
    """What OpenMetadata's builder for one pipelineType runs."""

    task_id: str
    module: str
    cls: str
    application: bool = False


# registry.py maps each PipelineType to a builder; each builder passes its
# task_name to build_dag, and its task callable creates one workflow class
# and runs it with common.py's execute_workflow (every type in
# openmetadata-managed-apis 2.0.7.0).
PIPELINES = {
    # metadata.py: metadata_ingestion_workflow (common.py) → MetadataWorkflow.
    "metadata": Kind("ingestion_task", "metadata.workflow.metadata", "MetadataWorkflow"),
    # usage.py: usage_workflow → UsageWorkflow.
    "usage": Kind("usage_task", "metadata.workflow.usage", "UsageWorkflow"),
    # lineage.py and dbt.py: metadata_ingestion_workflow.
    "lineage": Kind("lineage_task", "metadata.workflow.metadata", "MetadataWorkflow"),
    "dbt": Kind("dbt_task", "metadata.workflow.metadata", "MetadataWorkflow"),
    # profiler.py: profiler_workflow → ProfilerWorkflow.
    "profiler": Kind("profiler_task", "metadata.workflow.profiler", "ProfilerWorkflow"),
    # auto_classification.py: auto_classification_workflow.
    "autoClassification": Kind(
        "auto_classification_task", "metadata.workflow.classification", "AutoClassificationWorkflow"
    ),
    # test_suite.py: test_suite_workflow → TestSuiteWorkflow.
    "TestSuite": Kind("test_suite_task", "metadata.workflow.data_quality", "TestSuiteWorkflow"),
    # es_reindex.py: metadata_ingestion_workflow.
    "elasticSearchReindex": Kind("elasticsearch_reindex_task", "metadata.workflow.metadata", "MetadataWorkflow"),
    # application.py: application_workflow → ApplicationWorkflow.
    "application": Kind("application_task", "metadata.workflow.application", "ApplicationWorkflow", True),
}

# The types omsecrets refuses (internal/workflow/assemble.go): the sidecar
# never writes an output for them, so no DAG is built either. OpenMetadata's
# own WorkflowBuilder fails on them too ("Cannot find build function").
UNSUPPORTED = {
    "dataInsight": "current OpenMetadata deploys no DAG for it (data insights run as an application)",
    "policyAgent": "OpenMetadata's Airflow APIs register no DAG builder for it",
    "reverseMetadata": "OpenMetadata's Airflow APIs register no DAG builder for it",
}


@dataclasses.dataclass(frozen=True)
class Spec:
    """What a task needs at run time, fixed when the DAG is parsed."""

    dag_id: str
    pipeline_type: str
    definition: str
    kind: Kind
    # The run id, drawn when the DAG file is parsed, as common.py build_dag
    # does (workflow_config.pipelineRunId = Uuid(uuid.uuid4())); Airflow 3
    # parses the file again in the task's process, so each attempt has its
    # own.
    run_id: str = ""


@dataclasses.dataclass(frozen=True)
class Settings:
    """Where the sidecar's outputs are and how long a task waits for one."""

    output_dir: str
    wait_seconds: float


# ---------------------------------------------------------------------------
# Parse time
# ---------------------------------------------------------------------------


def build_dag(workflow_config_file: str, globals_namespace: dict) -> Any:
    """Build the DAG of the IngestionPipeline in workflow_config_file and
    register it in globals_namespace under its dag_id, as
    WorkflowFactory.generate_dag does (workflows/workflow_factory.py).

    Raises OmsecretsError for a definition it cannot read or a pipeline type
    no DAG is built for. Reads only that file: no API call, no secret."""
    path = _from_template(workflow_config_file)
    pipeline = load_definition(path)
    spec = spec_of(path, pipeline)
    airflow = importlib.import_module("airflow")
    dag = airflow.DAG(**dag_kwargs(pipeline, airflow_3=is_airflow_3(airflow.__version__)))
    operator_class()(
        task_id=spec.kind.task_id,
        python_callable=functools.partial(_execute, spec),
        **task_kwargs(pipeline, spec.kind),
        dag=dag,
    )
    globals_namespace[dag.dag_id] = dag
    return dag


def _from_template(path: str) -> str:
    """Undo what dag_runner.j2's tojson does to characters outside the BMP:
    JSON writes them as surrogate pairs, which a Python literal keeps as two
    lone surrogates."""
    try:
        return path.encode("utf-16", "surrogatepass").decode("utf-16")
    except UnicodeError:
        return path


def load_definition(path: str) -> dict:
    """Read an IngestionPipeline as workflows/config.py load_config_file does:
    the whole file through os.path.expandvars, then JSON."""
    p = Path(path)
    if not p.is_file():
        raise OmsecretsError(f"omsecrets: cannot open the pipeline definition {path}")
    try:
        doc = json.loads(os.path.expandvars(p.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, ValueError):
        raise OmsecretsError(f"omsecrets: the pipeline definition {path} is not readable JSON") from None
    if not isinstance(doc, dict):
        raise OmsecretsError(f"omsecrets: the pipeline definition {path} is not a JSON object")
    return doc


def clean_dag_id(raw: str | None) -> str | None:
    """api/utils.py clean_dag_id."""
    return re.sub("[^0-9a-zA-Z-_]+", "_", raw) if raw else None


def spec_of(path: str, pipeline: dict) -> Spec:
    """The dag_id and the builder for a pipeline, or OmsecretsError."""
    name = pipeline.get("name")
    if not isinstance(name, str) or not name:
        raise OmsecretsError(f"omsecrets: the pipeline definition {path} has no name")
    dag_id = clean_dag_id(name)
    ptype = pipeline.get("pipelineType")
    if ptype in UNSUPPORTED:
        raise OmsecretsError(
            f"omsecrets: {dag_id}: pipeline type {ptype} is not supported ({UNSUPPORTED[ptype]}); "
            "the sidecar refuses it, so no DAG is built for it"
        )
    if not isinstance(ptype, str) or ptype not in PIPELINES:
        raise OmsecretsError(f"omsecrets: {dag_id}: pipelineType {_line(ptype)} has no DAG builder")
    return Spec(dag_id=dag_id, pipeline_type=ptype, definition=path, kind=PIPELINES[ptype], run_id=str(uuid.uuid4()))


def is_airflow_3(version: str) -> bool:
    """utils/airflow_version.py is_airflow_3_or_higher (the major version)."""
    m = re.match(r"\s*(\d+)", str(version))
    return bool(m) and int(m.group(1)) >= 3


# fqn.split (ingestion/src/metadata/utils/fqn.py, grammar Fqn.g4): names
# separated by ".", a name with a "." quoted, no '"' inside a name.
_FQN_NAME = r'(?:[^".]+|"[^".]*(?:\.[^".]*)+")'
_FQN = re.compile(rf"{_FQN_NAME}(?:\.{_FQN_NAME})*")


def fqn_split(s: str) -> list[str]:
    """The parts of a fully qualified name; ValueError where OpenMetadata's
    parser fails."""
    if not _FQN.fullmatch(s):
        raise ValueError("not a fully qualified name")
    return re.findall(_FQN_NAME, s)


def clean_name_tag(tag: Any) -> str | None:
    """common.py clean_name_tag: the last FQN part, at most 90 characters."""
    if not tag:
        return None
    try:
        return fqn_split(tag)[-1][:90]
    except Exception:  # OpenMetadata logs a warning and falls back the same way.
        return str(tag)[:90]


def parse_time(value: str) -> dt.datetime:
    """An RFC 3339 date-time, also on Python 3.10 (whose fromisoformat takes
    neither "Z" nor nanoseconds). Naive values are taken as UTC."""
    m = re.fullmatch(
        r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d+))?(Z|z|[+-]\d{2}:?\d{2})?", value.strip()
    )
    if not m:
        raise ValueError("not an RFC 3339 date-time")
    date, clock, frac, zone = m.groups()
    text = f"{date}T{clock}"
    if frac:
        text += "." + (frac + "000000")[:6]
    if zone in (None, "Z", "z"):
        zone = "+00:00"
    elif ":" not in zone:
        zone = zone[:3] + ":" + zone[3:]
    return dt.datetime.fromisoformat(text + zone)


def dag_kwargs(pipeline: dict, *, airflow_3: bool, now: Callable[[], dt.datetime] = dt.datetime.now) -> dict:
    """The DAG arguments common.py build_dag_configs builds from the pipeline.

    Like OpenMetadata 2.0.7.0's, the DAG has no failure callback of its own
    (some other releases add a DAG-level send_failed_run_status_callback,
    which needs the bot's credentials at parse time); the task reports its
    failure (_execute)."""
    ac = pipeline.get("airflowConfig") or {}
    name = pipeline.get("name")
    schedule = ac.get("scheduleInterval")
    if airflow_3:
        # Now, timezone-aware, at every parse: a start date in the past would
        # make Airflow 3 fire a run right after the deploy.
        start = importlib.import_module("airflow.utils.timezone").utcnow()
    else:
        current = now()
        if schedule is None:
            start = current
        else:
            croniter = importlib.import_module("croniter").croniter
            start = croniter(schedule, current).get_prev(dt.datetime) if croniter.is_valid(schedule) else current
    end = ac.get("endDate")
    if end is not None:
        try:
            end = parse_time(str(end))
        except ValueError:
            raise OmsecretsError(f"omsecrets: {clean_dag_id(name)}: airflowConfig.endDate is not a date-time") from None
    timeout = ac.get("workflowTimeout")
    service = pipeline.get("service") or {}
    kwargs = {
        "dag_id": clean_dag_id(name),
        "description": pipeline.get("description"),
        "start_date": start,
        "end_date": end,
        "max_active_runs": ac.get("maxActiveRuns", 1),
        # timedelta(n) is n days; the schema says seconds. OpenMetadata
        # passes it this way, so deployed DAGs get days.
        "dagrun_timeout": dt.timedelta(timeout) if timeout else None,
        "is_paused_upon_creation": ac.get("pausePipeline") or False,
        "catchup": ac.get("pipelineCatchup") or False,
        "tags": [
            "OpenMetadata",
            clean_name_tag(pipeline.get("displayName")) or clean_name_tag(name),
            f"type:{pipeline.get('pipelineType')}",
            f"service:{clean_name_tag(service.get('name'))}",
        ],
    }
    kwargs["schedule" if airflow_3 else "schedule_interval"] = schedule
    if not airflow_3:
        kwargs["default_view"] = ac.get("workflowDefaultView", "tree")
        kwargs["orientation"] = ac.get("workflowDefaultViewOrientation", "LR")
    concurrency = ac.get("concurrency", 1)
    if concurrency is not None:
        kwargs["max_active_tasks" if airflow_3 else "concurrency"] = concurrency
    return kwargs


def task_kwargs(pipeline: dict, kind: Kind) -> dict:
    """The operator arguments common.py build_dag passes besides the task id,
    the callable and the failure callback (which this runner replaces by
    reporting the failure itself, see _execute)."""
    ac = pipeline.get("airflowConfig") or {}
    owners = pipeline.get("owners")
    owner = "openmetadata"
    if isinstance(owners, list) and owners and isinstance(owners[0], dict):
        owner = owners[0].get("name")
    # Only application.py build_application_dag passes params, so that a
    # trigger's conf can set appConfigOverride; the other builders pass none.
    params = {"appConfigOverride": None} if kind.application else None
    return {"retries": ac.get("retries") or 0, "owner": owner, "params": params}


_OPERATOR = None


def operator_class() -> type:
    """The operator, a PythonOperator as OpenMetadata's CustomPythonOperator
    is. Made on first use so that importing this module needs no Airflow."""
    global _OPERATOR
    if _OPERATOR is None:
        try:
            from airflow.providers.standard.operators.python import PythonOperator
        except ImportError:
            try:  # common.py imports it this way.
                from airflow.operators.python import PythonOperator
            except ImportError:
                from airflow.operators.python_operator import PythonOperator

        class OmsecretsOperator(PythonOperator):
            """Runs the config the sidecar resolved for this task's pipeline."""

            def execute(self, context):
                return self.python_callable(self, context)

            def on_kill(self) -> None:
                # As CustomPythonOperator.on_kill: clean up, then report the
                # run as failed (only possible once the config was read).
                super().on_kill()
                run = getattr(self, "_omsecrets_run", None)
                if run is not None:
                    run.report_failed()

        _OPERATOR = OmsecretsOperator
    return _OPERATOR


# ---------------------------------------------------------------------------
# Run time
# ---------------------------------------------------------------------------


def read_settings(environ: dict | None = None) -> Settings:
    """OMSECRETS_OUTPUT_DIR and OMSECRETS_WAIT_SECONDS, else Airflow's
    [omsecrets] output_dir and wait_seconds (airflow.cfg or
    AIRFLOW__OMSECRETS__OUTPUT_DIR / AIRFLOW__OMSECRETS__WAIT_SECONDS), else
    /omsecrets and 60. A bad value is an OmsecretsError."""
    env = os.environ if environ is None else environ
    out = env.get("OMSECRETS_OUTPUT_DIR") or _airflow_conf("output_dir") or DEFAULT_OUTPUT_DIR
    wait = env.get("OMSECRETS_WAIT_SECONDS") or _airflow_conf("wait_seconds") or str(DEFAULT_WAIT_SECONDS)
    if not os.path.isabs(out):
        raise OmsecretsError(f"omsecrets: the output directory {_line(out)} is not an absolute path")
    try:
        seconds = float(wait)
    except ValueError:
        seconds = -1.0
    if not math.isfinite(seconds) or seconds < 0:
        raise OmsecretsError(f"omsecrets: the wait {_line(wait)} is not a number of seconds")
    return Settings(output_dir=out, wait_seconds=seconds)


def _airflow_conf(key: str) -> str | None:
    try:
        from airflow.configuration import conf

        return conf.get("omsecrets", key, fallback=None)
    except Exception:  # no Airflow, or a configuration it cannot read
        return None


class _Run:
    """One task run after its config was accepted; reports its failure once."""

    def __init__(self, spec: Spec, config: dict):
        self.spec = spec
        self.config = config
        self._reported = False

    def report_failed(self) -> None:
        """What common.py send_failed_status_callback does when a task fails,
        through OpenMetadata's own function, with the config of this run."""
        if self._reported:
            return
        self._reported = True
        try:
            from openmetadata_managed_apis.workflows.ingestion.common import send_failed_status_callback

            if self.spec.kind.application:
                from metadata.generated.schema.metadataIngestion.application import (
                    OpenMetadataApplicationConfig as Model,
                )
            else:
                from metadata.generated.schema.metadataIngestion.workflow import (
                    OpenMetadataWorkflowConfig as Model,
                )
            send_failed_status_callback(Model.model_validate(self.config))
        except Exception as exc:  # its message could quote the config
            log.warning(
                "omsecrets: %s: could not report the failed run to OpenMetadata (%s)",
                self.spec.dag_id,
                type(exc).__name__,
            )


def _execute(spec: Spec, operator: Any, context: dict) -> None:
    """The task: wait for the resolved config, apply the run's parameters,
    run OpenMetadata's workflow class; report a failure after the config was
    accepted to OpenMetadata, as the operator's on_failure_callback does, and
    a fail-closed one with the kept output's or the report file's server
    config where there is one (report_fail_closed)."""
    settings = read_settings()
    started = time.time()
    try:
        output = wait_for_output(spec, settings)
    except OmsecretsError:
        # Failed closed: no workflow ran, so nothing reported the run. Like
        # the failure report below, only when the task fails for good.
        if not _will_retry(operator, context):
            report_fail_closed(spec, settings, started)
        raise
    run = _Run(spec, output)
    operator._omsecrets_run = run
    try:
        run.config = apply_run(spec, output, context)
        run_workflow(spec, run.config)
    except Exception:
        # OpenMetadata reports from the task's on_failure_callback, which
        # Airflow calls when the task fails for good, not before a retry.
        if not _will_retry(operator, context):
            run.report_failed()
        raise


@dataclasses.dataclass(frozen=True)
class Kept:
    """A previously good output still on disk: what a task that failed
    closed may report its failed run with."""

    name: str
    server: dict
    fqn: str
    # What name is, for the log line: "the kept output" or "the report file".
    what: str = "the kept output"


def kept_output(spec: Spec, settings: Settings) -> tuple[Kept | None, str | None]:
    """For a task that failed closed: the output the sidecar's status still
    names (a stale or expired one, or one resolved from another deploy), or
    the reason there is none to report with. Only the output's
    workflowConfig.openMetadataServerConfig (hostPort and the bot's resolved
    JWT) and ingestionPipelineFQN are taken; a server config that still
    holds a secret: reference, or names a secrets manager other than db, is
    refused: the task never resolves a secret, and holds no credential of
    its own."""
    out = Path(settings.output_dir)
    status_path = out / f"{spec.dag_id}.status"
    raw, reason = _read(status_path, f"status file {status_path}", missing="the sidecar has written none yet")
    if reason:
        return None, f"no output to take the bot's credentials from ({reason})"
    try:
        status = json.loads(raw)
    except ValueError:
        status = None
    if (
        not isinstance(status, dict)
        or type(status.get("omsecretsStatus")) is not int
        or status.get("omsecretsStatus") != STATUS_VERSION
        or status.get("dagId") != spec.dag_id
    ):
        return None, f"status file {status_path} is not this runner's status for {spec.dag_id}"
    name = status.get("output")
    if status.get("state") not in ("current", "stale") or not _plain_name(name):
        return None, (
            f"no output to take the bot's credentials from (the status has state {_line(status.get('state'))} "
            "and names no output)"
        )
    data, reason = _read(out / name, f"output {name}", missing="it does not exist")
    if reason:
        return None, f"no output to take the bot's credentials from ({reason})"
    doc, reason = _parse_output(name, data)
    if reason:
        return None, reason
    wc = doc.get("workflowConfig")
    server = wc.get("openMetadataServerConfig") if isinstance(wc, dict) else None
    return _kept(name, f"output {name}", "workflowConfig.openMetadataServerConfig", server, doc.get("ingestionPipelineFQN"))


def _kept(name: str, what: str, field: str, server, fqn, label: str = "the kept output") -> tuple[Kept | None, str | None]:
    """The Kept of a server config and pipeline FQN read from what (an
    output, or the report file), or the reason they cannot be reported with."""
    if not isinstance(server, dict):
        return None, f"{what} has no {field}"
    reason = _check_server(what, server)
    if reason:
        return None, reason
    if not isinstance(fqn, str) or not fqn:
        return None, f"{what} has no ingestionPipelineFQN"
    return Kept(name=name, server=server, fqn=fqn, what=label), None


def _check_server(what: str, server: dict) -> str | None:
    """Refuse a server config the report could not use without a store: a
    secret: reference left in it, a secrets manager other than db, a jwtToken
    that is not a bearer token."""
    refs = sum(1 for v in _strings(server) if v.startswith("secret:"))
    if refs:
        return f"the openMetadataServerConfig of {what} still holds {refs} secret: reference(s), and the task resolves none"
    provider = server.get("secretsManagerProvider")
    if provider not in (None, "db", "noop"):
        return f"the openMetadataServerConfig of {what} names secretsManagerProvider {_line(provider)}, not db"
    security = server.get("securityConfig")
    token = security.get("jwtToken") if isinstance(security, dict) else None
    if token is not None and not (isinstance(token, str) and _TOKEN.fullmatch(token)):
        # It goes into an HTTP header: a malformed one would make the HTTP
        # library's error quote it.
        return f"the openMetadataServerConfig of {what} holds a jwtToken that is not a bearer token"
    return None


def report_file(spec: Spec, settings: Settings) -> tuple[Kept | None, str | None]:
    """For a task that failed closed with no output to report with: the
    sidecar's report file <dag_id>.report.json (the bot's server config with
    its JWT resolved, and the pipeline's FQN), or the reason there is none.
    It is refused unless it is a version 1 report for this dag id whose
    openMetadataServerConfig passes the same checks as a kept output's, and
    it holds no secret: reference anywhere."""
    name = f"{spec.dag_id}.report.json"
    data, reason = _read(Path(settings.output_dir) / name, f"report file {name}", missing="the sidecar has written none")
    if reason:
        return None, reason
    try:
        doc = json.loads(data)
    except ValueError:
        return None, f"report file {name} is not valid JSON"
    if (
        not isinstance(doc, dict)
        or type(doc.get("omsecretsReport")) is not int
        or doc.get("omsecretsReport") != REPORT_VERSION
        or doc.get("dagId") != spec.dag_id
    ):
        return None, f"report file {name} is not this runner's report for {spec.dag_id}"
    refs = sum(1 for v in _strings(doc) if v.startswith("secret:"))
    if refs:
        return None, f"report file {name} still holds {refs} secret: reference(s), and the task resolves none"
    return _kept(
        name,
        f"report file {name}",
        "openMetadataServerConfig",
        doc.get("openMetadataServerConfig"),
        doc.get("ingestionPipelineFQN"),
        label="the report file",
    )


# RFC 6750 b64token: what a bearer token may hold.
_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")

# A fail-closed task's report of its failed run waits at most this long
# (seconds) for OpenMetadata; each request of the client gets _REPORT_CLIENT.
REPORT_SECONDS = 15.0
_REPORT_CLIENT = {"timeout": (5, 10), "retry": 0}


def report_fail_closed(spec: Spec, settings: Settings, started: float, *, timeout: float | None = None) -> bool:
    """Report the failed run of a task that failed closed to OpenMetadata,
    best-effort, with the kept output's server config (kept_output), or
    with no output the sidecar's report file's (report_file): a
    PipelineStatus under the run's pipelineRunId with pipelineState failed,
    through OpenMetadata's own client. In OpenMetadata 2.0.7.0 the run id is
    drawn when the DAG file is parsed, and send_failed_status_callback only
    updates a status that exists, which a run whose workflow never started
    has not; so the status is created (PUT creates or updates). Logs one
    line, never a value; True if OpenMetadata accepted the status."""
    kept, reason = kept_output(spec, settings)
    if kept is None:
        # No output to take the credentials from: the sidecar's report file.
        kept, why = report_file(spec, settings)
        if kept is None:
            log.warning(
                "omsecrets: %s: the failed run is not reported to OpenMetadata: %s; %s", spec.dag_id, reason, why
            )
            return False
    limit = REPORT_SECONDS if timeout is None else timeout
    result: list = []

    def send() -> None:
        try:
            answer = send_failed_status(kept, spec.run_id, started)
            # OpenMetadata's client returns None where it swallowed an error
            # (after logging it); the server answers with the pipeline.
            result.append(None if answer is not None else "no answer from OpenMetadata")
        except BaseException as exc:  # its message could quote the config
            result.append(exc)

    # A thread, so that the report is bounded as a whole: the client's
    # transport retries connecting on its own.
    worker = threading.Thread(target=send, name=f"omsecrets-report-{spec.dag_id}", daemon=True)
    worker.start()
    worker.join(limit)
    if not result:
        log.warning(
            "omsecrets: %s: could not report the failed run to OpenMetadata (no answer within %gs)", spec.dag_id, limit
        )
        return False
    if result[0] is not None:
        why = result[0] if isinstance(result[0], str) else type(result[0]).__name__
        log.warning("omsecrets: %s: could not report the failed run to OpenMetadata (%s)", spec.dag_id, why)
        return False
    log.info(
        "omsecrets: %s: reported the failed run to OpenMetadata: pipeline status %s of %s is failed "
        "(with the server config of %s %s)",
        spec.dag_id,
        spec.run_id,
        _line(kept.fqn),
        kept.what,
        kept.name,
    )
    return True


def send_failed_status(kept: Kept, run_id: str, started: float, *, now: Callable[[], float] = time.time) -> Any:
    """PUT the failed PipelineStatus of run_id to ingestionPipelines/<fqn>/
    pipelineStatus through OpenMetadata's client
    (OMetaIngestionPipelineMixin.create_or_update_pipeline_status), built
    from kept.server as send_failed_status_callback builds it, with short
    timeouts and no retry."""
    from metadata.generated.schema.entity.services.connections.metadata.openMetadataConnection import (
        OpenMetadataConnection,
    )
    from metadata.generated.schema.entity.services.ingestionPipelines.ingestionPipeline import PipelineStatus
    from metadata.ingestion.ometa.ometa_api import OpenMetadata

    metadata = OpenMetadata(
        config=OpenMetadataConnection.model_validate(kept.server),
        additional_client_config_arguments=dict(_REPORT_CLIENT),
    )
    start_ms = int(started * 1000)
    status = PipelineStatus.model_validate(
        {
            "runId": run_id,
            "pipelineState": "failed",
            "startDate": start_ms,
            "timestamp": start_ms,
            "endDate": int(now() * 1000),
        }
    )
    return metadata.create_or_update_pipeline_status(kept.fqn, status)


def _will_retry(operator: Any, context: dict) -> bool:
    """Whether Airflow will retry this attempt if it fails: the task has
    retries and the attempt is within the instance's max_tries (Airflow's
    is_eligible_to_retry)."""
    ti = context.get("ti")
    if ti is None:
        return False
    try:
        return bool(getattr(operator, "retries", 0)) and int(ti.try_number) <= int(ti.max_tries)
    except (AttributeError, TypeError, ValueError):
        return False


def wait_for_output(
    spec: Spec,
    settings: Settings,
    *,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], float] = time.time,
) -> dict:
    """The resolved config for spec, once the sidecar's status accepts it;
    after settings.wait_seconds of refusals an OmsecretsError with the last
    reason. A pipeline deployed a moment ago gets that long for its first
    output."""
    deadline = monotonic() + settings.wait_seconds
    waiting = False
    while True:
        config, reason = accept(spec, settings, now())
        if config is not None:
            return config
        remaining = deadline - monotonic()
        if remaining <= 0:
            raise OmsecretsError(f"omsecrets: {spec.dag_id}: {reason} — {_TAIL}")
        if not waiting:
            log.info(
                "omsecrets: %s: waiting up to %gs for the sidecar: %s", spec.dag_id, settings.wait_seconds, reason
            )
            waiting = True
        sleep(min(POLL_SECONDS, remaining))


def accept(spec: Spec, settings: Settings, now: float) -> tuple[dict | None, str | None]:
    """One look at the sidecar's status and output: (config, None) if the
    output may run, else (None, reason)."""
    out = Path(settings.output_dir)
    status_path = out / f"{spec.dag_id}.status"
    raw, reason = _read(status_path, f"status file {status_path}", missing="the sidecar has written none yet")
    if reason:
        return None, reason
    status, reason = check_status(spec, status_path, raw, now)
    if reason:
        return None, reason
    try:
        own = hashlib.sha256(Path(spec.definition).read_bytes()).hexdigest()
    except OSError:
        return None, f"cannot read the pipeline definition {spec.definition}"
    if status.get("definitionSHA256") != own:
        return None, (
            f"the output was resolved from another version of {spec.definition} "
            "(the sidecar has not resolved the current deploy yet)"
        )
    name = status.get("output")
    if not _plain_name(name):
        return None, f"status file {status_path} names an output that is not a plain file name"
    output = out / name
    data, reason = _read(output, f"output {name}", missing="it does not exist")
    if reason:
        return None, reason
    config, reason = _parse_output(name, data)
    if reason:
        return None, reason
    again, _ = _read(status_path, "status file", missing="")
    if again != raw:
        # The sidecar wrote a new output between the two reads: look again.
        return None, f"status file {status_path} changed while the output was read"
    reason = check_resolved(name, config)
    if reason:
        return None, reason
    log.info(
        "omsecrets: %s: running %s (resolved at %s, fresh until %s)",
        spec.dag_id,
        output,
        _line(status.get("resolvedAt")),
        _line(status.get("freshUntil")),
    )
    return config, None


def check_status(spec: Spec, path: Path, raw: bytes, now: float) -> tuple[dict | None, str | None]:
    """The status file's verdict on the output, before it is read."""
    try:
        status = json.loads(raw)
    except ValueError:
        return None, f"status file {path} is not valid JSON"
    if not isinstance(status, dict):
        return None, f"status file {path} is not a JSON object"
    version = status.get("omsecretsStatus")
    if type(version) is not int or version != STATUS_VERSION:
        return None, f"status file {path} has omsecretsStatus {_line(version)}; this runner reads {STATUS_VERSION}"
    if status.get("dagId") != spec.dag_id:
        return None, f"status file {path} is for dagId {_line(status.get('dagId'))}"
    state = status.get("state")
    why = f"{_line(status.get('outcome'))}: {_line(status.get('error'))}"
    if state == "failed":
        return None, f"the sidecar has no output for it ({why})"
    if state == "stale":
        return None, f"output is stale ({why})"
    if state != "current":
        return None, f"status file {path} has state {_line(state)}"
    try:
        fresh = parse_time(str(status.get("freshUntil")))
    except ValueError:
        return None, f"status file {path} has no valid freshUntil"
    if now >= fresh.timestamp():
        return None, (
            f"output expired at {_line(status.get('freshUntil'))}, last checked at "
            f"{_line(status.get('checkedAt'))} (the sidecar stopped refreshing it)"
        )
    return status, None


def _plain_name(name: Any) -> bool:
    return (
        isinstance(name, str)
        and name not in ("", ".", "..")
        and "/" not in name
        and "\\" not in name
        and "\x00" not in name
        and ".." not in name
        and name.endswith((".json", ".yaml", ".yml"))
    )


def _read(path: Path, what: str, *, missing: str) -> tuple[bytes | None, str | None]:
    """A regular file's bytes, or the reason there are none. Symbolic links
    are refused: the sidecar renames regular files into place."""
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            return None, f"{what} is not a regular file"
        return path.read_bytes(), None
    except FileNotFoundError:
        return None, f"no {what}: {missing}"
    except OSError as exc:
        return None, f"cannot read {what} ({exc.strerror or type(exc).__name__})"


def _parse_output(name: str, data: bytes) -> tuple[dict | None, str | None]:
    # Parser messages can quote the document, so none is passed on.
    if name.endswith(".json"):
        try:
            doc = json.loads(data)
        except ValueError:
            return None, f"output {name} is not valid JSON"
    else:
        try:
            import yaml
        except ImportError:
            return None, f"output {name} is YAML and PyYAML is not installed; run the sidecar with --format json"
        try:
            doc = yaml.safe_load(data)
        except Exception:
            return None, f"output {name} is not valid YAML"
    if not isinstance(doc, dict):
        return None, f"output {name} is not an object"
    return doc, None


def check_resolved(name: str, config: dict) -> str | None:
    """Refuse an output OpenMetadata's workflow would still resolve
    in-process: a "secret:" reference left in it, or a secrets manager other
    than db, which the sidecar sets."""
    refs = sum(1 for v in _strings(config) if v.startswith("secret:"))
    if refs:
        return f"output {name} still holds {refs} secret: reference(s)"
    server = (config.get("workflowConfig") or {}).get("openMetadataServerConfig") or {}
    provider = server.get("secretsManagerProvider")
    if provider not in (None, "db", "noop"):
        return f"output {name} names secretsManagerProvider {_line(provider)}, not db"
    return None


def _strings(v: Any):
    if isinstance(v, str):
        yield v
    elif isinstance(v, dict):
        for x in v.values():
            yield from _strings(x)
    elif isinstance(v, list):
        for x in v:
            yield from _strings(x)


def without_none(v: Any) -> Any:
    """v without null object members, at every depth: the dict OpenMetadata's
    task callables build with model_dump_json (exclude_none=True by default
    in ingestion/models/custom_pydantic.py) and hand to Workflow.create."""
    if isinstance(v, dict):
        return {k: without_none(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [without_none(x) for x in v]
    return v


def apply_run(spec: Spec, output: dict, context: dict) -> dict:
    """The config a run hands to the workflow class, as the type's task
    callable builds it: the output without nulls (without_none), with the
    run id drawn at parse time (build_dag), and for an application
    application.py's application_workflow lays the trigger's
    params.appConfigOverride over appConfig."""
    config = without_none(output)
    config["pipelineRunId"] = spec.run_id or str(uuid.uuid4())
    if spec.kind.application:
        params = context.get("params") or {}
        override = params.get("appConfigOverride") or {}
        if not isinstance(override, dict):
            raise OmsecretsError(f"omsecrets: {spec.dag_id}: params.appConfigOverride is not an object")
        config["appConfig"] = {**(config.get("appConfig") or {}), **override}
    return config


def run_workflow(spec: Spec, config: dict) -> None:
    """Create OpenMetadata's workflow class for the pipeline type from config
    and run it as the type's task callable does."""
    _set_operator_logger(config)
    cls = getattr(importlib.import_module(spec.kind.module), spec.kind.cls)
    workflow = cls.create(config)
    # common.py execute_workflow. WorkflowConfig.raiseOnError defaults to
    # true (workflow.json).
    workflow.execute()
    workflow.stop()
    if (config.get("workflowConfig") or {}).get("raiseOnError", True):
        workflow.raise_from_status()


def _set_operator_logger(config: dict) -> None:
    """utils/logger.py set_operator_logger."""
    from metadata.utils.logger import set_loggers_level

    logging.getLogger().setLevel(logging.WARNING)
    set_loggers_level((config.get("workflowConfig") or {}).get("loggerLevel") or "INFO")


def _line(v: Any, limit: int = 300) -> str:
    """v as one short line for a message."""
    s = " ".join(str(v).split())
    return s if len(s) <= limit else s[: limit - 1] + "…"
