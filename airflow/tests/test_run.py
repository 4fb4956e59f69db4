"""Run time: the task reads the output the sidecar's status accepts, applies
the run's parameters as OpenMetadata does, runs OpenMetadata's workflow class
as the type's task callable does, and fails closed, in one line and without
a value, on anything else."""

import copy
import json
import os
import threading
import time
import types
import unittest
import uuid
from pathlib import Path

import support
from support import PLANTED, PLANTED_JWT, omsecrets_runner, omstub
from test_parse import deploy

import airflow

TAIL = "the sidecar has not produced a current config; not resolving secrets in-process"
RUN_UUID = "3F2504E0-4F89-11D3-9A0C-0305E82C3301"


class RunCase(unittest.TestCase):
    """A deployed pipeline, its DAG parsed, an output directory."""

    ptype = "metadata"

    def setUp(self):
        self.tmp = tempfile_dir(self)
        self.out = Path(self.tmp) / "omsecrets"
        self.out.mkdir()
        self.env = {"OMSECRETS_OUTPUT_DIR": str(self.out), "OMSECRETS_WAIT_SECONDS": "0"}
        self.set_env(self.env)
        self.addCleanup(setattr, omsecrets_runner, "POLL_SECONDS", omsecrets_runner.POLL_SECONDS)
        omsecrets_runner.POLL_SECONDS = 0.02
        self.addCleanup(setattr, airflow, "__version__", airflow.__version__)
        airflow.__version__ = "2.10.5"
        self.deploy(self.ptype)

    def set_env(self, env):
        for k in ("OMSECRETS_OUTPUT_DIR", "OMSECRETS_WAIT_SECONDS", "AIRFLOW__OMSECRETS__OUTPUT_DIR",
                  "AIRFLOW__OMSECRETS__WAIT_SECONDS"):
            old = os.environ.pop(k, None)
            if old is not None:
                self.addCleanup(os.environ.__setitem__, k, old)
            else:
                self.addCleanup(os.environ.pop, k, None)
        os.environ.update(env)

    def deploy(self, ptype, definition=None):
        self.ptype = ptype
        self.definition = definition or support.pipeline(ptype)
        self.dag_id = support.dag_id_of(ptype) if definition is None else omsecrets_runner.clean_dag_id(
            self.definition["name"])
        self.cfg, dag_py = deploy(self.tmp, self.definition)
        support.fresh_modules()
        module = support.import_dag_file(dag_py)
        (self.task,) = module.dag.tasks
        self.expected_output = support.resolved_output(ptype, self.definition)

    def write_output(self, doc=None, name=None, **status):
        name = name or f"{self.dag_id}.json"
        (self.out / name).write_text(json.dumps(self.expected_output if doc is None else doc, indent=2))
        return support.write_status(self.out, self.dag_id, self.cfg, **{"output": name, **status})

    def run_task(self, params=None, run_id="manual__2026-12-01T10:00:00+00:00", ti=None):
        """Execute the task as Airflow does, with no network, capturing logs;
        returns (exception or None, log text)."""
        omstub.clear()
        context = {"params": params or {}, "dag_run": types.SimpleNamespace(dag_id=self.dag_id, run_id=run_id)}
        if ti is not None:
            context["ti"] = ti
        exc = None
        with support.no_network() as attempts, support.captured() as text:
            try:
                self.task.execute(context)
            except Exception as e:  # noqa: BLE001 - the test inspects it
                exc = e
        self.assertEqual(attempts, [], "the task made a network call")
        self.assertEqual(omstub.of("secrets"), [], "the task touched OpenMetadata's secrets manager")
        logs = text()
        for secret in (PLANTED, PLANTED_JWT):
            self.assertNotIn(secret, logs, "a resolved value reached the log")
            if exc is not None:
                self.assertNotIn(secret, support.exception_text(exc), "a resolved value reached the error")
        return exc, logs

    def parse_run_id(self):
        """The pipelineRunId the DAG file drew when it was parsed."""
        return self.task.python_callable.args[0].run_id

    def workflow_events(self):
        return [e[1:] for e in omstub.of("workflow")]

    def created_config(self):
        (create,) = [e for e in self.workflow_events() if e[1] == "create"]
        return create[2]

    def assert_fails_closed(self, exc, reason):
        self.assertIsInstance(exc, omsecrets_runner.OmsecretsError)
        msg = str(exc)
        self.assertEqual(len(msg.splitlines()), 1, msg)
        self.assertEqual(msg, f"omsecrets: {self.dag_id}: {reason} — {TAIL}")
        self.assertEqual(self.workflow_events(), [], "a workflow ran on a refused output")
        self.assertEqual(omstub.of("send_failed_status_callback"), [])


def tempfile_dir(case):
    import tempfile

    d = tempfile.TemporaryDirectory()
    case.addCleanup(d.cleanup)
    return d.name


class EveryTypeTest(RunCase):
    def test_every_type_runs_its_workflow_class(self):
        for ptype in support.TASK_IDS:
            with self.subTest(ptype=ptype):
                self.deploy(ptype)
                self.write_output()
                exc, logs = self.run_task()
                self.assertIsNone(exc)
                events = self.workflow_events()
                self.assertEqual({e[0] for e in events}, {support.CLASSES[ptype]})
                # common.py execute_workflow (every type's task callable in
                # openmetadata-managed-apis 2.0.7.0), raiseOnError true.
                self.assertEqual([e[1] for e in events], ["create", "execute", "stop", "raise_from_status"])
                config = self.created_config()
                # The resolved output, values included, minus its nulls, plus
                # the run id drawn when the DAG file was parsed.
                want = omsecrets_runner.without_none(copy.deepcopy(self.expected_output))
                want["pipelineRunId"] = self.parse_run_id()
                self.assertEqual(uuid.UUID(want["pipelineRunId"]).version, 4)
                if ptype == "application":
                    want["appConfig"] = self.expected_output["appConfig"]
                self.assertEqual(config, want)
                self.assertIn(PLANTED, json.dumps(config), "the workflow gets the resolved values")
                # set_operator_logger: the pipeline's logger level.
                self.assertEqual(omstub.of("set_loggers_level"), [("set_loggers_level", "DEBUG")])
                self.assertIn(f"omsecrets: {self.dag_id}: running {self.out / (self.dag_id + '.json')}", logs)

    def test_raise_on_error_false_skips_raise_from_status(self):
        out = copy.deepcopy(self.expected_output)
        out["workflowConfig"]["raiseOnError"] = False
        self.write_output(out)
        exc, _ = self.run_task()
        self.assertIsNone(exc)
        self.assertEqual([e[1] for e in self.workflow_events()], ["create", "execute", "stop"])

    def test_reads_the_file_the_status_names(self):
        decoy = copy.deepcopy(self.expected_output)
        decoy["source"]["serviceName"] = "decoy"
        (self.out / f"{self.dag_id}.json").write_text(json.dumps(decoy))
        self.write_output(name="renamed.json")
        exc, _ = self.run_task()
        self.assertIsNone(exc)
        self.assertEqual(self.created_config()["source"]["serviceName"], "mysql")

    def test_yaml_output(self):
        import yaml  # Debian's python3-yaml, which .ci/run installs
        name = f"{self.dag_id}.yaml"
        (self.out / name).write_text(yaml.safe_dump(self.expected_output))
        support.write_status(self.out, self.dag_id, self.cfg, output=name)
        exc, _ = self.run_task()
        self.assertIsNone(exc)
        self.assertEqual(self.created_config()["source"]["serviceConnection"]["config"]["authType"]["password"],
                         PLANTED)


class RunParametersTest(RunCase):
    def test_run_id_is_drawn_at_parse_time(self):
        # common.py build_dag: workflow_config.pipelineRunId = Uuid(uuid4())
        # when the DAG file is parsed; every attempt parses it again.
        self.write_output()
        first = self.parse_run_id()
        exc, _ = self.run_task()
        self.assertIsNone(exc)
        self.assertEqual(self.created_config()["pipelineRunId"], first)
        self.deploy(self.ptype)
        self.assertNotEqual(self.parse_run_id(), first)

    def test_trigger_params_openmetadata_does_not_read_are_ignored(self):
        # openmetadata-managed-apis 2.0.7.0 reads no pipelineRunId or
        # sourceConfigOverride from a trigger's conf; neither does the runner.
        self.write_output()
        exc, _ = self.run_task(params={"pipelineRunId": RUN_UUID, "sourceConfigOverride": {"x": 1}})
        self.assertIsNone(exc)
        config = self.created_config()
        self.assertEqual(config["pipelineRunId"], self.parse_run_id())
        self.assertEqual(config["source"]["sourceConfig"],
                         omsecrets_runner.without_none(self.expected_output["source"]["sourceConfig"]))

    def test_application_overrides(self):
        self.deploy("application")
        self.write_output()
        exc, _ = self.run_task(params={"appConfigOverride": {"confidenceLevel": 95, "note": None}})
        self.assertIsNone(exc)
        # application_workflow: laid over appConfig after the dump, nulls kept.
        self.assertEqual(self.created_config()["appConfig"],
                         {"type": "AutoTagger", "confidenceLevel": 95, "note": None})
        exc, _ = self.run_task(params={"appConfigOverride": ["nope"]})
        self.assertEqual(str(exc), f"omsecrets: {self.dag_id}: params.appConfigOverride is not an object")
        self.assertEqual(len(omstub.of("send_failed_status_callback")), 1)

    def test_application_without_app_config(self):
        self.deploy("application")
        out = copy.deepcopy(self.expected_output)
        del out["appConfig"]
        self.write_output(out)
        exc, _ = self.run_task()
        self.assertIsNone(exc)
        self.assertEqual(self.created_config()["appConfig"], {})


class FailureReportingTest(RunCase):
    def tearDown(self):
        # Forget the stand-in workflow classes, and the FAIL set on them.
        support.fresh_modules()

    def test_workflow_failure_is_reported_once_and_raised(self):
        from metadata.workflow.metadata import MetadataWorkflow

        for step in ("create", "execute"):
            with self.subTest(step=step):
                MetadataWorkflow.FAIL = step
                self.write_output()
                exc, _ = self.run_task()
                self.assertIsInstance(exc, RuntimeError)
                (report,) = omstub.of("send_failed_status_callback")
                self.assertEqual(report[1], "OpenMetadataWorkflowConfig")
                self.assertEqual(report[2]["pipelineRunId"], self.parse_run_id())
                self.assertEqual(report[2]["ingestionPipelineFQN"], self.definition["fullyQualifiedName"])
                # on_kill after the failure reports nothing more.
                self.task.on_kill()
                self.assertEqual(len(omstub.of("send_failed_status_callback")), 1)

    def test_an_attempt_airflow_retries_is_not_reported(self):
        # OpenMetadata reports from on_failure_callback, which Airflow calls
        # only when the task fails for good (not on an attempt it retries).
        from metadata.workflow.metadata import MetadataWorkflow

        MetadataWorkflow.FAIL = "execute"
        self.write_output()
        self.task.retries = 2
        for try_number, reported in ((1, 0), (2, 0), (3, 1)):
            with self.subTest(try_number=try_number):
                ti = types.SimpleNamespace(try_number=try_number, max_tries=2)
                exc, _ = self.run_task(ti=ti)
                self.assertIsInstance(exc, RuntimeError)
                self.assertEqual(len(omstub.of("send_failed_status_callback")), reported)

    def test_application_failure_uses_the_application_model(self):
        self.deploy("application")
        from metadata.workflow.application import ApplicationWorkflow

        ApplicationWorkflow.FAIL = "execute"
        self.write_output()
        exc, _ = self.run_task()
        self.assertIsInstance(exc, RuntimeError)
        (report,) = omstub.of("send_failed_status_callback")
        self.assertEqual(report[1], "OpenMetadataApplicationConfig")

    def test_on_kill_reports_a_running_task(self):
        self.write_output()
        exc, _ = self.run_task()
        self.assertIsNone(exc)
        omstub.clear()
        self.task.on_kill()
        self.assertEqual([e[0] for e in omstub.events if e[0] in ("base_on_kill", "send_failed_status_callback")],
                         ["base_on_kill", "send_failed_status_callback"])

    def test_reporting_errors_name_no_value(self):
        import openmetadata_managed_apis.workflows.ingestion.common as common
        from metadata.workflow.metadata import MetadataWorkflow

        def explode(cfg):
            raise ValueError(f"cannot report {cfg.data['source']['serviceConnection']['config']['authType']}")

        saved = common.send_failed_status_callback
        common.send_failed_status_callback = explode
        self.addCleanup(setattr, common, "send_failed_status_callback", saved)
        MetadataWorkflow.FAIL = "execute"
        self.write_output()
        exc, logs = self.run_task()  # asserts PLANTED is in neither
        self.assertIsInstance(exc, RuntimeError)
        self.assertIn("could not report the failed run to OpenMetadata (ValueError)", logs)


class FailClosedTest(RunCase):
    def test_no_status_file(self):
        (self.out / f"{self.dag_id}.json").write_text(json.dumps(self.expected_output))
        exc, _ = self.run_task()
        self.assert_fails_closed(exc, f"no status file {self.out}/{self.dag_id}.status: the sidecar has written none yet")

    def test_refusals(self):
        cases = {
            "stale": (dict(state="stale", outcome="not_found", error="secret:/x not found"),
                      "output is stale (not_found: secret:/x not found)"),
            "failed": (dict(state="failed", outcome="om_not_found", error="service mysql was deleted"),
                       "the sidecar has no output for it (om_not_found: service mysql was deleted)"),
            "expired": (dict(fresh_for=-1), None),
            "foreign definition": (dict(definitionSHA256="0" * 64),
                                   f"the output was resolved from another version of {self.cfg} "
                                   "(the sidecar has not resolved the current deploy yet)"),
            "output with a slash": (dict(output=f"../{self.dag_id}.json"), None),
            "output with ..": (dict(output=f"..{self.dag_id}.json"), None),
            "output absolute": (dict(output=f"{self.out}/{self.dag_id}.json"), None),
            "no output name": (dict(output=support.DROP), None),
            "other dag": (dict(dagId="someone_else"), None),
            "version 2": (dict(omsecretsStatus=2), None),
            "version true": (dict(omsecretsStatus=True), None),
            "unknown state": (dict(state="fresh"), None),
            "no freshUntil": (dict(freshUntil="soon"), None),
        }
        status_path = f"{self.out}/{self.dag_id}.status"
        generic = {
            "expired": "output expired at ",
            "output with a slash": f"status file {status_path} names an output that is not a plain file name",
            "output with ..": f"status file {status_path} names an output that is not a plain file name",
            "output absolute": f"status file {status_path} names an output that is not a plain file name",
            "no output name": f"status file {status_path} names an output that is not a plain file name",
            "other dag": f"status file {status_path} is for dagId someone_else",
            "version 2": f"status file {status_path} has omsecretsStatus 2; this runner reads 1",
            "version true": f"status file {status_path} has omsecretsStatus True; this runner reads 1",
            "unknown state": f"status file {status_path} has state fresh",
            "no freshUntil": f"status file {status_path} has no valid freshUntil",
        }
        # A failed run is reported where the status still names an output
        # on disk (ReportFailClosedTest).
        reported = {"stale", "expired", "foreign definition", "no freshUntil"}
        for name, (status, reason) in cases.items():
            with self.subTest(name):
                self.write_output(**status)
                exc, _ = self.run_task()
                self.assertEqual(bool(omstub.of("api")), name in reported, omstub.of("api"))
                if reason is not None:
                    self.assert_fails_closed(exc, reason)
                else:
                    self.assertIsInstance(exc, omsecrets_runner.OmsecretsError)
                    msg = str(exc)
                    self.assertEqual(len(msg.splitlines()), 1)
                    self.assertTrue(msg.startswith(f"omsecrets: {self.dag_id}: {generic[name]}"), msg)
                    self.assertTrue(msg.endswith(TAIL))
                    self.assertEqual(self.workflow_events(), [])

    def test_expired_names_both_times(self):
        status = self.write_output(fresh_for=-30)
        exc, _ = self.run_task()
        self.assert_fails_closed(exc, f"output expired at {status['freshUntil']}, last checked at "
                                      f"{status['checkedAt']} (the sidecar stopped refreshing it)")

    def test_bad_status_json(self):
        self.write_output()
        (self.out / f"{self.dag_id}.status").write_text('{"omsecretsStatus": 1, "dagId": ')
        exc, _ = self.run_task()
        self.assert_fails_closed(exc, f"status file {self.out}/{self.dag_id}.status is not valid JSON")
        (self.out / f"{self.dag_id}.status").write_text("[1]")
        exc, _ = self.run_task()
        self.assert_fails_closed(exc, f"status file {self.out}/{self.dag_id}.status is not a JSON object")

    def test_output_missing_or_broken(self):
        self.write_output()
        (self.out / f"{self.dag_id}.json").unlink()
        exc, _ = self.run_task()
        self.assert_fails_closed(exc, f"no output {self.dag_id}.json: it does not exist")
        # Truncated JSON holding a value: the parser's message is not passed on.
        (self.out / f"{self.dag_id}.json").write_text('{"password": "' + PLANTED + '", ')
        exc, _ = self.run_task()
        self.assert_fails_closed(exc, f"output {self.dag_id}.json is not valid JSON")
        (self.out / f"{self.dag_id}.json").write_text('["' + PLANTED + '"]')
        exc, _ = self.run_task()
        self.assert_fails_closed(exc, f"output {self.dag_id}.json is not an object")

    def test_output_symlink_is_refused(self):
        self.write_output(name="real.json")
        os.symlink(self.out / "real.json", self.out / f"{self.dag_id}.json")
        support.write_status(self.out, self.dag_id, self.cfg)
        exc, _ = self.run_task()
        self.assert_fails_closed(exc, f"output {self.dag_id}.json is not a regular file")

    def test_unresolved_output_is_refused(self):
        out = copy.deepcopy(self.expected_output)
        out["source"]["serviceConnection"]["config"]["authType"]["password"] = "secret:/openmetadata/x/password"
        self.write_output(out)
        exc, _ = self.run_task()
        self.assert_fails_closed(exc, f"output {self.dag_id}.json still holds 1 secret: reference(s)")
        out = copy.deepcopy(self.expected_output)
        out["workflowConfig"]["openMetadataServerConfig"]["secretsManagerProvider"] = "aws"
        self.write_output(out)
        exc, _ = self.run_task()
        self.assert_fails_closed(exc, f"output {self.dag_id}.json names secretsManagerProvider aws, not db")

    def test_definition_redeployed_after_parse(self):
        self.write_output()
        changed = copy.deepcopy(self.definition)
        changed["sourceConfig"]["config"]["includeViews"] = True
        self.cfg.write_text(json.dumps(changed))
        exc, _ = self.run_task()
        self.assert_fails_closed(exc, f"the output was resolved from another version of {self.cfg} "
                                      "(the sidecar has not resolved the current deploy yet)")

    def test_status_error_text_is_one_line(self):
        self.write_output(state="stale", outcome="unavailable", error="store\nunreachable\r\n  after retries")
        exc, _ = self.run_task()
        self.assert_fails_closed(exc, "output is stale (unavailable: store unreachable after retries)")


class WaitTest(RunCase):
    def test_missing_output_waits_then_fails(self):
        self.set_env({**self.env, "OMSECRETS_WAIT_SECONDS": "0.4"})
        start = time.monotonic()
        exc, logs = self.run_task()
        elapsed = time.monotonic() - start
        self.assert_fails_closed(exc, f"no status file {self.out}/{self.dag_id}.status: the sidecar has written none yet")
        self.assertGreaterEqual(elapsed, 0.4)
        self.assertLess(elapsed, 3)
        self.assertIn("waiting up to 0.4s for the sidecar", logs)

    def test_output_appearing_during_the_wait_runs(self):
        self.set_env({**self.env, "OMSECRETS_WAIT_SECONDS": "10"})
        # The sidecar first reports the previous deploy's output, then the current one.
        support.write_status(self.out, self.dag_id, self.cfg, definitionSHA256="0" * 64)
        timer = threading.Timer(0.3, self.write_output)
        timer.start()
        self.addCleanup(timer.cancel)
        start = time.monotonic()
        exc, _ = self.run_task()
        self.assertIsNone(exc)
        self.assertLess(time.monotonic() - start, 5)
        self.assertEqual(self.created_config()["source"]["serviceName"], "mysql")

    def test_status_changed_while_reading_looks_again(self):
        self.write_output()
        calls = []
        real = omsecrets_runner._read

        def racing(path, what, missing):
            result = real(path, what, missing=missing)
            if path.name.endswith(".json") and not calls:
                calls.append(path)
                # The sidecar swaps in a new output and status meanwhile.
                self.write_output()
            return result

        omsecrets_runner._read = racing
        self.addCleanup(setattr, omsecrets_runner, "_read", real)
        self.set_env({**self.env, "OMSECRETS_WAIT_SECONDS": "2"})
        exc, logs = self.run_task()
        self.assertIsNone(exc)
        self.assertEqual(len(calls), 1)
        self.assertIn("changed while the output was read", logs)


class SettingsTest(unittest.TestCase):
    def test_defaults_environment_and_airflow_config(self):
        os_env = {k: os.environ.pop(k) for k in list(os.environ) if "OMSECRETS" in k}
        self.addCleanup(os.environ.update, os_env)
        read = omsecrets_runner.read_settings
        self.assertEqual(read({}), omsecrets_runner.Settings("/omsecrets", 60.0))
        os.environ["AIRFLOW__OMSECRETS__OUTPUT_DIR"] = "/from/airflow"
        os.environ["AIRFLOW__OMSECRETS__WAIT_SECONDS"] = "5"
        self.addCleanup(os.environ.pop, "AIRFLOW__OMSECRETS__OUTPUT_DIR")
        self.addCleanup(os.environ.pop, "AIRFLOW__OMSECRETS__WAIT_SECONDS")
        self.assertEqual(read({}), omsecrets_runner.Settings("/from/airflow", 5.0))
        self.assertEqual(read({"OMSECRETS_OUTPUT_DIR": "/env", "OMSECRETS_WAIT_SECONDS": "0"}),
                         omsecrets_runner.Settings("/env", 0.0))

    def test_bad_settings(self):
        for env, want in (({"OMSECRETS_OUTPUT_DIR": "relative/dir"}, "is not an absolute path"),
                          ({"OMSECRETS_WAIT_SECONDS": "-1"}, "is not a number of seconds"),
                          ({"OMSECRETS_WAIT_SECONDS": "nan"}, "is not a number of seconds"),
                          ({"OMSECRETS_WAIT_SECONDS": "a minute"}, "is not a number of seconds")):
            with self.subTest(env=env), self.assertRaises(omsecrets_runner.OmsecretsError) as ctx:
                omsecrets_runner.read_settings(env)
            self.assertIn(want, str(ctx.exception))


if __name__ == "__main__":
    unittest.main()


class ReportFailClosedTest(RunCase):
    """A task that fails closed for good reports its failed run to
    OpenMetadata with the kept output's server config, where there is one,
    through OpenMetadata's client (the stand-in records it)."""

    def setUp(self):
        super().setUp()
        self.addCleanup(support.fresh_modules)
        import metadata.ingestion.ometa.ometa_api as api

        self.api = api.OpenMetadata

    def calls(self):
        return [e[1:] for e in omstub.of("api")]

    def assert_not_reported(self, logs, why):
        self.assertEqual(self.calls(), [])
        line = f"omsecrets: {self.dag_id}: the failed run is not reported to OpenMetadata: {why}"
        self.assertIn(line, logs)

    def assert_reported(self, before, after):
        server = self.expected_output["workflowConfig"]["openMetadataServerConfig"]
        (init, put) = self.calls()
        self.assertEqual(init[0], "OpenMetadata")
        self.assertEqual(type(init[1]).__name__, "OpenMetadataConnection")
        self.assertEqual(init[1].data, server)
        self.assertEqual(init[2], {"timeout": (5, 10), "retry": 0})
        self.assertEqual(put[0], "create_or_update_pipeline_status")
        self.assertEqual(put[1], self.definition["fullyQualifiedName"])
        self.assertEqual(type(put[2]).__name__, "PipelineStatus")
        status = put[2].data
        self.assertEqual(set(status), {"runId", "pipelineState", "startDate", "timestamp", "endDate"})
        self.assertEqual(status["runId"], self.parse_run_id())
        self.assertEqual(status["pipelineState"], "failed")
        self.assertEqual(status["timestamp"], status["startDate"])
        self.assertLessEqual(int(before * 1000) - 1, status["startDate"])
        self.assertLessEqual(status["startDate"], status["endDate"])
        self.assertLessEqual(status["endDate"], int(after * 1000) + 1)

    def test_stale_and_expired_outputs_report_the_failed_run(self):
        cases = {
            "stale": (dict(state="stale", outcome="om_not_found", error="service mysql was deleted"),
                      "output is stale (om_not_found: service mysql was deleted)"),
            "expired": (dict(fresh_for=-1), "output expired at "),
            "foreign definition": (dict(definitionSHA256="0" * 64), "the output was resolved from another version"),
        }
        for name, (status, reason) in cases.items():
            with self.subTest(name):
                self.write_output(**status)
                before = time.time()
                exc, logs = self.run_task()
                after = time.time()
                # The task still fails with its own one line.
                self.assertIsInstance(exc, omsecrets_runner.OmsecretsError)
                self.assertEqual(len(str(exc).splitlines()), 1)
                self.assertTrue(str(exc).startswith(f"omsecrets: {self.dag_id}: {reason}"), str(exc))
                self.assertEqual(self.workflow_events(), [])
                self.assertEqual(omstub.of("send_failed_status_callback"), [])
                self.assert_reported(before, after)
                self.assertIn(
                    f"omsecrets: {self.dag_id}: reported the failed run to OpenMetadata: pipeline status "
                    f"{self.parse_run_id()} of {self.definition['fullyQualifiedName']} is failed "
                    f"(with the server config of the kept output {self.dag_id}.json)", logs)

    def test_application_reports_with_its_server_config(self):
        self.deploy("application")
        self.write_output(state="stale", outcome="unavailable", error="store unreachable")
        before = time.time()
        exc, _ = self.run_task()
        self.assertIsInstance(exc, omsecrets_runner.OmsecretsError)
        self.assert_reported(before, time.time())

    def test_no_output_is_not_reported(self):
        status_path = f"{self.out}/{self.dag_id}.status"
        exc, logs = self.run_task()
        self.assertIsInstance(exc, omsecrets_runner.OmsecretsError)
        self.assert_not_reported(logs, "no output to take the bot's credentials from (no status file "
                                       f"{status_path}: the sidecar has written none yet)")
        support.write_status(self.out, self.dag_id, self.cfg, state="failed", outcome="om_not_found",
                             error="service mysql was deleted")
        exc, logs = self.run_task()
        self.assertIsInstance(exc, omsecrets_runner.OmsecretsError)
        self.assert_not_reported(logs, "no output to take the bot's credentials from (the status has state "
                                       "failed and names no output)")
        # A stale status naming an output that is gone.
        support.write_status(self.out, self.dag_id, self.cfg, state="stale", outcome="unavailable", error="down")
        exc, logs = self.run_task()
        self.assert_not_reported(logs, "no output to take the bot's credentials from (no output "
                                       f"{self.dag_id}.json: it does not exist)")
        # A status for another DAG.
        self.write_output(state="stale", outcome="unavailable", error="down", dagId="someone_else")
        exc, logs = self.run_task()
        self.assert_not_reported(logs, f"status file {status_path} is not this runner's status for {self.dag_id}")

    def write_report(self, doc=None, **edit):
        """The sidecar's report file: the output's server config and FQN."""
        report = {
            "omsecretsReport": 1,
            "dagId": self.dag_id,
            "ingestionPipelineFQN": self.definition["fullyQualifiedName"],
            "openMetadataServerConfig": copy.deepcopy(self.expected_output["workflowConfig"]["openMetadataServerConfig"]),
        }
        report.update(edit)
        (self.out / f"{self.dag_id}.report.json").write_text(json.dumps(report if doc is None else doc, indent=2))
        return report

    def test_report_file_reports_with_no_output(self):
        name = f"{self.dag_id}.report.json"
        # The sidecar tried and failed before any good output (a service
        # secret missing from the store), and one with no status at all.
        for status in ({"state": "failed", "outcome": "not_found", "error": "secret missing"}, None):
            with self.subTest(status=status):
                (self.out / f"{self.dag_id}.status").unlink(missing_ok=True)
                if status is not None:
                    support.write_status(self.out, self.dag_id, self.cfg, **status)
                self.write_report()
                before = time.time()
                exc, logs = self.run_task()
                after = time.time()
                self.assertIsInstance(exc, omsecrets_runner.OmsecretsError)
                self.assertEqual(len(str(exc).splitlines()), 1)
                self.assertEqual(self.workflow_events(), [])
                self.assert_reported(before, after)
                self.assertIn(
                    f"omsecrets: {self.dag_id}: reported the failed run to OpenMetadata: pipeline status "
                    f"{self.parse_run_id()} of {self.definition['fullyQualifiedName']} is failed "
                    f"(with the server config of the report file {name})", logs)

    def test_kept_output_goes_before_the_report_file(self):
        self.write_output(state="stale", outcome="unavailable", error="down")
        self.write_report(ingestionPipelineFQN="someone.else")
        exc, logs = self.run_task()
        self.assertIsInstance(exc, omsecrets_runner.OmsecretsError)
        self.assert_reported(0, time.time())
        self.assertIn(f"(with the server config of the kept output {self.dag_id}.json)", logs)

    def test_bad_report_file_is_not_reported(self):
        name = f"{self.dag_id}.report.json"
        server = self.expected_output["workflowConfig"]["openMetadataServerConfig"]
        no_output = "no output to take the bot's credentials from (no status file "
        cases = [
            ("absent", None, f"no report file {name}: the sidecar has written none"),
            ("not JSON", b"{", f"report file {name} is not valid JSON"),
            ("another dag", dict(dagId="someone_else"), f"report file {name} is not this runner's report for {self.dag_id}"),
            ("version 2", dict(omsecretsReport=2), f"report file {name} is not this runner's report for {self.dag_id}"),
            ("version true", dict(omsecretsReport=True), f"report file {name} is not this runner's report for {self.dag_id}"),
            ("unresolved jwt", dict(openMetadataServerConfig={
                **server, "securityConfig": {"jwtToken": "secret:/openmetadata/bot/ingestion-bot/config/jwttoken"}}),
             f"report file {name} still holds 1 secret: reference(s)"),
            ("a reference elsewhere", dict(extra="secret:/x"), f"report file {name} still holds 1 secret: reference(s)"),
            ("aws", dict(openMetadataServerConfig={**server, "secretsManagerProvider": "aws"}),
             f"the openMetadataServerConfig of report file {name} names secretsManagerProvider aws, not db"),
            ("header injection", dict(openMetadataServerConfig={
                **server, "securityConfig": {"jwtToken": PLANTED_JWT + "\r\nX-Injected: " + PLANTED}}),
             f"the openMetadataServerConfig of report file {name} holds a jwtToken that is not a bearer token"),
            ("no server", dict(openMetadataServerConfig=None), f"report file {name} has no openMetadataServerConfig"),
            ("no fqn", dict(ingestionPipelineFQN=""), f"report file {name} has no ingestionPipelineFQN"),
        ]
        for case, edit, why in cases:
            with self.subTest(case):
                path = self.out / name
                path.unlink(missing_ok=True)
                if isinstance(edit, bytes):
                    path.write_bytes(edit)
                elif edit is not None:
                    self.write_report(**edit)
                exc, logs = self.run_task()  # asserts no planted value in logs or error
                self.assertIsInstance(exc, omsecrets_runner.OmsecretsError)
                self.assertEqual(self.calls(), [])
                self.assertIn(f"omsecrets: {self.dag_id}: the failed run is not reported to OpenMetadata: {no_output}",
                              logs)
                self.assertIn(f"; {why}", logs)
        # A symbolic link is not the sidecar's file.
        target = self.out / "elsewhere.json"
        self.write_report()
        (self.out / name).rename(target)
        (self.out / name).symlink_to(target)
        exc, logs = self.run_task()
        self.assertEqual(self.calls(), [])
        self.assertIn(f"; report file {name} is not a regular file", logs)

    def test_unresolved_server_config_is_not_reported(self):
        name = f"{self.dag_id}.json"
        for field, value, why in (
            ("jwtToken", "secret:/openmetadata/bot/ingestion-bot/config/jwttoken",
             f"the openMetadataServerConfig of output {name} still holds 1 secret: reference(s), "
             "and the task resolves none"),
            ("secretsManagerProvider", "aws",
             f"the openMetadataServerConfig of output {name} names secretsManagerProvider aws, not db"),
            ("jwtToken", PLANTED_JWT + "\r\nX-Injected: " + PLANTED,
             f"the openMetadataServerConfig of output {name} holds a jwtToken that is not a bearer token"),
        ):
            with self.subTest(field=field, value=value[:20]):
                out = copy.deepcopy(self.expected_output)
                server = out["workflowConfig"]["openMetadataServerConfig"]
                if field == "jwtToken":
                    server["securityConfig"]["jwtToken"] = value
                else:
                    server[field] = value
                self.write_output(out, state="stale", outcome="unavailable", error="down")
                exc, logs = self.run_task()  # asserts no planted value in logs or error
                self.assertIsInstance(exc, omsecrets_runner.OmsecretsError)
                self.assert_not_reported(logs, why)
        # No ingestionPipelineFQN: nothing to report the status under.
        out = copy.deepcopy(self.expected_output)
        del out["ingestionPipelineFQN"]
        self.write_output(out, state="stale", outcome="unavailable", error="down")
        exc, logs = self.run_task()
        self.assert_not_reported(logs, f"output {name} has no ingestionPipelineFQN")

    def test_report_failure_is_logged_without_values(self):
        self.api.FAIL = ValueError(f"401 for Bearer {PLANTED_JWT} and {PLANTED}")
        self.write_output(state="stale", outcome="unavailable", error="down")
        exc, logs = self.run_task()  # asserts neither value in the logs or the error
        self.assertIsInstance(exc, omsecrets_runner.OmsecretsError)
        self.assertEqual(str(exc).count("\n"), 0)
        self.assertEqual([c[0] for c in self.calls()], ["OpenMetadata", "create_or_update_pipeline_status"])
        self.assertIn(f"omsecrets: {self.dag_id}: could not report the failed run to OpenMetadata (ValueError)", logs)
        self.assertNotIn("reported the failed run to OpenMetadata:", logs)
        # No answer (the client swallowed an error and returned None).
        self.api.FAIL = None
        self.api.ANSWER = None
        exc, logs = self.run_task()
        self.assertIn(f"omsecrets: {self.dag_id}: could not report the failed run to OpenMetadata "
                      "(no answer from OpenMetadata)", logs)

    def test_report_is_bounded_in_time(self):
        release = threading.Event()
        self.addCleanup(release.set)
        self.api.HANG = release
        self.addCleanup(setattr, omsecrets_runner, "REPORT_SECONDS", omsecrets_runner.REPORT_SECONDS)
        omsecrets_runner.REPORT_SECONDS = 0.2
        self.write_output(state="stale", outcome="unavailable", error="down")
        t = time.monotonic()
        exc, logs = self.run_task()
        took = time.monotonic() - t
        self.assertIsInstance(exc, omsecrets_runner.OmsecretsError)
        self.assertLess(took, 5.0)
        self.assertIn(f"omsecrets: {self.dag_id}: could not report the failed run to OpenMetadata "
                      "(no answer within 0.2s)", logs)

    def test_an_attempt_airflow_retries_is_not_reported(self):
        self.write_output(state="stale", outcome="unavailable", error="down")
        self.task.retries = 2
        for try_number, reported in ((1, False), (2, False), (3, True)):
            with self.subTest(try_number=try_number):
                ti = types.SimpleNamespace(try_number=try_number, max_tries=2)
                exc, logs = self.run_task(ti=ti)
                self.assertIsInstance(exc, omsecrets_runner.OmsecretsError)
                self.assertEqual(bool(self.calls()), reported)
                self.assertEqual("the failed run" in logs, reported)
