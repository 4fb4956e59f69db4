"""End to end: a pipeline deployed as from OpenMetadata's UI, through real
Airflow 3 and OpenMetadata 2.0's own packages, with everything real except
OpenMetadata's server (omserver.py, built on OpenMetadata's models).

Run by `make e2e` with the pinned environment's python (make pyenv):
    $OMSECRETS_PYENV/bin/python -m unittest discover -s airflow/e2e -v

The tests run in order (test_1_…, test_2_…, test_3_…) on one World: the
first deploys and runs the pipeline, the second breaks it, the third deploys
every other pipeline type.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import subprocess
import sys
import time
import unittest
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
import scripts  # noqa: E402
from harness import PYENV, SERVICE, World  # noqa: E402

DAG_ID = f"{SERVICE}_metadata"
FQN = f"{SERVICE}.{DAG_ID}"
FAIL_TAIL = "the sidecar has not produced a current config; not resolving secrets in-process"

# OpenMetadata's task id per pipeline type (workflows/ingestion/*.py) and the
# sourceConfig type and service each type's pipelines carry.
TYPES = {
    "metadata": ("ingestion_task", {"type": "DatabaseMetadata", "schemaFilterPattern": {"includes": ["^sales$"]}}),
    "usage": ("usage_task", {"type": "DatabaseUsage"}),
    "lineage": ("lineage_task", {"type": "DatabaseLineage"}),
    "dbt": ("dbt_task", {"type": "DBT", "dbtConfigSource": {"dbtConfigType": "local",
                                                             "dbtManifestFilePath": "/tmp/manifest.json"}}),
    "profiler": ("profiler_task", {"type": "Profiler"}),
    "autoClassification": ("auto_classification_task", {"type": "AutoClassification"}),
    "TestSuite": ("test_suite_task", {"type": "TestSuite", "entityFullyQualifiedName": f"{SERVICE}.shop.sales.orders"}),
    "elasticSearchReindex": ("elasticsearch_reindex_task", {"type": "MetadataToElasticSearch"}),
    "application": (
        "application_task",
        {
            "type": "Application",
            "sourcePythonClass": "metadata.applications.auto_tagger.app.AutoTaggerApp",
            "appConfig": {"type": "AutoTagger", "confidenceLevel": 80},
        },
    ),
}

# Figures, printed at the end (make e2e shows them).
FIGURES: dict[str, object] = {}


def result_of(p: subprocess.CompletedProcess) -> dict:
    for line in reversed(p.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise AssertionError(f"no RESULT line (exit {p.returncode}):\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}")


class EndToEnd(unittest.TestCase):
    world: World

    @classmethod
    def setUpClass(cls):
        t = time.monotonic()
        cls.world = World().__enter__()
        try:
            cls.world.start()
            cls.world.migrate()
        except BaseException:
            cls.world.__exit__(None, None, None)
            raise
        FIGURES["world start (postgres, moto, OM server, overlay, airflow db migrate) s"] = round(
            time.monotonic() - t, 1
        )

    @classmethod
    def tearDownClass(cls):
        missing = sorted({(r["method"], r["path"]) for r in cls.world.om.requests if r["status"] == 404})
        FIGURES["OM API requests answered 404 (routes the OM-shaped server does not model, or absent entities)"] = (
            missing or "none")
        FIGURES["OM API requests, total"] = len(cls.world.om.requests)
        cls.world.__exit__(None, None, None)
        print("\ne2e figures:", file=sys.stderr)
        for k, v in FIGURES.items():
            print(f"  {k}: {v}", file=sys.stderr)

    # -- helpers ---------------------------------------------------------------

    def pipeline(self, ptype: str, name: str | None = None) -> dict:
        """The IngestionPipeline OpenMetadata's server sends to the deploy
        endpoint, validated with OpenMetadata's model."""
        from metadata.generated.schema.entity.services.ingestionPipelines.ingestionPipeline import (
            IngestionPipeline,
        )

        w = self.world
        svc = w.om.entities["services/databaseServices"][SERVICE]
        name = name or f"{SERVICE}_{ptype}"
        service = {"id": svc["id"], "type": "databaseService", "name": SERVICE, "fullyQualifiedName": SERVICE}
        if ptype == "TestSuite":
            service = {"id": str(uuid.uuid4()), "type": "testSuite", "name": f"{SERVICE}.shop.sales.orders.testSuite"}
        elif ptype in ("elasticSearchReindex", "application"):
            service = {"id": str(uuid.uuid4()), "type": "metadataService", "name": "OpenMetadata",
                       "fullyQualifiedName": "OpenMetadata"}
        doc = {
            "id": str(uuid.uuid4()),
            "name": name,
            "displayName": f"{SERVICE} {ptype}",
            "pipelineType": ptype,
            "fullyQualifiedName": f"{service['name']}.{name}" if ptype != "TestSuite" else f'"{service["name"]}".{name}',
            "sourceConfig": {"config": copy.deepcopy(TYPES[ptype][1])},
            "openMetadataServerConnection": {
                "hostPort": w.om.url,
                "authProvider": "openmetadata",
                "securityConfig": {"jwtToken": f"secret:{harness.BOT_JWT_ID}"},
                "secretsManagerProvider": "aws",
                "secretsManagerLoader": "airflow",
            },
            "airflowConfig": {"scheduleInterval": "0 * * * *", "pausePipeline": False, "concurrency": 1,
                              "retries": 0, "maxActiveRuns": 1, "pipelineCatchup": False},
            "service": service,
            "loggerLevel": "INFO",
            "deployed": False,
            "enabled": True,
            "updatedAt": int(time.time() * 1000),
            "updatedBy": "admin",
            "version": 0.1,
        }
        # Validated, and sent as is: a dump of the model would mask the JWT
        # reference ("**********"), which the server does not send.
        IngestionPipeline.model_validate(doc)
        return doc

    def deploy(self, pipelines: list[dict], phase: str) -> dict:
        w = self.world
        files = []
        for p in pipelines:
            f = w.root / f"deploy-{p['name']}.json"
            f.write_text(json.dumps(p))
            files.append(str(f))
        w.set_phase(phase)
        w.clear_connects()
        t = time.monotonic()
        p = w.python(scripts.DEPLOY, *files, env=w.airflow_env(api_server=True))
        res = result_of(p)
        res["wall_s"] = time.monotonic() - t
        res["log"] = p.stdout + p.stderr
        res["connects"] = w.connects()
        w.set_phase("idle")
        return res

    def parse(self, phase: str) -> dict:
        w = self.world
        w.set_phase(phase)
        w.clear_connects()
        t = time.monotonic()
        p = w.python(scripts.PARSE, str(w.dags))
        res = result_of(p)
        res["wall_s"] = time.monotonic() - t
        res["connects"] = w.connects()
        for e in w.process_envs():
            self.assertEqual(e["env"], [], f"the parsing process held a store or secrets-manager setting: {e}")
        w.set_phase("idle")
        return res

    def dags_test(self, dag_id: str, phase: str, *, run_id: str, out_dir: Path | None = None) -> dict:
        """`airflow dags test` with the conf OpenMetadata's server passes when
        it triggers a run (pipelineRunId), after recording the run queued as
        the server does. OpenMetadata 2.0.7.0's task reports under the run id
        its DAG file drew at parse time (common.py build_dag), not that one:
        "new_statuses" are the statuses the run added."""
        w = self.world
        env = w.airflow_env()
        if out_dir is not None:
            env["OMSECRETS_OUTPUT_DIR"] = str(out_dir)
        w.om.trigger(f"{SERVICE}.{dag_id}", run_id)
        before = set(w.om.statuses_of(f"{SERVICE}.{dag_id}"))
        w.set_phase(phase)
        w.clear_connects()
        t = time.monotonic()
        # The logical date: OpenMetadata's trigger (operations/trigger.py)
        # passes utcnow(), after the DAG was last parsed. Its DAGs, and so the
        # runner's, take start_date = utcnow() at every parse (Airflow 3), and
        # `airflow dags test` parses after taking its default logical date,
        # which would leave the run with no task instance (start_date after
        # the logical date); so a logical date after this parse is given.
        logical = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=10)).isoformat()
        p = subprocess.run(
            [str(PYENV / "bin" / "airflow"), "dags", "test", dag_id, logical,
             "-c", json.dumps({"pipelineRunId": run_id})],
            env=env, capture_output=True, text=True, timeout=900,
        )
        wall = time.monotonic() - t
        w.set_phase("idle")
        logs = "\n".join(f.read_text(errors="replace") for f in sorted((w.home / "logs").rglob("*")) if f.is_file())
        envs = w.process_envs()
        self.assertTrue(envs, "the probe saw no process: it is not loaded")
        for e in envs:
            self.assertEqual(e["env"], [], f"an Airflow process held a store or secrets-manager setting: {e}")
        statuses = w.om.statuses_of(f"{SERVICE}.{dag_id}")
        new = {k: v for k, v in statuses.items() if k not in before}
        return {"rc": p.returncode, "out": p.stdout + p.stderr, "logs": logs, "wall_s": wall,
                "connects": w.connects(), "processes": len(envs), "new_statuses": new,
                "trigger_state": statuses[run_id]["pipelineState"]}

    def assert_no_values(self, text: str, where: str):
        w = self.world
        self.assertNotIn(w.pg.password, text, f"the database password shows in {where}")
        self.assertNotIn(w.bot_jwt, text, f"the bot JWT shows in {where}")

    def assert_only_loopback(self, connects: list[dict], allowed_ports: set[int], where: str):
        for c in connects:
            self.assertEqual(c["host"], "127.0.0.1", f"{where} connected off loopback: {c}")
            self.assertIn(c["port"], allowed_ports, f"{where} connected to an unexpected port: {c}")

    def dag_model(self, dag_id: str) -> dict:
        import sqlite3
        import zlib

        con = sqlite3.connect(self.world.home / "airflow.db")
        try:
            row = con.execute(
                "select last_parsed_time, last_parse_duration, has_import_errors, is_stale from dag where dag_id=?",
                (dag_id,),
            ).fetchone()
            errors = [r[0] for r in con.execute("select filename from import_error")]
            ser = con.execute("select data, data_compressed from serialized_dag where dag_id=?", (dag_id,)).fetchone()
        finally:
            con.close()
        tasks = None
        if ser:
            data = json.loads(ser[0]) if ser[0] else json.loads(zlib.decompress(ser[1]))
            tasks = [t.get("__var", t).get("task_id") for t in data["dag"]["tasks"]]
        return {"row": row, "import_errors": errors, "tasks": tasks}

    # -- the tests -------------------------------------------------------------

    def test_1_deploy_parse_resolve_run(self):
        w = self.world
        pipeline = self.pipeline("metadata", DAG_ID)
        w.om.put_ingestion_pipeline(pipeline)
        self.assertIn("template ok", w.install_log)

        # Deploy with OpenMetadata's DagDeployer: it writes the definition,
        # renders omsecrets' template and imports it, bags it, and runs
        # Airflow's DAG processor once (ScanDagsTask).
        dep = self.deploy([pipeline], "deploy")
        (d,) = dep["deploys"]
        self.assertEqual(d["status"], 200, dep["log"][-3000:])
        self.assertEqual(d["body"], {"message": f"Workflow [{DAG_ID}] has been created"})
        definition = w.configs / f"{DAG_ID}.json"
        written = json.loads(definition.read_text())
        self.assertEqual(written["openMetadataServerConnection"]["securityConfig"]["jwtToken"],
                         f"secret:{harness.BOT_JWT_ID}", "deploy keeps the JWT a reference")
        dag_file = (w.dags / f"{DAG_ID}.py").read_text()
        self.assertIn("omsecrets_runner.build_dag(", dag_file, "OpenMetadata's deploy rendered omsecrets' template")
        self.assertIn(json.dumps(str(definition)), dag_file)
        self.assertNotIn("WorkflowFactory", dag_file)
        self.assertEqual(w.om.count("deploy"), 0, w.om.of_phase("deploy"))
        self.assertEqual(w.moto.count("deploy"), 0, w.moto.of_phase("deploy"))
        self.assertEqual(dep["connects"], [], "the deploy and its DAG processor run connected somewhere")
        model = self.dag_model(DAG_ID)
        self.assertIsNotNone(model["row"], "the DAG processor stored no DAG")
        self.assertIsNotNone(model["row"][0], "no last_parsed_time")
        self.assertEqual(model["import_errors"], [])
        self.assertEqual(model["tasks"], ["ingestion_task"])
        self.assert_no_values(dep["log"], "the deploy's log")
        FIGURES["deploy (DagDeployer.deploy + its DAG processor run) s"] = round(d["deploy_s"] + d["scan_s"], 2)
        FIGURES["DAG processor last_parse_duration s"] = model["row"][1]
        FIGURES["requests during deploy: OM API, store"] = (w.om.count("deploy"), w.moto.count("deploy"))

        # Parse again in a fresh process, as a worker does before its task.
        parsed = self.parse("parse")
        self.assertEqual(parsed["import_errors"], {})
        self.assertEqual(parsed["dags"], {DAG_ID: ["ingestion_task"]})
        self.assertEqual(w.om.count("parse"), 0)
        self.assertEqual(w.moto.count("parse"), 0)
        self.assertEqual(parsed["connects"], [])
        FIGURES["DagBag parse of the DAG file s"] = round(parsed["stats"][0]["duration_s"], 3)
        FIGURES["DagBag process wall s (python start, import airflow, parse)"] = round(parsed["wall_s"], 1)
        FIGURES["requests during parse: OM API, store"] = (w.om.count("parse"), w.moto.count("parse"))

        # The sidecar, once, as a KubernetesExecutor pod's init container.
        w.set_phase("sidecar-once")
        r = w.sidecar("run", "--once", "--out-dir", str(w.out), str(definition))
        w.set_phase("idle")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_no_values(r.stdout + r.stderr, "the sidecar's log")
        self.assertGreater(w.moto.count("sidecar-once"), 0, "the sidecar read the store")
        om_reqs = w.om.of_phase("sidecar-once")
        self.assertTrue(om_reqs and all(q["status"] == 200 for q in om_reqs if "name/" in q["path"]), om_reqs)
        status = json.loads((w.out / f"{DAG_ID}.status").read_text())
        self.assertEqual((status["state"], status["mode"], status["dagId"]), ("current", "once", DAG_ID))
        output = json.loads((w.out / f"{DAG_ID}.json").read_text())
        self.validate_output("metadata", output)
        conn = output["source"]["serviceConnection"]["config"]
        self.assertTrue(conn["authType"]["password"] == w.pg.password, "the output holds the store's password")
        FIGURES["sidecar run --once: store requests, OM requests"] = (w.moto.count("sidecar-once"), len(om_reqs))

        # The task, in real Airflow 3, from that output.
        logins_before = w.pg.logins(harness.PG_USER)
        run_id = str(uuid.uuid4())
        t = self.dags_test(DAG_ID, "task", run_id=run_id)
        text = t["out"] + t["logs"]
        self.assertEqual(t["rc"], 0, text[-6000:])
        self.assertIn(f"omsecrets: {DAG_ID}: running {w.out / (DAG_ID + '.json')}", text)
        self.assertNotIn("DagRun failed", text)
        self.assert_no_values(text, "the task's output and logs")
        self.assertEqual(w.moto.count("task"), 0, w.moto.of_phase("task"))
        self.assert_only_loopback(t["connects"], {w.om_port, w.pg.port}, "the task")
        self.assertGreater(w.pg.logins(harness.PG_USER), logins_before, "no login at the database")
        self.assertEqual(w.pg.failed_logins(harness.PG_USER), 0)
        ents = w.om.entities
        self.assertIn(f"{SERVICE}.shop", ents["databases"])
        self.assertIn(f"{SERVICE}.shop.sales", ents["databaseSchemas"])
        self.assertLessEqual({f"{SERVICE}.shop.sales.orders", f"{SERVICE}.shop.sales.customers"},
                             set(ents["tables"]))
        cols = [c["name"] for c in ents["tables"][f"{SERVICE}.shop.sales.orders"]["columns"]]
        self.assertEqual(cols, ["id", "customer", "amount"])
        (status,) = t["new_statuses"].values()
        self.assertEqual(status["pipelineState"], "success")
        uuid.UUID(status["runId"])
        self.assertEqual(w.om.schema_errors, [])
        FIGURES["task wall s (airflow dags test)"] = round(t["wall_s"], 1)
        FIGURES["requests from the task: OM API, store"] = (w.om.count("task"), w.moto.count("task"))

        # The sidecar as a daemon (run): it resolves the deployed definition
        # from the watched directory.
        out2 = w.root / "out-run"
        out2.mkdir()
        w.set_phase("sidecar-run")
        proc = w.sidecar_daemon("run", "--watch-dirs", str(w.configs), "--out-dir", str(out2))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (out2 / f"{DAG_ID}.status").exists():
            self.assertIsNone(proc.poll(), (w.root / "sidecar.log").read_text())
            time.sleep(0.2)
        status = json.loads((out2 / f"{DAG_ID}.status").read_text())
        self.assertEqual((status["state"], status["mode"]), ("current", "run"))
        self.validate_output("metadata", json.loads((out2 / f"{DAG_ID}.json").read_text()))
        proc.terminate()
        self.assertEqual(proc.wait(30), 0)
        w.set_phase("idle")
        self.assert_no_values((w.root / "sidecar.log").read_text(), "the sidecar daemon's log")

    def test_2_fail_closed(self):
        w = self.world
        # No sidecar run yet: an empty output directory, no report file.
        empty = w.root / "out-empty"
        empty.mkdir()
        run_id = str(uuid.uuid4())
        t = self.dags_test(DAG_ID, "fail-no-output", run_id=run_id, out_dir=empty)
        text = t["out"] + t["logs"]
        self.assertNotEqual(t["rc"], 0)
        want = (f"omsecrets: {DAG_ID}: no status file {empty / (DAG_ID + '.status')}: the sidecar has written none "
                f"yet — {FAIL_TAIL}")
        self.assertIn(want, text)
        self.assertEqual(w.moto.count("fail-no-output"), 0)
        self.assert_only_loopback(t["connects"], {w.om_port, w.pg.port}, "the task")
        FIGURES["fail closed, no sidecar run: OM requests, store requests"] = (
            w.om.count("fail-no-output"), w.moto.count("fail-no-output"))
        # Nothing is reported: with no output and no report file there is no
        # bot JWT to report with (the task holds no credential of its own,
        # and the definition's JWT is a secret: reference); the run stays as
        # the server left it.
        self.assertIn(f"omsecrets: {DAG_ID}: the failed run is not reported to OpenMetadata: no output to take the "
                      f"bot's credentials from (no status file {empty / (DAG_ID + '.status')}: the sidecar has "
                      f"written none yet); no report file {DAG_ID}.report.json: the sidecar has written none", text)
        self.assertEqual(t["new_statuses"], {})
        self.assertEqual(t["trigger_state"], "queued")
        self.assertEqual(w.om.count("fail-no-output"), 0)

        # The sidecar ran and failed before any good output: the service's
        # password is missing from the store. It writes no output, a failed
        # status, and the report file: the bot's server connection, its JWT
        # resolved, and nothing else.
        failed = w.root / "out-failed"
        failed.mkdir()
        svc = w.om.entities["services/databaseServices"][SERVICE]
        broken = copy.deepcopy(svc)
        broken["connection"]["config"]["authType"]["password"] = f"secret:{harness.PASSWORD_ID}_missing"
        w.om.entities["services/databaseServices"][SERVICE] = broken
        try:
            w.set_phase("sidecar-failed")
            r = w.sidecar("run", "--once", "--out-dir", str(failed), str(w.configs / f"{DAG_ID}.json"))
            w.set_phase("idle")
        finally:
            w.om.entities["services/databaseServices"][SERVICE] = svc
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assert_no_values(r.stdout + r.stderr, "the failing sidecar's output")
        status = json.loads((failed / f"{DAG_ID}.status").read_text())
        self.assertEqual((status["state"], status["outcome"]), ("failed", "not_found"), status)
        self.assertFalse((failed / f"{DAG_ID}.json").exists())
        report_path = failed / f"{DAG_ID}.report.json"
        self.assertEqual(report_path.stat().st_mode & 0o777, 0o600)
        report = json.loads(report_path.read_text())
        self.assertEqual(set(report), {"omsecretsReport", "dagId", "ingestionPipelineFQN", "openMetadataServerConfig"})
        self.assertEqual((report["dagId"], report["ingestionPipelineFQN"]), (DAG_ID, f"{SERVICE}.{DAG_ID}"))
        server = report["openMetadataServerConfig"]
        self.assertEqual(server["securityConfig"]["jwtToken"], w.bot_jwt)
        self.assertEqual(server["secretsManagerProvider"], "db")
        self.assertNotIn("secret:", report_path.read_text())
        self.assertNotIn(w.pg.password, report_path.read_text())
        run_id = str(uuid.uuid4())
        t = self.dags_test(DAG_ID, "fail-failed", run_id=run_id, out_dir=failed)
        text = t["out"] + t["logs"]
        self.assertNotEqual(t["rc"], 0)
        self.assertRegex(text, re.escape(f"omsecrets: {DAG_ID}: the sidecar has no output for it (not_found: ")
                         + r".*" + re.escape(f" — {FAIL_TAIL}"))
        self.assert_no_values(text, "the failed task's output and logs")
        self.assertEqual(w.moto.count("fail-failed"), 0)
        self.assert_only_loopback(t["connects"], {w.om_port, w.pg.port}, "the task")
        # Reported with the report file's server config, as the stale case
        # below is with the kept output's: the run's status, failed, under
        # the run id the DAG file drew at parse time.
        (st,) = t["new_statuses"].values()
        self.assertEqual(st["pipelineState"], "failed")
        uuid.UUID(st["runId"])
        self.assertNotEqual(st["runId"], run_id)
        self.assertIn(f"omsecrets: {DAG_ID}: reported the failed run to OpenMetadata: pipeline status {st['runId']} "
                      f"of {SERVICE}.{DAG_ID} is failed (with the server config of the report file "
                      f"{DAG_ID}.report.json)", text)
        self.assertEqual(t["trigger_state"], "queued")
        reqs = [(q["method"], q["path"], q["status"]) for q in w.om.of_phase("fail-failed")]
        self.assertEqual(reqs, [("GET", "/api/v1/system/version", 200),
                                ("PUT", f"/api/v1/services/ingestionPipelines/{SERVICE}.{DAG_ID}/pipelineStatus",
                                 200)])
        FIGURES["fail closed, sidecar failed (no output): OM requests, store requests"] = (
            w.om.count("fail-failed"), w.moto.count("fail-failed"))

        # A stale status: the service is gone, the sidecar's next attempt
        # fails and keeps the last good output.
        svc = w.om.entities["services/databaseServices"][SERVICE]
        w.om.delete_service(SERVICE)
        try:
            w.set_phase("sidecar-stale")
            r = w.sidecar("run", "--once", "--out-dir", str(w.out), str(w.configs / f"{DAG_ID}.json"))
            w.set_phase("idle")
            self.assertEqual(r.returncode, 1, r.stderr)
            status = json.loads((w.out / f"{DAG_ID}.status").read_text())
            self.assertEqual(status["state"], "stale")
            run_id = str(uuid.uuid4())
            t = self.dags_test(DAG_ID, "fail-stale", run_id=run_id)
        finally:
            w.om.entities["services/databaseServices"][SERVICE] = svc
        text = t["out"] + t["logs"]
        self.assertNotEqual(t["rc"], 0)
        self.assertRegex(text, re.escape(f"omsecrets: {DAG_ID}: output is stale (om_not_found: ") + r".*"
                         + re.escape(f" — {FAIL_TAIL}"))
        self.assert_no_values(text, "the failed task's output and logs")
        self.assertEqual(w.moto.count("fail-stale"), 0)
        self.assert_only_loopback(t["connects"], {w.om_port, w.pg.port}, "the task")
        # Reported: the kept output's server config (hostPort, the resolved
        # bot JWT, provider db) creates the run's status, failed, under the
        # run id the DAG file drew at parse time (as the workflow would have:
        # OpenMetadata 2.0.7.0's send_failed_status_callback only updates an
        # existing status, and this run's workflow never started). The
        # trigger's queued status is OpenMetadata 2.0.7.0's to leave.
        (status,) = t["new_statuses"].values()
        self.assertEqual(status["pipelineState"], "failed")
        run = status["runId"]
        uuid.UUID(run)
        self.assertNotEqual(run, run_id)
        self.assertLessEqual(status["startDate"], status["endDate"])
        self.assertEqual(status["timestamp"], status["startDate"])
        self.assertIn(f"omsecrets: {DAG_ID}: reported the failed run to OpenMetadata: pipeline status {run} of "
                      f"{SERVICE}.{DAG_ID} is failed (with the server config of the kept output {DAG_ID}.json)", text)
        self.assertEqual(t["trigger_state"], "queued")
        reqs = [(q["method"], q["path"], q["status"]) for q in w.om.of_phase("fail-stale")]
        self.assertEqual(reqs, [("GET", "/api/v1/system/version", 200),
                                ("PUT", f"/api/v1/services/ingestionPipelines/{SERVICE}.{DAG_ID}/pipelineStatus",
                                 200)])
        self.assertEqual(w.om.schema_errors, [])
        FIGURES["fail closed, stale: OM requests, store requests"] = (
            w.om.count("fail-stale"), w.moto.count("fail-stale"))

    def test_3_every_pipeline_type(self):
        w = self.world
        pipelines = [self.pipeline(t) for t in TYPES if t != "metadata"]
        for p in pipelines:
            w.om.put_ingestion_pipeline(p)
        dep = self.deploy(pipelines, "types-deploy")
        for d in dep["deploys"]:
            self.assertEqual(d["status"], 200, f"{d['file']}: {d['body']}\n{dep['log'][-3000:]}")
        self.assertEqual(w.om.count("types-deploy"), 0)
        self.assertEqual(w.moto.count("types-deploy"), 0)
        parsed = self.parse("types-parse")
        self.assertEqual(parsed["import_errors"], {})
        # metadata's was deployed by test_1 (when it ran).
        present = [t for t in TYPES if t != "metadata" or (w.configs / f"{DAG_ID}.json").exists()]
        want = {f"{SERVICE}_{t}": [TYPES[t][0]] for t in present}
        self.assertEqual(parsed["dags"], want)
        self.assertEqual(w.om.count("types-parse"), 0)
        self.assertEqual(w.moto.count("types-parse"), 0)
        self.assertEqual(parsed["connects"], [])
        for dag_id, tasks in want.items():
            self.assertEqual(self.dag_model(dag_id)["tasks"], tasks, dag_id)

        out = w.root / "out-types"
        out.mkdir()
        r = w.sidecar("run", "--once", "--out-dir", str(out), str(w.configs))
        self.assertEqual(r.returncode, 0, r.stderr)
        for ptype in present:
            dag_id = f"{SERVICE}_{ptype}"
            status = json.loads((out / f"{dag_id}.status").read_text())
            self.assertEqual(status["state"], "current", f"{ptype}: {status}")
            self.validate_output(ptype, json.loads((out / f"{dag_id}.json").read_text()))
        FIGURES["pipeline types deployed, parsed and resolved"] = len(present)
        FIGURES["deploy of 8 pipeline types (one process) s"] = round(dep["wall_s"], 1)
        FIGURES["DagBag parse of the folder s"] = round(parsed["collect_s"], 2)

    def validate_output(self, ptype: str, output: dict) -> None:
        """The sidecar's output validates with OpenMetadata's own model."""
        if ptype == "application":
            from metadata.generated.schema.metadataIngestion.application import OpenMetadataApplicationConfig as M
        else:
            from metadata.generated.schema.metadataIngestion.workflow import OpenMetadataWorkflowConfig as M
        try:
            M.model_validate(output)
        except Exception as exc:  # the message could quote a value: keep only the locations
            locs = [".".join(str(x) for x in e["loc"]) for e in getattr(exc, "errors", lambda: [])()]
            self.fail(f"{ptype}: the output does not validate with {M.__name__}: {locs}")
        self.assertNotIn("secret:", json.dumps(output))


if __name__ == "__main__":
    unittest.main()
