"""install.sh against OpenMetadata's real package, as the image runs it.

The pinned environment is shared (and read-only for the tests), so install.sh
runs on a copy of its layout: openmetadata_managed_apis and its
.dist-info are copied into a directory put first on PYTHONPATH, where
`importlib.util.find_spec` and `pkgutil.get_data` find them before the
environment's own; everything else (Airflow, the `metadata` package, jinja2)
is the environment's. install.sh gets the versions the Dockerfile pins.

Then OpenMetadata's own deploy code (operations/deploy.py DagDeployer:
store_airflow_pipeline_config, store_and_validate_dag_file) writes the
definition, reads the template with pkgutil.get_data(PLUGIN_NAME,
"resources/dag_runner.j2"), renders it and imports the DAG file: it must be
omsecrets' DAG, built without a request to the OpenMetadata API.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import tempfile
import textwrap
import unittest
from pathlib import Path

import env

import omserver
import pipelines

INSTALL = env.AIRFLOW_DIR / "install.sh"
DOCKERFILE = env.AIRFLOW_DIR / "Dockerfile"


def dockerfile_versions() -> dict:
    return dict(re.findall(r"(?m)^ARG (OM_VERSION|AIRFLOW_VERSION)=(\S+)$", DOCKERFILE.read_text()))


class InstallOnTheRealPackage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = omserver.Server()
        cls.addClassCleanup(cls.server.close)

    def setUp(self):
        self.root = Path(tempfile.mkdtemp(dir=env.HOME))
        self.site = self.root / "site-packages"
        self.site.mkdir()
        spec = importlib.util.find_spec("openmetadata_managed_apis")
        real = Path(spec.origin).parent
        shutil.copytree(real, self.site / real.name, ignore=shutil.ignore_patterns("__pycache__"))
        for dist in real.parent.glob("openmetadata_managed_apis-*.dist-info"):
            shutil.copytree(dist, self.site / dist.name)
        self.template = self.site / real.name / "resources" / "dag_runner.j2"
        self.original = self.template.read_bytes()
        self.dags = self.root / "dags"
        self.configs = self.root / "dag_generated_configs"
        self.env = env.subprocess_env(
            PYTHONPATH=str(self.site), PYTHON=env.PYTHON, SRC=str(env.AIRFLOW_DIR),
            AIRFLOW__CORE__DAGS_FOLDER=str(self.dags),
            AIRFLOW__OPENMETADATA_AIRFLOW_APIS__DAG_GENERATED_CONFIGS=str(self.configs),
            **dockerfile_versions(),
        )

    def install(self, **extra):
        return subprocess.run(["sh", str(INSTALL)], env={**self.env, **extra}, capture_output=True, text=True,
                              timeout=300)

    def test_replaces_the_template_deploy_reads(self):
        self.assertIn(b'WorkflowFactory.create("{{ workflow_config_file }}")', self.original)
        self.assertEqual(set(dockerfile_versions()), {"OM_VERSION", "AIRFLOW_VERSION"})
        run = self.install()
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(self.template.read_bytes(), (env.AIRFLOW_DIR / "dag_runner.j2").read_bytes())
        self.assertEqual((self.template.parent / "dag_runner.j2.openmetadata").read_bytes(), self.original)
        self.assertEqual((self.site / "omsecrets_runner.py").read_bytes(),
                         (env.AIRFLOW_DIR / "omsecrets_runner.py").read_bytes())
        self.assertIn(f"runner {self.site / 'omsecrets_runner.py'}", run.stdout)
        # Again, as a rebuilt layer would: OpenMetadata's original is kept.
        run = self.install()
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual((self.template.parent / "dag_runner.j2.openmetadata").read_bytes(), self.original)

        # OpenMetadata's deploy code, in a fresh interpreter with the copy first.
        doc = pipelines.pipeline("metadata", self.server.host_port)
        code = textwrap.dedent(f"""
            import json, pkgutil, sys, warnings
            warnings.simplefilter("ignore")
            from metadata.generated.schema.entity.services.ingestionPipelines.ingestionPipeline import (
                IngestionPipeline,
            )
            from openmetadata_managed_apis.api.config import PLUGIN_NAME
            from openmetadata_managed_apis.operations.deploy import DagDeployer
            raw = pkgutil.get_data(PLUGIN_NAME, "resources/dag_runner.j2").decode()
            deployer = DagDeployer(IngestionPipeline.model_validate(json.loads({json.dumps(json.dumps(doc))})))
            config = deployer.store_airflow_pipeline_config(
                __import__("pathlib").Path({str(self.configs)!r}) / f"{{deployer.dag_id}}.json")
            dag_py = deployer.store_and_validate_dag_file(config)
            module = sys.modules[__import__("os").path.basename(dag_py)]
            print(json.dumps({{
                "plugin": PLUGIN_NAME,
                "template_is_omsecrets": "omsecrets_runner.build_dag" in raw,
                "dag_py": dag_py,
                "dag_id": module.dag.dag_id,
                "task_ids": module.dag.task_ids,
                "runner": module.omsecrets_runner.__file__,
                "openmetadata_workflow_factory": "openmetadata_managed_apis.workflows.workflow_factory"
                    in sys.modules,
            }}))
            """)
        self.server.clear()
        run = subprocess.run([env.PYTHON, "-c", code], env=self.env, capture_output=True, text=True, timeout=300)
        self.assertEqual(run.returncode, 0, run.stderr[-3000:])
        got = json.loads(run.stdout.strip().splitlines()[-1])
        self.assertEqual(got["plugin"], "openmetadata_managed_apis")
        self.assertTrue(got["template_is_omsecrets"])
        self.assertEqual(got["dag_py"], str(self.dags / "mysql_metadata_prod.py"))
        self.assertEqual((got["dag_id"], got["task_ids"]), ("mysql_metadata_prod", ["ingestion_task"]))
        self.assertEqual(got["runner"], str(self.site / "omsecrets_runner.py"))
        self.assertFalse(got["openmetadata_workflow_factory"], "OpenMetadata's DAG builder ran")
        self.assertEqual(self.server.seen(), [], "deploying called the OpenMetadata API")
        rendered = (self.dags / "mysql_metadata_prod.py").read_text()
        self.assertIn(f"omsecrets_runner.build_dag({json.dumps(str(self.configs / 'mysql_metadata_prod.json'))}, "
                      "globals())", rendered)

    def test_refuses_other_versions(self):
        for var, dist in (("OM_VERSION", "openmetadata-managed-apis"), ("AIRFLOW_VERSION", "apache-airflow")):
            with self.subTest(var=var):
                have = dockerfile_versions()[var]
                run = self.install(**{var: "2.0.6.0"})
                self.assertEqual(run.returncode, 1)
                self.assertEqual(run.stderr.strip(), f"install.sh: {dist} is {have}, not 2.0.6.0, "
                                                     "the version omsecrets' runner was checked against")
                self.assertEqual(self.template.read_bytes(), self.original)
                self.assertFalse((self.site / "omsecrets_runner.py").exists())


if __name__ == "__main__":
    unittest.main()
