"""An OpenMetadata-shaped API server for the end-to-end test.

It answers the requests the omsecrets sidecar, OpenMetadata's workflow
classes and OpenMetadata's failure callback make, on loopback. Every entity
it returns is built with OpenMetadata's own pydantic models from the
installed `metadata` package (openmetadata-ingestion), and every body it is
sent is validated with them, so it cannot drift from the schema of the
release the test runs: a response or a request that does not fit the model is
answered 400 and recorded as a schema error, which fails the test.

It records every request (method, path, status, phase) so the test can count
them per phase. Bearer authentication: only the bot's JWT is accepted.

What it does not model: OpenMetadata's search, lineage, authorization beyond
the one bot token, paging, versions and PATCH semantics beyond answering with
the stored entity. Unknown routes answer 404 and are recorded as such.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from metadata.__version__ import get_client_version
from metadata.generated.schema.api.data.createDatabase import CreateDatabaseRequest
from metadata.generated.schema.api.data.createDatabaseSchema import CreateDatabaseSchemaRequest
from metadata.generated.schema.api.data.createStoredProcedure import CreateStoredProcedureRequest
from metadata.generated.schema.api.data.createTable import CreateTableRequest
from metadata.generated.schema.api.openMetadataServerVersion import OpenMetadataServerVersion
from metadata.generated.schema.entity.data.database import Database
from metadata.generated.schema.entity.data.databaseSchema import DatabaseSchema
from metadata.generated.schema.entity.data.storedProcedure import StoredProcedure
from metadata.generated.schema.entity.data.table import Table
from metadata.generated.schema.entity.services.connections.testConnectionDefinition import (
    TestConnectionDefinition,
)
from metadata.generated.schema.entity.services.databaseService import DatabaseService
from metadata.generated.schema.entity.services.ingestionPipelines.operationMetrics import OperationMetricsBatch
from metadata.generated.schema.entity.services.ingestionPipelines.progressUpdate import ProgressUpdate
from metadata.generated.schema.type.bulkOperationResult import BulkOperationResult
from metadata.generated.schema.entity.services.ingestionPipelines.ingestionPipeline import (
    IngestionPipeline,
    PipelineStatus,
)

# The collections OpenMetadata's metadata workflow writes with PUT (create or
# update): path → (create request model, entity model, parent field, parent
# collection).
WRITABLE = {
    "databases": (CreateDatabaseRequest, Database, "service", "services/databaseServices"),
    "databaseSchemas": (CreateDatabaseSchemaRequest, DatabaseSchema, "database", "databases"),
    "tables": (CreateTableRequest, Table, "databaseSchema", "databaseSchemas"),
    "storedProcedures": (CreateStoredProcedureRequest, StoredProcedure, "databaseSchema", "databaseSchemas"),
}
ENTITY_TYPE = {
    "services/databaseServices": "databaseService",
    "databases": "database",
    "databaseSchemas": "databaseSchema",
    "tables": "table",
    "storedProcedures": "storedProcedure",
    "services/ingestionPipelines": "ingestionPipeline",
    "services/testConnectionDefinitions": "testConnectionDefinition",
}

# OpenMetadata's server loads one test connection definition per service type
# from openmetadata-service/src/main/resources/json/data/testConnections/;
# these are the steps of database/postgres.json.
POSTGRES_TEST_CONNECTION_STEPS = [
    ("CheckAccess", True),
    ("GetDatabases", True),
    ("GetSchemas", True),
    ("GetTables", True),
    ("GetViews", False),
    ("GetTags", False),
    ("GetQueries", False),
]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _dump(model) -> dict:
    return json.loads(model.model_dump_json(exclude_none=True))


class OMServer:
    """The server; start() binds 127.0.0.1 on a free port."""

    def __init__(self, bot_jwt: str):
        self.bot_jwt = bot_jwt
        self.version = get_client_version()  # the server's version matches the client's, as it must
        self._lock = threading.Lock()
        self.phase = "setup"
        self.requests: list[dict] = []
        self.schema_errors: list[str] = []
        # collection → fqn → entity dict (as dumped from the model)
        self.entities: dict[str, dict[str, dict]] = {k: {} for k in ENTITY_TYPE}
        # ingestion pipeline fqn → runId → PipelineStatus dict
        self.statuses: dict[str, dict[str, dict]] = {}
        self.progress: list[tuple[str, str, str]] = []
        self._put_test_connection_definition("Postgres", POSTGRES_TEST_CONNECTION_STEPS)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    # -- setup ---------------------------------------------------------------

    def start(self) -> "OMServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/api"

    def put_database_service(self, name: str, service_type: str, connection: dict) -> dict:
        """A database service as OpenMetadata stores it with an external
        secrets manager: the connection with secret: references."""
        svc = DatabaseService.model_validate(
            {
                "id": str(uuid.uuid4()),
                "name": name,
                "fullyQualifiedName": name,
                "serviceType": service_type,
                "connection": {"config": connection},
                "version": 0.1,
                "updatedAt": _now_ms(),
                "updatedBy": "admin",
                "deleted": False,
            }
        )
        doc = json.loads(svc.model_dump_json(exclude_none=True))
        # The connection as the server sends it to the bot: with the secret:
        # references (the model's dump masks secret fields, "**********").
        doc["connection"] = {"config": connection}
        with self._lock:
            self.entities["services/databaseServices"][name] = doc
        return doc

    def _put_test_connection_definition(self, service_type: str, steps) -> None:
        name = f"{service_type}.testConnectionDefinition"
        d = TestConnectionDefinition.model_validate(
            {
                "id": str(uuid.uuid4()),
                "name": name,
                "fullyQualifiedName": name,
                "displayName": f"{service_type} Test Connection",
                "steps": [{"name": n, "description": n, "mandatory": m} for n, m in steps],
                "version": 0.1,
                "updatedAt": _now_ms(),
                "updatedBy": "admin",
            }
        )
        self.entities["services/testConnectionDefinitions"][name] = _dump(d)

    def put_ingestion_pipeline(self, pipeline: dict) -> dict:
        """The IngestionPipeline entity the server deploys, validated."""
        IngestionPipeline.model_validate(pipeline)
        with self._lock:
            self.entities["services/ingestionPipelines"][pipeline["fullyQualifiedName"]] = pipeline
        return pipeline

    def trigger(self, fqn: str, run_id: str) -> None:
        """What the server records when a run is triggered from the UI: a
        queued PipelineStatus under the pipelineRunId it passes to Airflow
        (the status OpenMetadata's failure callback then updates)."""
        now = _now_ms()
        status = PipelineStatus.model_validate(
            {"runId": run_id, "pipelineState": "queued", "startDate": now, "timestamp": now}
        )
        with self._lock:
            self.statuses.setdefault(fqn, {})[run_id] = _dump(status)

    def delete_service(self, name: str) -> None:
        with self._lock:
            self.entities["services/databaseServices"].pop(name, None)

    def set_phase(self, phase: str) -> None:
        with self._lock:
            self.phase = phase

    def count(self, phase: str | None = None, method: str | None = None, prefix: str = "") -> int:
        with self._lock:
            return sum(
                1
                for r in self.requests
                if (phase is None or r["phase"] == phase)
                and (method is None or r["method"] == method)
                and r["path"].startswith(prefix)
            )

    def of_phase(self, phase: str) -> list[dict]:
        with self._lock:
            return [r for r in self.requests if r["phase"] == phase]

    def statuses_of(self, fqn: str) -> dict[str, dict]:
        with self._lock:
            return dict(self.statuses.get(fqn, {}))

    # -- handling --------------------------------------------------------------

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet: the test reads server.requests
                pass

            def _body(self) -> bytes:
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _reply(self, code: int, doc: Any, record: dict) -> None:
                data = b"" if code == 204 else json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                record["status"] = code
                with server._lock:
                    server.requests.append(record)

            def _handle(self, method: str) -> None:
                parsed = urllib.parse.urlsplit(self.path)
                record = {"method": method, "path": parsed.path, "query": parsed.query, "phase": server.phase}
                body = self._body() if method in ("PUT", "POST", "PATCH", "DELETE") else b""
                auth = self.headers.get("Authorization") or ""
                if auth != f"Bearer {server.bot_jwt}":
                    record["auth"] = "missing" if not auth else "wrong"
                    self._reply(401, {"code": 401, "message": "Not Authorized! Invalid token."}, record)
                    return
                try:
                    code, doc = server._route(method, parsed.path, body)
                except SchemaError as exc:
                    with server._lock:
                        server.schema_errors.append(f"{method} {parsed.path}: {exc}")
                    code, doc = 400, {"code": 400, "message": f"schema: {exc}"}
                self._reply(code, doc, record)

            def do_GET(self):
                self._handle("GET")

            def do_PUT(self):
                self._handle("PUT")

            def do_POST(self):
                self._handle("POST")

            def do_PATCH(self):
                self._handle("PATCH")

            def do_DELETE(self):
                self._handle("DELETE")

        return Handler

    def _route(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        if not path.startswith("/api/v1/"):
            return 404, {"code": 404, "message": "HTTP 404 Not Found"}
        rest = path[len("/api/v1/") :]
        parts = [urllib.parse.unquote(p) for p in rest.split("/")]

        if method == "GET" and rest == "system/version":
            v = OpenMetadataServerVersion(version=self.version, revision="omsecrets-e2e", timestamp=_now_ms())
            return 200, _dump(v)

        # /services/ingestionPipelines/<fqn>/pipelineStatus[/<runId>]
        if parts[:2] == ["services", "ingestionPipelines"] and len(parts) >= 4 and parts[3] == "pipelineStatus":
            fqn = parts[2]
            if method == "PUT" and len(parts) == 4:
                status = _validate(PipelineStatus, body)
                with self._lock:
                    self.statuses.setdefault(fqn, {})[str(status.runId)] = _dump(status)
                return 200, {"code": 200, "message": "ok"}
            if method == "GET" and len(parts) == 5:
                with self._lock:
                    got = self.statuses.get(fqn, {}).get(parts[4])
                if got is None:
                    # IngestionPipelineResource answers a run with no status
                    # yet with no content (the repository returns null).
                    return 204, None
                return 200, _dump(PipelineStatus.model_validate(got))

        # /services/ingestionPipelines/progress|metrics/<fqn>/<runId>
        if parts[:2] == ["services", "ingestionPipelines"] and len(parts) == 5 and parts[2] in ("progress", "metrics"):
            model = ProgressUpdate if parts[2] == "progress" else OperationMetricsBatch
            _validate(model, body)
            with self._lock:
                self.progress.append((parts[2], parts[3], parts[4]))
            return 200, {"code": 200, "message": "ok"}

        for coll in ENTITY_TYPE:
            cparts = coll.split("/")
            if parts[: len(cparts)] != cparts:
                continue
            tail = parts[len(cparts) :]
            if method == "GET" and len(tail) == 2 and tail[0] == "name":
                with self._lock:
                    got = self.entities[coll].get(tail[1])
                if got is None:
                    return 404, {"code": 404, "message": f"{ENTITY_TYPE[coll]} instance for {tail[1]} not found"}
                return 200, self._checked(coll, got)
            if method == "GET" and len(tail) == 1 and tail[0] not in ("bulk", "deleteStale"):
                with self._lock:
                    got = next((e for e in self.entities[coll].values() if e.get("id") == tail[0]), None)
                if got is None:
                    return 404, {"code": 404, "message": f"{ENTITY_TYPE[coll]} instance for {tail[0]} not found"}
                return 200, self._checked(coll, got)
            if method == "GET" and tail == []:
                with self._lock:
                    data = [self._checked(coll, e) for e in self.entities[coll].values()]
                return 200, {"data": data, "paging": {"total": len(data)}}
            if method == "PUT" and tail == [] and coll in WRITABLE:
                return 200, self._create_or_update(coll, body)
            if method == "PUT" and tail == ["bulk"] and coll in WRITABLE:
                return 200, self._bulk(coll, body)
            if method == "DELETE" and tail == ["deleteStale"] and coll in WRITABLE:
                return 200, self._delete_stale(coll, body)
        return 404, {"code": 404, "message": "HTTP 404 Not Found"}

    def _checked(self, coll: str, doc: dict) -> dict:
        """An entity as sent: validated with its OpenMetadata model."""
        model = {
            "services/databaseServices": DatabaseService,
            "services/ingestionPipelines": IngestionPipeline,
            "services/testConnectionDefinitions": TestConnectionDefinition,
            **{c: m[1] for c, m in WRITABLE.items()},
        }[coll]
        try:
            model.model_validate(doc)
        except Exception as exc:
            raise SchemaError(f"{model.__name__}: {_short(exc)}") from None
        return doc

    def _bulk(self, coll: str, body: bytes) -> dict:
        """PUT /<collection>/bulk: a list of create requests, each created or
        updated; a BulkOperationResult."""
        try:
            items = json.loads(body)
        except ValueError:
            raise SchemaError("bulk body is not JSON") from None
        if not isinstance(items, list):
            raise SchemaError("bulk body is not a list")
        done = [self._create_or_update(coll, json.dumps(item).encode()) for item in items]
        result = BulkOperationResult.model_validate(
            {
                "status": "success",
                "numberOfRowsProcessed": len(done),
                "numberOfRowsPassed": len(done),
                "numberOfRowsFailed": 0,
                "successRequest": [{"request": e["fullyQualifiedName"], "status": 200} for e in done],
                "failedRequest": [],
            }
        )
        return _dump(result)

    def _delete_stale(self, coll: str, body: bytes) -> dict:
        """DELETE /<collection>/deleteStale: soft-delete what the run did not
        see under the scope (recorded; the test's entities are all seen)."""
        try:
            req = json.loads(body)
        except ValueError:
            raise SchemaError("deleteStale body is not JSON") from None
        seen = set(req.get("seenFqns") or [])
        scope = str(req.get("scopeFqn") or "")
        with self._lock:
            stale = [f for f in self.entities[coll] if f.startswith(scope + ".") and f not in seen]
            for f in stale:
                self.entities[coll][f]["deleted"] = True
        return _dump(
            BulkOperationResult.model_validate(
                {"status": "success", "numberOfRowsProcessed": len(stale), "numberOfRowsPassed": len(stale)}
            )
        )

    def _create_or_update(self, coll: str, body: bytes) -> dict:
        create_model, entity_model, parent_field, parent_coll = WRITABLE[coll]
        req = _validate(create_model, body)
        doc = json.loads(req.model_dump_json(exclude_none=True))
        parent_fqn = doc.get(parent_field)
        with self._lock:
            parent = self.entities[parent_coll].get(parent_fqn)
        if parent is None:
            raise SchemaError(f"{create_model.__name__}.{parent_field}: {parent_fqn} is not a stored {parent_coll}")
        fqn = f"{parent_fqn}.{_quote(doc['name'])}"
        with self._lock:
            old = self.entities[coll].get(fqn)
        ref = {
            "id": parent["id"],
            "type": ENTITY_TYPE[parent_coll],
            "name": parent["name"],
            "fullyQualifiedName": parent["fullyQualifiedName"],
        }
        entity = {**doc, parent_field: ref}
        entity.update(
            id=old["id"] if old else str(uuid.uuid4()),
            fullyQualifiedName=fqn,
            version=0.1,
            updatedAt=_now_ms(),
            updatedBy="ingestion-bot",
            deleted=False,
        )
        # Parents above the direct one, as the server fills them in.
        if coll in ("databaseSchemas", "tables", "storedProcedures"):
            entity["service"] = parent["service"]
        if coll in ("tables", "storedProcedures"):
            entity["database"] = parent["database"]
        if coll == "tables":
            for col in entity.get("columns", []):
                col.setdefault("fullyQualifiedName", f"{fqn}.{_quote(col['name'])}")
        try:
            built = entity_model.model_validate(entity)
        except Exception as exc:
            raise SchemaError(f"{entity_model.__name__}: {_short(exc)}") from None
        out = json.loads(built.model_dump_json(exclude_none=True))
        with self._lock:
            self.entities[coll][fqn] = out
        return out


class SchemaError(Exception):
    pass


def _validate(model, body: bytes):
    try:
        return model.model_validate_json(body)
    except Exception as exc:
        raise SchemaError(f"{model.__name__}: {_short(exc)}") from None


def _short(exc: Exception) -> str:
    return " ".join(str(exc).split())[:400]


def _quote(name: str) -> str:
    """fqn.quote_name: a name with a dot is quoted."""
    return f'"{name}"' if "." in name else name
