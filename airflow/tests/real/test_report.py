"""The report of a task that failed closed, against OpenMetadata's real client.

A task that fails closed for good, with a previously good output still on
disk, reports its failed run itself (omsecrets_runner.report_fail_closed):
OpenMetadata 2.0.7.0's send_failed_status_callback only updates a status that
already exists under the run id, and a run whose workflow never started has
none. These tests run that report through the installed `metadata` package's
OpenMetadata client, built from the kept output's openMetadataServerConfig,
against the loopback server (omserver.py), which records every request: the
request must be the PUT OpenMetadata's own pipeline-status mixin sends, with
a body that validates as OpenMetadata's PipelineStatus and the bot's JWT as
the bearer token. Nothing is patched.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import socket
import tempfile
import time
import unittest
import uuid
from pathlib import Path

import env  # noqa: F401  (first: Airflow's environment)

import omserver
import pipelines

from metadata.generated.schema.entity.services.ingestionPipelines.ingestionPipeline import (
    IngestionPipeline,
    PipelineState,
    PipelineStatus,
)
from metadata.ingestion.ometa.ometa_api import OpenMetadata
from metadata.ingestion.ometa.utils import quote

import omsecrets_runner

SERVER: omserver.Server

# A service name with a dot: the FQN part is quoted, and the path quotes it.
FQN = 'pg_shop."sales.prod_metadata"'
JWT = pipelines.JWT
PASSWORD = "pl4nted-db-S3CRET"


def setUpModule():
    global SERVER
    SERVER = omserver.Server()


def tearDownModule():
    SERVER.close()


def kept_output(host_port: str) -> dict:
    """A resolved output as the sidecar writes it (secretsManagerProvider
    db, every reference resolved)."""
    return {
        "source": {
            "type": "postgres",
            "serviceName": "pg_shop",
            "serviceConnection": {"config": {"type": "Postgres", "username": "om_reader",
                                             "authType": {"password": PASSWORD}, "hostPort": "127.0.0.1:5432",
                                             "database": "shop"}},
            "sourceConfig": {"config": {"type": "DatabaseMetadata"}},
        },
        "sink": {"type": "metadata-rest", "config": {}},
        "workflowConfig": {
            "loggerLevel": "INFO",
            "openMetadataServerConfig": {
                "hostPort": host_port,
                "authProvider": "openmetadata",
                "securityConfig": {"jwtToken": JWT},
                "secretsManagerProvider": "db",
            },
        },
        "ingestionPipelineFQN": FQN,
    }


@contextlib.contextmanager
def all_logs():
    """Every log record of every logger, at every level, as one text."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    saved = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    # OpenMetadata's loggers set their own levels; let everything through.
    loggers = [logging.getLogger(n) for n in list(logging.root.manager.loggerDict) if n.startswith("metadata")]
    levels = [(lg, lg.level, lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        lg.propagate = True
    try:
        yield buf.getvalue
    finally:
        root.removeHandler(handler)
        root.setLevel(saved)
        for lg, level, propagate in levels:
            lg.setLevel(level)
            lg.propagate = propagate


class ReportTest(unittest.TestCase):
    def setUp(self):
        SERVER.clear()
        SERVER.put_error = None
        d = tempfile.TemporaryDirectory()
        self.addCleanup(d.cleanup)
        self.dir = Path(d.name)
        self.definition = self.dir / "pg_shop_metadata.json"
        self.definition.write_text("{}")
        self.spec = omsecrets_runner.Spec(
            dag_id="pg_shop_metadata", pipeline_type="metadata", definition=str(self.definition),
            kind=omsecrets_runner.PIPELINES["metadata"], run_id=str(uuid.uuid4()),
        )
        self.settings = omsecrets_runner.Settings(output_dir=str(self.dir), wait_seconds=0)

    def write(self, output: dict, state: str = "stale"):
        (self.dir / "pg_shop_metadata.json.out.json").write_text(json.dumps(output))
        (self.dir / "pg_shop_metadata.status").write_text(json.dumps({
            "omsecretsStatus": 1, "dagId": "pg_shop_metadata", "state": state, "outcome": "om_not_found",
            "error": "service pg_shop was deleted", "output": "pg_shop_metadata.json.out.json",
            "definitionSHA256": "0" * 64, "freshUntil": "2026-01-01T00:00:00Z",
        }))

    def report(self, **kw) -> tuple[bool, str, float]:
        t = time.monotonic()
        with all_logs() as text:
            ok = omsecrets_runner.report_fail_closed(self.spec, self.settings, time.time() - 2, **kw)
        took = time.monotonic() - t
        logs = text()
        for value in (JWT, PASSWORD, JWT.split(".")[2]):
            self.assertNotIn(value, logs, "a value reached the log")
        return ok, logs, took

    def test_the_report_is_the_put_of_openmetadatas_client(self):
        self.write(kept_output(SERVER.host_port))
        before = int(time.time() * 1000)
        ok, logs, _ = self.report()
        self.assertTrue(ok, logs)
        path = f"/api/v1/services/ingestionPipelines/{quote(FQN)}/pipelineStatus"
        # The client checks the server's version first, as OpenMetadata's
        # callback does (enableVersionValidation defaults to true).
        self.assertEqual(SERVER.seen(), [("GET", "/api/v1/system/version"), ("PUT", path)])
        self.assertEqual(SERVER.auths, [f"Bearer {JWT}"] * 2)
        # The path is the one OpenMetadata's own mixin builds for the FQN.
        self.assertEqual(path, "/api/v1" + OpenMetadata.get_suffix(IngestionPipeline) + f"/{quote(FQN)}/pipelineStatus")
        (_, _, body) = SERVER.bodies[1]
        status = PipelineStatus.model_validate_json(body)  # extra="forbid"
        self.assertEqual(status.runId, self.spec.run_id)
        self.assertEqual(status.pipelineState, PipelineState.failed)
        self.assertEqual(status.timestamp.root, status.startDate.root)
        self.assertLess(status.startDate.root, before)
        self.assertLessEqual(before, status.endDate.root)
        self.assertLessEqual(status.endDate.root, int(time.time() * 1000))
        self.assertEqual(set(json.loads(body)) - {"runId", "pipelineState", "startDate", "timestamp", "endDate"},
                         set(), "the body carries only the run's state and times")
        self.assertEqual(SERVER.statuses[(FQN, self.spec.run_id)]["pipelineState"], "failed")
        self.assertIn(f"omsecrets: pg_shop_metadata: reported the failed run to OpenMetadata: pipeline status "
                      f"{self.spec.run_id} of {FQN} is failed", logs)

    def test_with_no_output_the_report_file_is_put_the_same_way(self):
        # The sidecar failed before any good output (state failed, none
        # named) but wrote its report file: the bot's server config alone.
        (self.dir / "pg_shop_metadata.status").write_text(json.dumps({
            "omsecretsStatus": 1, "dagId": "pg_shop_metadata", "state": "failed", "outcome": "not_found",
            "error": "secret missing", "checkedAt": "2026-01-01T00:00:00Z", "mode": "run",
        }))
        (self.dir / "pg_shop_metadata.report.json").write_text(json.dumps({
            "omsecretsReport": 1, "dagId": "pg_shop_metadata", "ingestionPipelineFQN": FQN,
            "openMetadataServerConfig": kept_output(SERVER.host_port)["workflowConfig"]["openMetadataServerConfig"],
        }))
        ok, logs, _ = self.report()
        self.assertTrue(ok, logs)
        path = f"/api/v1/services/ingestionPipelines/{quote(FQN)}/pipelineStatus"
        self.assertEqual(SERVER.seen(), [("GET", "/api/v1/system/version"), ("PUT", path)])
        self.assertEqual(SERVER.auths, [f"Bearer {JWT}"] * 2)
        PipelineStatus.model_validate_json(SERVER.bodies[1][2])
        self.assertEqual(SERVER.statuses[(FQN, self.spec.run_id)]["pipelineState"], "failed")
        self.assertIn("(with the server config of the report file pg_shop_metadata.report.json)", logs)

    def test_an_unresolved_server_config_sends_nothing(self):
        for field, value, why in (
            ("jwtToken", "secret:/openmetadata/bot/ingestion-bot/config/jwttoken", "still holds 1 secret:"),
            ("secretsManagerProvider", "aws", "names secretsManagerProvider aws, not db"),
        ):
            with self.subTest(field=field):
                SERVER.clear()
                out = kept_output(SERVER.host_port)
                server = out["workflowConfig"]["openMetadataServerConfig"]
                if field == "jwtToken":
                    server["securityConfig"]["jwtToken"] = value
                else:
                    server[field] = value
                self.write(out)
                ok, logs, _ = self.report()
                self.assertFalse(ok)
                self.assertEqual(SERVER.seen(), [])
                self.assertIn("the failed run is not reported to OpenMetadata", logs)
                self.assertIn(why, logs)

    def test_a_refused_report_is_one_line_without_values(self):
        SERVER.put_error = 401
        self.write(kept_output(SERVER.host_port))
        ok, logs, _ = self.report()
        self.assertFalse(ok)
        self.assertEqual([m for m, _ in SERVER.seen()], ["GET", "PUT"])
        self.assertIn("omsecrets: pg_shop_metadata: could not report the failed run to OpenMetadata (APIError)", logs)

    def test_an_unreachable_server_is_bounded(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]  # nothing listens once closed
        self.write(kept_output(f"http://127.0.0.1:{port}/api"))
        ok, logs, took = self.report(timeout=3.0)
        self.assertFalse(ok)
        self.assertLess(took, 3.0 + 1.0)
        self.assertRegex(logs, r"omsecrets: pg_shop_metadata: could not report the failed run to OpenMetadata "
                               r"\((RestTransportError|no answer within 3s)\)")

    def test_a_server_that_does_not_answer_is_bounded(self):
        # A listener that accepts and never answers.
        s = socket.socket()
        self.addCleanup(s.close)
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        self.write(kept_output(f"http://127.0.0.1:{s.getsockname()[1]}/api"))
        ok, logs, took = self.report(timeout=1.0)
        self.assertFalse(ok)
        self.assertLess(took, 1.0 + 1.0)
        self.assertIn("could not report the failed run to OpenMetadata (no answer within 1s)", logs)


if __name__ == "__main__":
    unittest.main()
