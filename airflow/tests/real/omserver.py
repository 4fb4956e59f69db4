"""A loopback OpenMetadata-shaped API for the compatibility tests.

OpenMetadata's builders fetch the pipeline's service when Airflow parses
OpenMetadata's own DAG file (common.py build_source: OpenMetadata(...),
health_check, get_by_name), and the failure callback reads and writes the
run's status. Rather than patching the client, the tests point the pipeline's
openMetadataServerConnection.hostPort at this server. The version, services
and pipeline statuses it sends are built with OpenMetadata's own pydantic
models from the installed package, so they cannot drift from OpenMetadata
2.0's schema (a 404 is a plain error body); every request is recorded.

Serves only what those code paths ask for:

  GET  /api/v1/system/version
  GET  /api/v1/services/databaseServices/name/<name>      a Postgres service
  GET  /api/v1/services/metadataServices/name/<name>      the OpenMetadata service
  GET  /api/v1/services/ingestionPipelines/<fqn>/pipelineStatus/<runId>
  PUT  /api/v1/services/ingestionPipelines/<fqn>/pipelineStatus   (body validated as PipelineStatus)

It records each request's method, path, body and Authorization header.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from metadata.generated.schema.api.openMetadataServerVersion import OpenMetadataServerVersion
from metadata.generated.schema.entity.services.databaseService import DatabaseService
from metadata.generated.schema.entity.services.ingestionPipelines.ingestionPipeline import PipelineStatus
from metadata.generated.schema.entity.services.metadataService import MetadataService

# The database password of the service the server hands out: it must never
# show in what the tests log.
SERVICE_PASSWORD = "pl4nted-service-S3CRET"


def _version() -> str:
    from importlib.metadata import version

    # The server's version must match the client's major.minor
    # (server_mixin.validate_versions): the release of the installed package.
    return ".".join(version("openmetadata-ingestion").split(".")[:3])


def database_service(name: str) -> DatabaseService:
    return DatabaseService.model_validate(
        {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"databaseService:{name}")),
            "name": name,
            "fullyQualifiedName": name,
            "serviceType": "Postgres",
            "connection": {
                "config": {
                    "type": "Postgres",
                    "scheme": "postgresql+psycopg2",
                    "username": "om_reader",
                    "authType": {"password": SERVICE_PASSWORD},
                    "hostPort": "127.0.0.1:5432",
                    "database": "shop",
                }
            },
        }
    )


def metadata_service(name: str) -> MetadataService:
    return MetadataService.model_validate(
        {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"metadataService:{name}")),
            "name": name,
            "fullyQualifiedName": name,
            "serviceType": "OpenMetadata",
            "connection": {"config": {"type": "OpenMetadata", "hostPort": "http://127.0.0.1:1/api",
                                      "authProvider": "openmetadata",
                                      "securityConfig": {"jwtToken": "unused"}}},
        }
    )


class Server:
    """The server on 127.0.0.1 on a free port, in a thread."""

    def __init__(self):
        self.requests: list[tuple[str, str]] = []  # (method, path with query)
        self.bodies: list[tuple[str, str, bytes]] = []
        self.statuses: dict[tuple[str, str], dict] = {}
        # The Authorization header of each request, in order.
        self.auths: list[str | None] = []
        # An error status every PUT is answered with instead (None: serve).
        self.put_error: int | None = None
        self.version = _version()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, code: int, body: str | None):
                data = (body or "").encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _record(self) -> bytes:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with server._lock:
                    server.requests.append((self.command, self.path))
                    server.bodies.append((self.command, self.path, body))
                    server.auths.append(self.headers.get("Authorization"))
                return body

            def do_GET(self):
                self._record()
                code, body = server.get(urllib.parse.urlsplit(self.path).path)
                self._send(code, body)

            def do_PUT(self):
                body = self._record()
                code, out = server.put(urllib.parse.urlsplit(self.path).path, body)
                self._send(code, out)

            do_POST = do_PUT

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        self.host_port = f"http://127.0.0.1:{self.port}/api"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self):
        self._httpd.shutdown()
        self._httpd.server_close()

    def clear(self):
        with self._lock:
            self.requests.clear()
            self.bodies.clear()
            self.auths.clear()

    def seen(self) -> list[tuple[str, str]]:
        with self._lock:
            return list(self.requests)

    def get(self, path: str) -> tuple[int, str]:
        parts = [urllib.parse.unquote(p) for p in path.split("/")]
        # ["", "api", "v1", ...]
        rest = parts[3:]
        if rest == ["system", "version"]:
            return 200, OpenMetadataServerVersion.model_validate(
                {"version": self.version, "revision": "omsecrets-test", "timestamp": int(time.time() * 1000)}
            ).model_dump_json()
        if len(rest) == 4 and rest[0] == "services" and rest[2] == "name":
            if rest[1] == "databaseServices":
                return 200, database_service(rest[3]).model_dump_json(mask_secrets=False)
            if rest[1] == "metadataServices":
                return 200, metadata_service(rest[3]).model_dump_json(mask_secrets=False)
        if len(rest) == 5 and rest[:2] == ["services", "ingestionPipelines"] and rest[3] == "pipelineStatus":
            with self._lock:
                status = self.statuses.get((rest[2], rest[4]))
            if status is None:
                return 404, json.dumps({"code": 404, "message": "pipeline status not found"})
            return 200, PipelineStatus.model_validate(status).model_dump_json()
        return 404, json.dumps({"code": 404, "message": f"no route for {path}"})

    def put(self, path: str, body: bytes) -> tuple[int, str]:
        if self.put_error is not None:
            return self.put_error, json.dumps({"code": self.put_error, "message": "Not Authorized! Invalid token."})
        parts = [urllib.parse.unquote(p) for p in path.split("/")]
        rest = parts[3:]
        if len(rest) == 4 and rest[:2] == ["services", "ingestionPipelines"] and rest[3] == "pipelineStatus":
            status = PipelineStatus.model_validate_json(body)
            doc = json.loads(status.model_dump_json())
            with self._lock:
                self.statuses[(rest[2], str(status.runId))] = doc
            return 200, json.dumps(doc)
        return 404, json.dumps({"code": 404, "message": f"no route for {path}"})

    def plant_status(self, fqn: str, run_id: str, state: str = "running"):
        """A run's status as the workflow would have created it."""
        status = PipelineStatus.model_validate(
            {"runId": run_id, "pipelineState": state, "startDate": int(time.time() * 1000),
             "timestamp": int(time.time() * 1000)}
        )
        with self._lock:
            self.statuses[(fqn, run_id)] = json.loads(status.model_dump_json())
