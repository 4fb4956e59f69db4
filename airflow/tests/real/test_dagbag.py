"""The rendered template in real Airflow 3.3.2's DagBag: every supported
type parses with zero import errors and OpenMetadata's task id, without a
request to the OpenMetadata API and without importing OpenMetadata's
packages; the refused types fail with the runner's one line.

The template is rendered as operations/deploy.py DagDeployer
store_and_validate_dag_file renders it (jinja2.Template(raw,
autoescape=True).render({"workflow_config_file": <path>})), for definitions
that deploy.py's dump_with_safe_jwt wrote, under a directory whose name needs
escaping. DagBag runs in a fresh interpreter with the runner on its
PYTHONPATH, as install.sh puts it beside openmetadata_managed_apis.

The parse times are printed for the report; nothing is asserted on them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unittest
from pathlib import Path

import env

import jinja2

import omserver
import pipelines

import omsecrets_runner

CHECK = Path(__file__).resolve().parent / "dagbag_check.py"
TEMPLATE = env.AIRFLOW_DIR / "dag_runner.j2"


def render(template: Path, config_file: Path) -> str:
    raw = template.read_bytes().decode()
    return jinja2.Template(raw, autoescape=True).render({"workflow_config_file": str(config_file)})


def dagbag(folder: Path) -> dict:
    proc = subprocess.run(
        [env.PYTHON, str(CHECK), str(folder)],
        capture_output=True, text=True, timeout=600,
        env=env.subprocess_env(PYTHONPATH=str(env.AIRFLOW_DIR)),
    )
    if proc.returncode != 0:
        raise AssertionError(f"dagbag_check failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


class DagBagParse(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = omserver.Server()
        cls.addClassCleanup(cls.server.close)
        base = env.HOME / "dagbag"
        cls.configs = base / "dag_generated_configs" / "we'ird & <dir> \"ü\""
        cls.configs.mkdir(parents=True)
        cls.ours = base / "dags-omsecrets"
        cls.theirs = base / "dags-openmetadata"
        cls.ours.mkdir()
        cls.theirs.mkdir()
        cls.expected = {}
        for ptype in pipelines.SUPPORTED + ["dataInsight", "policyAgent", "reverseMetadata"]:
            base = {"reverseMetadata": "metadata", "policyAgent": "dataInsight"}.get(ptype, ptype)
            doc = pipelines.pipeline(base, cls.server.host_port)
            doc["name"] = f"mysql {ptype}.prod"
            if ptype == "policyAgent":
                doc["pipelineType"] = "policyAgent"
            text = pipelines.definition(doc)
            if ptype == "reverseMetadata":
                # Not a PipelineType in OpenMetadata 2.0.7.0; other releases
                # have it.
                data = json.loads(text)
                data["pipelineType"] = "reverseMetadata"
                text = json.dumps(data)
            dag_id = omsecrets_runner.clean_dag_id(doc["name"])
            cfg = cls.configs / f"{dag_id}.json"
            cfg.write_text(text)
            (cls.ours / f"{dag_id}.py").write_text(render(TEMPLATE, cfg))
            cls.expected[ptype] = (dag_id, cfg)

    def test_every_type_parses_without_the_api(self):
        self.server.clear()
        got = dagbag(self.ours)
        self.assertEqual(self.server.seen(), [], "parsing called the OpenMetadata API")
        self.assertEqual(got["openmetadata_modules"], [], "parsing imported OpenMetadata's packages")
        for ptype in pipelines.SUPPORTED:
            with self.subTest(ptype=ptype):
                dag_id, _ = self.expected[ptype]
                self.assertNotIn(str(self.ours / f"{dag_id}.py"), got["import_errors"])
                self.assertEqual(got["dags"].get(dag_id), [pipelines.TASK_IDS[ptype]])
        self.assertEqual(len(got["dags"]), len(pipelines.SUPPORTED))
        for ptype in ("dataInsight", "policyAgent", "reverseMetadata"):
            with self.subTest(ptype=ptype):
                dag_id, _ = self.expected[ptype]
                error = got["import_errors"].get(str(self.ours / f"{dag_id}.py"))
                self.assertIsNotNone(error, f"{ptype} parsed")
                line = (f"omsecrets_runner.OmsecretsError: omsecrets: {dag_id}: pipeline type {ptype} "
                        "is not supported (")
                self.assertIn(line, error)
        self.assertEqual(len(got["import_errors"]), 3)
        per_file = sorted(s["seconds"] for s in got["stats"] if s["seconds"] is not None)
        print(f"\nDagBag parse, omsecrets' template, {len(got['stats'])} files "
              f"({len(pipelines.SUPPORTED)} types + 3 refused): {got['seconds']:.3f} s in all; per file "
              f"min {per_file[0]:.3f} s, median {per_file[len(per_file) // 2]:.3f} s, max {per_file[-1]:.3f} s; "
              f"0 requests to the OpenMetadata API", file=sys.stderr)

    def test_openmetadata_template_for_comparison(self):
        # OpenMetadata's own packaged template over the same definitions: it
        # imports OpenMetadata's packages and calls the API on every parse
        # (build_source). A figure for the report, and proof that the
        # definitions are ones OpenMetadata's own DAG file accepts.
        import importlib.util

        resources = Path(importlib.util.find_spec("openmetadata_managed_apis").origin).parent / "resources"
        # Where install.sh ran, it kept OpenMetadata's template beside ours.
        kept = resources / "dag_runner.j2.openmetadata"
        template = kept if kept.is_file() else resources / "dag_runner.j2"
        self.assertIn("WorkflowFactory.create", template.read_text())
        # OpenMetadata's template writes the path into a string literal
        # unescaped (then HTML-escaped by autoescape), so it gets a plain
        # directory.
        plain = env.HOME / "dagbag" / "plain_configs"
        plain.mkdir(exist_ok=True)
        for ptype in pipelines.SUPPORTED:
            dag_id, cfg = self.expected[ptype]
            copy = plain / cfg.name
            copy.write_bytes(cfg.read_bytes())
            (self.theirs / f"{dag_id}.py").write_text(render(template, copy))
        self.server.clear()
        got = dagbag(self.theirs)
        requests = self.server.seen()
        self.assertEqual(got["import_errors"], {})
        for ptype in pipelines.SUPPORTED:
            dag_id, _ = self.expected[ptype]
            self.assertEqual(got["dags"].get(dag_id), [pipelines.TASK_IDS[ptype]])
        self.assertGreater(len(requests), 0)
        print(f"\nDagBag parse, OpenMetadata's template, {len(pipelines.SUPPORTED)} files: {got['seconds']:.3f} s "
              f"in all, {got['openmetadata_module_count']} OpenMetadata modules imported, "
              f"{len(requests)} requests to the OpenMetadata API", file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
