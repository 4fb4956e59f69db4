"""The real parts of the end-to-end test, started on loopback.

- Postgres: Debian's PostgreSQL server binaries (initdb, pg_ctl) in a temp
  directory, on a free port of 127.0.0.1 and a unix socket in that directory,
  as user nobody when the test runs as root (postgres refuses root), with
  log_connections on so the test can see who logged in.
- Moto: moto_server's own WSGI application (moto.moto_server.werkzeug_app,
  what the pinned moto_server runs) served on 127.0.0.1, wrapped in a
  counting middleware that records every request with the X-Amz-Target and
  the test's current phase.
- Overlay: a per-test copy of the installed openmetadata_managed_apis on
  PYTHONPATH, with omsecrets' template and runner installed into it by
  airflow/install.sh exactly as in the image, so that OpenMetadata's deploy
  code (pkgutil.get_data(PLUGIN_NAME, "resources/dag_runner.j2")) renders
  omsecrets' template while the shared pyenv stays untouched.
- Airflow: an AIRFLOW_HOME per test, a sqlite metadata database migrated by
  `airflow db migrate`, and a clean environment for every Airflow process
  built from scratch: no AWS variable, no secrets-manager setting, a HOME
  with no ~/.aws.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
AIRFLOW_DIR = HERE.parent
REPO = AIRFLOW_DIR.parent
# The pinned environment: the one running the test (make e2e runs it with $OMSECRETS_PYENV/bin/python).
PYENV = Path(os.environ.get("OMSECRETS_PYENV") or sys.prefix)
PY = PYENV / "bin" / "python"
BIN = Path(os.environ.get("OMSECRETS_BIN") or REPO / "bin" / "omsecrets")
PG_BIN = Path(os.environ.get("OMSECRETS_PG_BIN") or "/usr/lib/postgresql/15/bin")
PROBE_DIR = HERE / "probe"

SERVICE = "pg_shop"
PG_USER = "om_reader"
BOT_JWT_ID = "/openmetadata/bot/ingestion-bot/config/jwttoken"
PASSWORD_ID = f"/openmetadata/database/{SERVICE}/authtype/password"
REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd, *, env=None, user=None, check=True, timeout=300, cwd=None) -> subprocess.CompletedProcess:
    if user:
        cmd = ["runuser", "-u", user, "--", *cmd]
    p = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError(f"{cmd[0:4]} exited {p.returncode}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


class Postgres:
    """A PostgreSQL 15 cluster with one database and a reader whose password
    the test gives to the store only."""

    def __init__(self, root: Path):
        self.root = root / "pg"
        self.root.mkdir()
        self.user = None
        if os.geteuid() == 0:
            self.user = "nobody"
            nobody = pwd.getpwnam("nobody")
            os.chown(self.root, nobody.pw_uid, nobody.pw_gid)
            # The parents must be traversable by nobody.
            for p in (root,):
                os.chmod(p, 0o755)
        self.data = self.root / "data"
        self.sock = self.root
        self.port = free_port()
        self.log = self.root / "postgres.log"
        self.password = "pg-" + secrets.token_urlsafe(18)

    def start(self) -> "Postgres":
        run(
            [str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth-local=trust",
             "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync", "--locale=C"],
            user=self.user,
        )
        opts = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.sock} -c log_connections=on "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=16MB "
            "-c max_connections=30"
        )
        run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w", "start"],
            user=self.user, timeout=120)
        self.sql(
            "postgres",
            f"CREATE ROLE {PG_USER} LOGIN PASSWORD '{self.password}'",
        )
        self.sql("postgres", "CREATE DATABASE shop")
        self.sql(
            "shop",
            "CREATE SCHEMA sales;"
            "CREATE TABLE sales.orders (id integer PRIMARY KEY, customer text NOT NULL, amount numeric(10,2));"
            "CREATE TABLE sales.customers (id integer PRIMARY KEY, name text);"
            f"GRANT USAGE ON SCHEMA sales TO {PG_USER};"
            f"GRANT SELECT ON ALL TABLES IN SCHEMA sales TO {PG_USER};",
        )
        return self

    def sql(self, db: str, statements: str) -> str:
        p = run([str(PG_BIN / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", str(self.sock),
                 "-p", str(self.port), "-U", "postgres", "-d", db, "-c", statements], user=self.user)
        return p.stdout

    def logins(self, user: str) -> int:
        """Connections authorized for user (log_connections)."""
        text = self.log.read_text(errors="replace")
        return text.count(f"connection authorized: user={user} ")

    def failed_logins(self, user: str) -> int:
        text = self.log.read_text(errors="replace")
        return text.count(f'password authentication failed for user "{user}"')

    def stop(self) -> None:
        run([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"], user=self.user,
            check=False, timeout=60)


class Moto:
    """moto_server's application on 127.0.0.1, every request counted."""

    def __init__(self):
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        self._lock = threading.Lock()
        self.phase = "setup"
        self.requests: list[dict] = []
        app = DomainDispatcherApplication(create_backend_app)

        def counting(environ, start_response):
            with self._lock:
                self.requests.append(
                    {
                        "phase": self.phase,
                        "target": environ.get("HTTP_X_AMZ_TARGET", ""),
                        "path": environ.get("PATH_INFO", ""),
                        "agent": environ.get("HTTP_USER_AGENT", "")[:60],
                    }
                )
            return app(environ, start_response)

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
        self._server = make_server("127.0.0.1", 0, counting, True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> "Moto":
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def set_phase(self, phase: str) -> None:
        with self._lock:
            self.phase = phase

    def count(self, phase: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if phase is None or r["phase"] == phase)

    def of_phase(self, phase: str) -> list[dict]:
        with self._lock:
            return [r for r in self.requests if r["phase"] == phase]

    def put_secret(self, name: str, value: str) -> None:
        import boto3

        c = boto3.client("secretsmanager", region_name=REGION, endpoint_url=self.url,
                         aws_access_key_id="testing", aws_secret_access_key="testing")
        c.create_secret(Name=name, SecretString=value)

    def stop(self) -> None:
        self._server.shutdown()

    # The sidecar's environment: the only process holding a credential.
    def sidecar_env(self) -> dict:
        return {
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_ENDPOINT_URL": self.url,
        }


# Variables no Airflow process of the test may hold: store credentials and
# secrets-manager settings (checked on the environment each process gets).
FORBIDDEN_ENV_PREFIXES = ("AWS_", "AIRFLOW__OPENMETADATA_SECRETS_MANAGER__", "AZURE_", "GOOGLE_", "VAULT_", "BAO_",
                          "OMSECRETS_SECRET_")


class World:
    """Everything one test run needs, in one temp directory."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="omsecrets-e2e-"))
        self.home = self.root / "airflow"
        self.dags = self.home / "dags"
        self.configs = self.home / "dag_generated_configs"
        self.out = self.root / "omsecrets-out"
        self.overlay = self.root / "overlay"
        self.user_home = self.root / "home"
        self.connect_log = self.root / "connects.log"
        for d in (self.home, self.dags, self.configs, self.out, self.user_home):
            d.mkdir(parents=True)
        self._stack = contextlib.ExitStack()
        self.bot_jwt = "eyJ" + secrets.token_urlsafe(24) + ".e2e-bot." + secrets.token_urlsafe(12)
        self.timings: dict[str, float] = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._stack.close()
        if not os.environ.get("OMSECRETS_E2E_KEEP"):
            shutil.rmtree(self.root, ignore_errors=True)
        else:
            print(f"e2e: kept {self.root}", file=sys.stderr)

    def start(self) -> "World":
        from omserver import OMServer

        self.pg = Postgres(self.root).start()
        self._stack.callback(self.pg.stop)
        self.moto = Moto().start()
        self._stack.callback(self.moto.stop)
        self.moto.put_secret(BOT_JWT_ID, self.bot_jwt)
        self.moto.put_secret(PASSWORD_ID, self.pg.password)
        self.om = OMServer(self.bot_jwt).start()
        self._stack.callback(self.om.stop)
        self.om.put_database_service(
            SERVICE,
            "Postgres",
            {
                "type": "Postgres",
                "scheme": "postgresql+psycopg2",
                "username": PG_USER,
                "authType": {"password": f"secret:{PASSWORD_ID}"},
                "hostPort": f"127.0.0.1:{self.pg.port}",
                "database": "shop",
            },
        )
        self.install_overlay()
        return self

    def install_overlay(self) -> None:
        """Copy the installed openmetadata_managed_apis to a directory put
        first on PYTHONPATH, and run airflow/install.sh against it."""
        import openmetadata_managed_apis

        pkg = Path(openmetadata_managed_apis.__file__).parent
        self.overlay.mkdir()
        shutil.copytree(pkg, self.overlay / pkg.name, ignore=shutil.ignore_patterns("__pycache__"))
        env = self.airflow_env()
        env["PYTHON"] = str(PY)
        env["SRC"] = str(AIRFLOW_DIR)
        # The versions the image pins (airflow/Dockerfile), which install.sh
        # then refuses to install over anything else, as in the image build.
        pins = dict(re.findall(r"(?m)^ARG (OM_VERSION|AIRFLOW_VERSION)=(\S+)$", (AIRFLOW_DIR / "Dockerfile").read_text()))
        assert set(pins) == {"OM_VERSION", "AIRFLOW_VERSION"}, pins
        env.update(pins)
        p = run(["sh", str(AIRFLOW_DIR / "install.sh")], env=env)
        self.install_log = p.stdout + p.stderr

    @property
    def om_port(self) -> int:
        return int(self.om.url.rsplit(":", 1)[1].split("/")[0])

    def airflow_env(self, *, api_server: bool = False, **extra) -> dict:
        """The whole environment of an Airflow process: built from nothing,
        so no store credential or secrets-manager setting can leak in.

        api_server: the process plays Airflow's API server, where
        OpenMetadata's deploy runs. DagDeployer.__init__ builds OpenMetadata's
        secrets manager for the pipeline's provider, and for aws boto3 raises
        NoRegionError without a region, so it gets a region and nothing
        else of AWS's: no credential. AWS_EC2_METADATA_DISABLED keeps
        botocore from asking the instance metadata endpoint (off loopback)
        for one, and AWS_ENDPOINT_URL sends any store call there would be to
        the counting moto, so it is counted instead of leaving the machine."""
        env = {
            "PATH": f"{PYENV / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.user_home),
            "LANG": "C.UTF-8",
            "PYTHONPATH": f"{PROBE_DIR}:{self.overlay}",
            "OMSECRETS_E2E_CONNECT_LOG": str(self.connect_log),
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home}/airflow.db",
            "AIRFLOW__OPENMETADATA_AIRFLOW_APIS__DAG_GENERATED_CONFIGS": str(self.configs),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "OMSECRETS_OUTPUT_DIR": str(self.out),
            "OMSECRETS_WAIT_SECONDS": "0",
        }
        env.update(extra)
        for k in env:
            assert not k.startswith(FORBIDDEN_ENV_PREFIXES), k
        if api_server:
            env.update(AWS_DEFAULT_REGION=REGION, AWS_EC2_METADATA_DISABLED="true", AWS_ENDPOINT_URL=self.moto.url)
        return env

    def migrate(self) -> None:
        t = time.monotonic()
        run([str(PYENV / "bin" / "airflow"), "db", "migrate"], env=self.airflow_env(), timeout=600)
        self.timings["airflow db migrate"] = time.monotonic() - t

    def python(self, code: str, *args: str, env: dict | None = None, timeout=600) -> subprocess.CompletedProcess:
        return subprocess.run([str(PY), "-c", code, *args], env=env or self.airflow_env(), capture_output=True,
                              text=True, timeout=timeout)

    def probe(self) -> list[dict]:
        """What probe/sitecustomize.py recorded of the Airflow processes since
        clear_connects: one start record per process (its forbidden
        variables' names), one record per connection."""
        if not self.connect_log.exists():
            return []
        return [json.loads(line) for line in self.connect_log.read_text().splitlines() if line.strip()]

    def connects(self) -> list[dict]:
        """The connections Airflow processes opened."""
        return [r for r in self.probe() if "host" in r]

    def process_envs(self) -> list[dict]:
        """One record per Python process started: pid, argv, env (names)."""
        return [r for r in self.probe() if "env" in r]

    def clear_connects(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.connect_log.unlink()

    def _sidecar_env(self) -> dict:
        """The environment of the real omsecrets binary, the only process
        with the store's credential."""
        return {
            "PATH": "/usr/bin:/bin",
            "HOME": str(self.user_home),
            **self.moto.sidecar_env(),
            "OMSECRETS_OM_HOSTS": self.om.url,
            "OMSECRETS_ALLOW_DISK": "true",
            "OMSECRETS_HTTP_ADDR": "off",
            "OMSECRETS_START_JITTER": "0",
        }

    def sidecar(self, *args: str, timeout=120) -> subprocess.CompletedProcess:
        """The real omsecrets binary, once (run --once, resolve, check)."""
        return subprocess.run([str(BIN), *args], env=self._sidecar_env(), capture_output=True, text=True, timeout=timeout)

    def sidecar_daemon(self, *args: str) -> subprocess.Popen:
        env = self._sidecar_env()
        log = open(self.root / "sidecar.log", "w")
        p = subprocess.Popen([str(BIN), *args], env=env, stdout=log, stderr=subprocess.STDOUT)
        self._stack.callback(_stop, p)
        self._stack.callback(log.close)
        return p

    def set_phase(self, phase: str) -> None:
        self.om.set_phase(phase)
        self.moto.set_phase(phase)


def _stop(p: subprocess.Popen) -> None:
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def versions() -> dict:
    from importlib.metadata import version

    return {
        "airflow": version("apache-airflow"),
        "openmetadata-ingestion": version("openmetadata-ingestion"),
        "openmetadata-managed-apis": version("openmetadata-managed-apis"),
        "moto": version("moto"),
        "postgresql": run([str(PG_BIN / "postgres"), "--version"]).stdout.strip(),
    }
