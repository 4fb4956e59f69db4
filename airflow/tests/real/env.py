"""The process environment of the real-package tests, set before Airflow is
first imported (every test module imports this first).

Airflow gets a throwaway AIRFLOW_HOME with its DAGs folder and OpenMetadata's
dag_generated_configs in it. Nothing that would let OpenMetadata's code reach
a store stays in the environment: no AWS, Azure, GCP or Vault variable, no
OpenMetadata secrets-manager setting, no omsecrets setting.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
AIRFLOW_DIR = TESTS.parent
REPO = AIRFLOW_DIR.parent

_STRIP = ("AWS_", "AZURE_", "GOOGLE_", "GCP_", "VAULT_", "AIRFLOW__OPENMETADATA_SECRETS_MANAGER__", "OMSECRETS_")

for _k in list(os.environ):
    if _k.startswith(_STRIP):
        del os.environ[_k]

HOME = Path(tempfile.mkdtemp(prefix="omsecrets-airflow-real-"))
atexit.register(shutil.rmtree, HOME, True)
DAGS = HOME / "dags"
CONFIGS = HOME / "dag_generated_configs"
DAGS.mkdir()
CONFIGS.mkdir()

os.environ.update(
    {
        "AIRFLOW_HOME": str(HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{HOME}/airflow.db",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(HOME / "logs"),
        "AIRFLOW__OPENMETADATA_AIRFLOW_APIS__DAG_GENERATED_CONFIGS": str(CONFIGS),
        # The runner's own test of its settings sets these per test.
        "OMSECRETS_WAIT_SECONDS": "0",
    }
)

# Importing OpenMetadata's packages warns at length (pydantic field names,
# Airflow's deprecated import paths); the tests assert on behaviour, not on
# those warnings.
warnings.simplefilter("ignore")

for _p in (str(AIRFLOW_DIR), str(HERE)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

PYTHON = sys.executable


def subprocess_env(**extra) -> dict:
    """The environment of a child process: this one's, plus extra."""
    env = dict(os.environ)
    env.update(extra)
    return env
