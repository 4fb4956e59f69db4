"""The image layer: the Dockerfile is pinned and runs install.sh, and
install.sh puts the template where OpenMetadata's deploy code reads it —
pkgutil.get_data("openmetadata_managed_apis", "resources/dag_runner.j2")
(operations/deploy.py, PLUGIN_NAME in api/config.py). No Docker engine here,
so install.sh runs against a stand-in package laid out like OpenMetadata's."""

import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

import support

DOCKERFILE = support.AIRFLOW_DIR / "Dockerfile"
INSTALL = support.AIRFLOW_DIR / "install.sh"
README = support.AIRFLOW_DIR / "README.md"
LOCK = support.AIRFLOW_DIR / "requirements.lock"

# The statement of OpenMetadata's resources/dag_runner.j2 that install.sh
# checks for, in a minimal template of that shape.
OM_TEMPLATE = textwrap.dedent('''\
    from airflow import DAG
    from openmetadata_managed_apis.workflows import workflow_factory

    workflow = workflow_factory.WorkflowFactory.create("{{ workflow_config_file }}")
    workflow.generate_dag(globals())
    dag = workflow.get_dag()
    ''')


def pinned_image():
    m = re.search(r"^ARG OM_INGESTION_IMAGE=(\S+)$", DOCKERFILE.read_text(), re.M)
    return m.group(1) if m else None


class DockerfileTest(unittest.TestCase):
    def test_pinned_and_installs(self):
        text = DOCKERFILE.read_text()
        image = pinned_image()
        self.assertIsNotNone(image)
        m = re.fullmatch(r"docker\.getcollate\.io/openmetadata/ingestion:(\d+\.\d+\.\d+)", image)
        self.assertIsNotNone(m, f"{image} is not a pinned OpenMetadata ingestion release")
        self.assertIn("FROM ${OM_INGESTION_IMAGE}\n", text)
        copy = re.search(r"^COPY --chown=airflow:0 (.+) /opt/omsecrets/$", text, re.M)
        self.assertIsNotNone(copy)
        files = copy.group(1).split()
        self.assertEqual(sorted(files), ["dag_runner.j2", "install.sh", "omsecrets_runner.py"])
        for f in files:
            self.assertTrue((support.AIRFLOW_DIR / f).is_file(), f)
        self.assertIn("RUN SRC=/opt/omsecrets OM_VERSION=${OM_VERSION} AIRFLOW_VERSION=${AIRFLOW_VERSION} "
                      "sh /opt/omsecrets/install.sh\n", text)
        # The same versions as the environment airflow/tests/real checks the
        # runner in (airflow/requirements.lock), and the image of that release.
        args = dict(re.findall(r"(?m)^ARG (OM_VERSION|AIRFLOW_VERSION)=(\S+)$", text))
        lock = dict(re.findall(r"(?m)^(apache-airflow|openmetadata-managed-apis|openmetadata-ingestion)"
                               r"(?:\[[^\]]*\])?==(\S+)", LOCK.read_text()))
        self.assertEqual(args, {"OM_VERSION": lock["openmetadata-managed-apis"],
                                "AIRFLOW_VERSION": lock["apache-airflow"]})
        self.assertEqual(lock["openmetadata-ingestion"], lock["openmetadata-managed-apis"])
        self.assertTrue(args["OM_VERSION"].startswith(m.group(1) + "."), (image, args["OM_VERSION"]))
        self.assertLess(text.index("FROM ${OM_INGESTION_IMAGE}"), text.index("ARG OM_VERSION"),
                        "the version arguments are the build stage's")
        self.assertNotRegex(text, r"(?m)^USER ", "install.sh runs as the image's user, who owns the packages")
        # The README documents the same release.
        self.assertIn(f"`{image}`", README.read_text())
        self.assertIn(f"omsecrets-airflow:om-{m.group(1)}", README.read_text())


class InstallTest(unittest.TestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.site = Path(tmp.name) / "site-packages"
        self.pkg = self.site / "openmetadata_managed_apis"
        (self.pkg / "resources").mkdir(parents=True)
        (self.pkg / "__init__.py").write_text("")
        self.template = self.pkg / "resources" / "dag_runner.j2"
        self.template.write_text(OM_TEMPLATE)
        self.env = {**os.environ, "PYTHONPATH": str(self.site), "PYTHON": sys.executable,
                    "SRC": str(support.AIRFLOW_DIR)}

    def install(self):
        return subprocess.run(["sh", str(INSTALL)], env=self.env, capture_output=True, text=True)

    def test_replaces_what_deploy_reads(self):
        run = self.install()
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(self.template.read_bytes(), support.TEMPLATE.read_bytes())
        self.assertEqual((self.pkg / "resources" / "dag_runner.j2.openmetadata").read_text(), OM_TEMPLATE)
        self.assertEqual((self.site / "omsecrets_runner.py").read_bytes(),
                         (support.AIRFLOW_DIR / "omsecrets_runner.py").read_bytes())
        # Installing again (a rebuilt layer) keeps OpenMetadata's original.
        run = self.install()
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual((self.pkg / "resources" / "dag_runner.j2.openmetadata").read_text(), OM_TEMPLATE)

    def test_deploy_end_to_end(self):
        """After install.sh, what deploy.py does — pkgutil.get_data, render
        with autoescape, write, import_path — builds omsecrets' DAG."""
        self.assertEqual(self.install().returncode, 0)
        definition = support.pipeline("metadata")
        cfg = self.site.parent / "dag_generated_configs" / "mysql_metadata_prod.json"
        cfg.parent.mkdir()
        cfg.write_text(json.dumps(definition))
        code = textwrap.dedent(f'''
            import importlib.machinery, importlib.util, pkgutil, sys
            from jinja2 import Template
            raw = pkgutil.get_data("openmetadata_managed_apis", "resources/dag_runner.j2").decode()
            rendered = Template(raw, autoescape=True).render({{"workflow_config_file": {str(cfg)!r}}})
            path = {str(self.site.parent / "mysql_metadata_prod.py")!r}
            open(path, "w").write(rendered)
            spec = importlib.util.spec_from_loader("m", importlib.machinery.SourceFileLoader("m", path))
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            print(module.dag.dag_id, module.dag.tasks[0].task_id, module.omsecrets_runner.__file__)
            ''')
        path = [str(self.site), str(support.STUBS)] + [p for p in [os.environ.get("PYTHONPATH")] if p]
        env = {**self.env, "PYTHONPATH": os.pathsep.join(path)}
        run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stdout.split(), ["mysql_metadata_prod", "ingestion_task",
                                              str(self.site / "omsecrets_runner.py")])

    def test_refuses_an_unknown_template(self):
        changed = OM_TEMPLATE.replace("WorkflowFactory.create", "WorkflowFactory.build")
        self.template.write_text(changed)
        run = self.install()
        self.assertEqual(run.returncode, 1)
        self.assertIn("is not the OpenMetadata template omsecrets was checked against", run.stderr)
        self.assertEqual(self.template.read_text(), changed)
        self.assertFalse((self.site / "omsecrets_runner.py").exists())

    def test_refuses_without_the_package(self):
        self.env["PYTHONPATH"] = str(self.site.parent)
        run = self.install()
        self.assertEqual(run.returncode, 1)
        self.assertIn("openmetadata_managed_apis/resources/dag_runner.j2 not found", run.stderr)


if __name__ == "__main__":
    unittest.main()


class InstallVersionTest(InstallTest):
    def test_refuses_other_versions(self):
        # The stand-in package has no distribution metadata: "not installed".
        for var, dist in (("OM_VERSION", "openmetadata-managed-apis"), ("AIRFLOW_VERSION", "apache-airflow")):
            with self.subTest(var=var):
                run = subprocess.run(["sh", str(INSTALL)], env={**self.env, var: "9.9.9"},
                                     capture_output=True, text=True)
                self.assertEqual(run.returncode, 1)
                self.assertEqual(run.stderr.strip(), f"install.sh: {dist} is not installed, not 9.9.9, "
                                                     "the version omsecrets' runner was checked against")
                self.assertEqual(self.template.read_text(), OM_TEMPLATE)
                self.assertFalse((self.site / "omsecrets_runner.py").exists())
