"""omsecrets' DAG runner against OpenMetadata's own Airflow side, installed
from PyPI (airflow/requirements.lock: apache-airflow 3.3.2,
openmetadata-managed-apis and openmetadata-ingestion 2.0.7.0).

The same IngestionPipeline goes to OpenMetadata's builders
(openmetadata_managed_apis/workflows/ingestion/registry.py) and to
omsecrets_runner; the DAGs, their tasks, and what the tasks run must agree.

Nothing of OpenMetadata's is patched at parse time: its builders fetch the
service from the pipeline's openMetadataServerConnection.hostPort, which
points at a loopback server (omserver.py) answering with OpenMetadata's own
pydantic models. At run time the one thing patched is the workflow class's
`create` classmethod, on the real class that both OpenMetadata's task callable
and the runner look up, so that the calls they make on the workflow can be
recorded instead of running an ingestion.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import os
import tempfile
import unittest
import uuid
from pathlib import Path
from unittest import mock

import env  # noqa: F401  (first: Airflow's environment)

import omserver
import pipelines

import airflow
from airflow.providers.standard.operators.python import PythonOperator
from airflow.utils import timezone

from metadata.generated.schema.metadataIngestion.application import OpenMetadataApplicationConfig
from metadata.generated.schema.metadataIngestion.workflow import OpenMetadataWorkflowConfig
from openmetadata_managed_apis.workflows.ingestion import common as om_common
from openmetadata_managed_apis.workflows.ingestion.registry import build_registry

import omsecrets_runner

SERVER: omserver.Server


def setUpModule():
    global SERVER
    SERVER = omserver.Server()


def tearDownModule():
    SERVER.close()


# What each DAG is compared on (the DAG arguments build_dag_configs sets, and
# the ones it leaves to Airflow's defaults, which must stay default).
DAG_ATTRS = (
    "dag_id", "description", "schedule", "end_date", "max_active_tasks", "max_active_runs", "catchup",
    "dagrun_timeout", "is_paused_upon_creation", "default_args", "doc_md", "timezone", "fail_fast",
    "max_consecutive_failed_dag_runs", "render_template_as_native_obj", "owner_links", "access_control",
    "on_failure_callback", "on_success_callback", "has_on_failure_callback", "has_on_success_callback",
)
TASK_ATTRS = ("task_id", "retries", "owner", "retry_delay", "retry_exponential_backoff", "trigger_rule",
              "depends_on_past", "queue", "pool", "priority_weight", "execution_timeout", "email", "do_xcom_push")


def om_dag(doc: dict):
    """OpenMetadata's DAG for the pipeline, built as its template builds it
    (WorkflowBuilder.build: build_registry.registry[pipelineType])."""
    return build_registry.registry[doc["pipelineType"]](pipelines.model(doc))


def write_definition(doc: dict, directory: Path) -> Path:
    dag_id = omsecrets_runner.clean_dag_id(doc["name"])
    path = directory / f"{dag_id}.json"
    path.write_text(pipelines.definition(doc))
    return path


class Builders(unittest.TestCase):
    """Parse time: the same DAG, task id, task arguments and params."""

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(dir=env.HOME))

    def compare(self, doc: dict):
        before = timezone.utcnow()
        SERVER.clear()
        want = om_dag(doc)
        om_requests = SERVER.seen()
        path = write_definition(doc, self.tmp)
        SERVER.clear()
        ns: dict = {}
        got = omsecrets_runner.build_dag(str(path), ns)
        after = timezone.utcnow()
        self.assertEqual(SERVER.seen(), [], "the runner called the OpenMetadata API while building the DAG")
        if doc["service"]["type"] != "testSuite" and doc["pipelineType"] != "application":
            # Proves the builders really went to the loopback server: had
            # they not, the comparison would say nothing about them.
            self.assertIn(("GET", "/api/v1/system/version"), om_requests)
        self.assertIs(ns[got.dag_id], got, "registered under its dag_id, as WorkflowFactory.register_dag does")
        self.assertIsInstance(got, airflow.DAG)
        for attr in DAG_ATTRS:
            self.assertEqual(getattr(got, attr), getattr(want, attr), attr)
        self.assertEqual(sorted(got.tags), sorted(want.tags), "tags")
        self.assertEqual(got.params.dump(), want.params.dump(), "DAG params")
        self.assertEqual(type(got.timetable), type(want.timetable), "timetable")
        self.assertEqual(_fields(got.timetable), _fields(want.timetable), "timetable")
        # build_dag_configs on Airflow 3: timezone.utcnow() at every parse.
        for d in (got, want):
            self.assertEqual(d.start_date.utcoffset(), dt.timedelta(0))
            self.assertTrue(before <= d.start_date <= after, f"start_date {d.start_date} not now")
        self.assertEqual(got.task_ids, want.task_ids, "task ids")
        self.assertEqual(got.task_ids, [pipelines.TASK_IDS[doc["pipelineType"]]])
        g, w = got.tasks[0], want.tasks[0]
        for attr in TASK_ATTRS:
            self.assertEqual(getattr(g, attr), getattr(w, attr), f"task {attr}")
        self.assertEqual(g.params.dump(), w.params.dump(), "task params")
        self.assertIsInstance(g, PythonOperator)
        self.assertIsInstance(w, PythonOperator)
        return got, want

    def test_every_type_and_variant(self):
        for ptype in pipelines.SUPPORTED:
            for name, variant in pipelines.VARIANTS.items():
                with self.subTest(ptype=ptype, variant=name):
                    self.compare(pipelines.pipeline(ptype, SERVER.host_port, **variant))

    def test_quoted_names_in_tags(self):
        # A display name and a service name that are FQNs with quoted parts:
        # the tags are the last part (common.py clean_name_tag, fqn.split).
        doc = pipelines.pipeline("metadata", SERVER.host_port, displayName='svc."db.with.dots"')
        doc["service"]["name"] = "my.sql"
        got, _ = self.compare(doc)
        self.assertIn('"db.with.dots"', got.tags)  # fqn.split keeps the quotes
        self.assertIn("service:sql", got.tags)

    def test_refused_types(self):
        # OpenMetadata 2.0.7.0 registers no builder for them; the runner
        # fails with its one line instead of building a DAG.
        for ptype in ("dataInsight", "policyAgent"):
            with self.subTest(ptype=ptype):
                doc = pipelines.pipeline("dataInsight", SERVER.host_port)
                doc["pipelineType"] = ptype
                self.assertNotIn(ptype, build_registry.registry)
                path = write_definition(doc, self.tmp)
                with self.assertRaises(omsecrets_runner.OmsecretsError) as cm:
                    omsecrets_runner.build_dag(str(path), {})
                self.assertRegex(str(cm.exception),
                                 rf"^omsecrets: mysql_dataInsight_prod: pipeline type {ptype} is not supported \(")
                self.assertNotIn("\n", str(cm.exception))


class Recorder:
    """Stands in for a workflow instance: records the calls made on it."""

    def __init__(self, cls, config, calls, fail):
        self.calls = calls
        self.calls.append(("create", cls.__name__, config))
        self.fail = fail

    def _call(self, name):
        self.calls.append((name,))
        if self.fail == name:
            raise RuntimeError(f"{name} failed")

    def execute(self):
        self._call("execute")

    def stop(self):
        self._call("stop")

    def raise_from_status(self):
        self._call("raise_from_status")

    def print_status(self):
        self._call("print_status")


def workflow_class(ptype):
    import importlib

    kind = omsecrets_runner.PIPELINES[ptype]
    return getattr(importlib.import_module(kind.module), kind.cls)


def normalized(ptype, config):
    """The config as the workflow class reads it (its pydantic model), without
    the run id, which each side draws."""
    model = OpenMetadataApplicationConfig if ptype == "application" else OpenMetadataWorkflowConfig
    doc = json.loads(model.model_validate(config).model_dump_json(mask_secrets=False, exclude_unset=False))
    doc.pop("pipelineRunId", None)
    return doc


class RunSequence(unittest.TestCase):
    """Run time: the runner creates the workflow class OpenMetadata's task
    callable creates, with the same config, and makes the same calls in the
    same order; a failure is reported to OpenMetadata as its
    on_failure_callback reports it."""

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(dir=env.HOME))
        self.out = self.tmp / "out"
        self.out.mkdir()
        os.environ["OMSECRETS_OUTPUT_DIR"] = str(self.out)
        self.addCleanup(os.environ.pop, "OMSECRETS_OUTPUT_DIR", None)

    def run_both(self, doc, *, fail=None, params=None):
        ptype = doc["pipelineType"]
        cls = workflow_class(ptype)
        want_dag = om_dag(doc)
        om_task = want_dag.tasks[0]
        workflow_config = om_task.op_kwargs["workflow_config"]

        # What the sidecar writes: the config OpenMetadata's builder
        # assembled, every member (nulls too), without the run id.
        output = json.loads(workflow_config.model_dump_json(mask_secrets=False, exclude_none=False,
                                                            exclude_unset=False))
        output.pop("pipelineRunId", None)
        path = write_definition(doc, self.tmp)
        dag_id = omsecrets_runner.clean_dag_id(doc["name"])
        (self.out / f"{dag_id}.json").write_text(json.dumps(output))
        now = dt.datetime.now(dt.timezone.utc)
        (self.out / f"{dag_id}.status").write_text(json.dumps({
            "omsecretsStatus": 1, "dagId": dag_id, "state": "current", "outcome": "ok",
            "resolvedAt": now.isoformat(), "checkedAt": now.isoformat(),
            "freshUntil": (now + dt.timedelta(minutes=5)).isoformat(),
            "definitionSHA256": hashlib.sha256(path.read_bytes()).hexdigest(), "output": f"{dag_id}.json",
        }))
        got_dag = omsecrets_runner.build_dag(str(path), {})
        run_task = got_dag.tasks[0]
        # The run's status as the workflow would have created it, for the
        # failure report to find (send_failed_status_callback reads it first).
        for run_id in (str(workflow_config.pipelineRunId.root), run_task.python_callable.args[0].run_id):
            SERVER.plant_status(doc["fullyQualifiedName"], run_id)

        results = {}
        for side in ("openmetadata", "omsecrets"):
            calls: list = []

            def create(klass, config, _calls=calls):
                return Recorder(klass, config, _calls, fail)

            SERVER.clear()
            error = None
            with mock.patch.object(cls, "create", classmethod(create)):
                try:
                    if side == "openmetadata":
                        kwargs = dict(om_task.op_kwargs)
                        if ptype == "application":
                            kwargs["params"] = params or {}
                        try:
                            om_task.python_callable(**kwargs)
                        except Exception:
                            # Airflow calls the task's on_failure_callback
                            # when it fails for good.
                            om_task.on_failure_callback[0]({})
                            raise
                    else:
                        run_task.execute({"params": params or {}})
                except Exception as exc:  # noqa: BLE001
                    error = exc
            run_id = (str(workflow_config.pipelineRunId.root) if side == "openmetadata"
                      else calls[0][2]["pipelineRunId"] if calls else None)
            results[side] = (calls, error, SERVER.seen(), run_id)
        return results

    def assert_same(self, ptype, results):
        (om_calls, om_error, om_requests, om_run), (calls, error, requests, run) = (
            results["openmetadata"], results["omsecrets"])
        self.assertEqual([c[:2] for c in calls], [c[:2] for c in om_calls], "calls on the workflow")
        self.assertEqual(calls[0][1], omsecrets_runner.PIPELINES[ptype].cls)
        mine, theirs = copy.deepcopy(calls[0][2]), copy.deepcopy(om_calls[0][2])
        if ptype == "elasticSearchReindex":
            # OpenMetadata 2.0.7.0 dumps es_reindex.py's
            # MetadataConnection(config=MetadataESConnection()) with
            # exclude_unset, which drops the connection's type: its task hands
            # MetadataWorkflow {"config": {}}, which the workflow's model then
            # reads as the first connection of the union that takes it. The
            # sidecar (internal/workflow/assemble.go) writes the type.
            self.assertEqual(theirs["source"].pop("serviceConnection"), {"config": {}})
            self.assertEqual(mine["source"].pop("serviceConnection")["config"]["type"], "MetadataES")
        self.assertEqual(normalized(ptype, mine), normalized(ptype, theirs), "the config created")
        self.assertEqual(str(uuid.UUID(run)), run, "pipelineRunId is a UUID")
        self.assertEqual(uuid.UUID(run).version, 4)
        self.assertNotIn(None, _values(calls[0][2]), "nulls are dropped, as model_dump_json does")
        self.assertEqual(type(error), type(om_error))
        # The failure report: the same requests, under each side's run id.
        self.assertEqual([(m, p.replace(run, "<run>")) for m, p in requests],
                         [(m, p.replace(om_run, "<run>")) for m, p in om_requests], "requests to OpenMetadata")

    def test_every_type(self):
        for ptype in pipelines.SUPPORTED:
            with self.subTest(ptype=ptype):
                results = self.run_both(pipelines.pipeline(ptype, SERVER.host_port))
                self.assert_same(ptype, results)
                self.assertEqual([c[0] for c in results["omsecrets"][0]],
                                 ["create", "execute", "stop", "raise_from_status"])

    def test_raise_on_error_false(self):
        # Only the builders that use build_workflow_config_property pass the
        # pipeline's raiseOnError on; the others keep WorkflowConfig's default.
        for ptype in pipelines.SUPPORTED:
            with self.subTest(ptype=ptype):
                results = self.run_both(pipelines.pipeline(ptype, SERVER.host_port, raiseOnError=False))
                self.assert_same(ptype, results)

    def test_failures_are_reported_as_on_failure_callback_does(self):
        for fail in ("execute", "stop", "raise_from_status"):
            for ptype in ("metadata", "profiler", "application"):
                with self.subTest(ptype=ptype, fail=fail):
                    doc = pipelines.pipeline(ptype, SERVER.host_port)
                    results = self.run_both(doc, fail=fail)
                    self.assert_same(ptype, results)
                    self.assertIsInstance(results["omsecrets"][1], RuntimeError)
                    fqn = doc["fullyQualifiedName"]
                    self.assertTrue(any(m == "PUT" and "pipelineStatus" in p for m, p in results["omsecrets"][2]),
                                    f"no failed status sent for {fqn}")

    def test_application_config_override(self):
        params = {"appConfigOverride": {"confidenceLevel": 95}}
        results = self.run_both(pipelines.pipeline("application", SERVER.host_port), params=params)
        self.assert_same("application", results)
        self.assertEqual(results["omsecrets"][0][0][2]["appConfig"]["confidenceLevel"], 95)


class TaskRuntime(unittest.TestCase):
    def test_what_the_retry_rule_reads_exists(self):
        # The runner reports a failure only when Airflow will not retry it:
        # it reads try_number and max_tries of context["ti"], Airflow 3's
        # RuntimeTaskInstance (the task's retries are compared above).
        from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

        self.assertIn("try_number", RuntimeTaskInstance.model_fields)
        self.assertIn("max_tries", RuntimeTaskInstance.model_fields)


def _fields(obj) -> dict:
    """An object's attributes, as text (timetables carry cron objects)."""
    return {k: repr(v) for k, v in sorted(vars(obj).items())}


def _values(v):
    if isinstance(v, dict):
        for x in v.values():
            yield from _values(x)
    elif isinstance(v, list):
        for x in v:
            yield from _values(x)
    else:
        yield v


if __name__ == "__main__":
    unittest.main()
