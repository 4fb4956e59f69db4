"""Parse time: the template rendered as OpenMetadata's deploy.py renders it
builds, for every pipeline type, the DAG OpenMetadata's build_dag_configs
and build_dag would, with OpenMetadata's task id, and without a network
call, a secrets lookup or any OpenMetadata import."""

import datetime as dt
import json
import sys
import tempfile
import unittest
from pathlib import Path

import support
from support import omsecrets_runner, omstub

import airflow
import croniter

UTC = dt.timezone.utc
# The documented entity's updatedAt (ms), as Airflow 3's start date.
UPDATED_AT = dt.datetime(2022, 9, 30, 8, 35, 55, 86000, tzinfo=UTC)


def deploy(tmp, definition, *, autoescape=True, config_dir="dag_generated_configs"):
    """Do what DagDeployer.deploy does with a pipeline: write the JSON, render
    the template into the DAGs folder, import the DAG file."""
    dag_id = omsecrets_runner.clean_dag_id(definition["name"])
    cfg = Path(tmp) / config_dir / f"{dag_id}.json"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text(json.dumps(definition, ensure_ascii=True))
    dag_py = Path(tmp) / "dags" / f"{dag_id}.py"
    dag_py.parent.mkdir(parents=True, exist_ok=True)
    dag_py.write_text(support.render(cfg, autoescape=autoescape))
    return cfg, dag_py


class ParseTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        omstub.clear()
        support.fresh_modules()
        self.addCleanup(setattr, airflow, "__version__", airflow.__version__)

    def parse(self, definition, version="2.10.5", **kw):
        airflow.__version__ = version
        cfg, dag_py = deploy(self.tmp.name, definition, **kw)
        omstub.clear()
        with support.no_network() as attempts:
            module = support.import_dag_file(dag_py)
        self.assertEqual(attempts, [], "parse time made a network call")
        self.assertEqual(support.imported(), [], "parse time imported OpenMetadata modules")
        self.assertEqual(omstub.of("secrets"), [])
        self.assertEqual(omstub.of("api"), [])
        return cfg, module

    def test_every_type_airflow_2(self):
        for ptype, task_id in support.TASK_IDS.items():
            with self.subTest(ptype=ptype):
                definition = support.pipeline(ptype)
                before = dt.datetime.now()
                _, module = self.parse(definition)
                dag = module.dag
                dag_id = support.dag_id_of(ptype)
                self.assertIs(getattr(module, dag_id), dag, "registered under its dag_id, as generate_dag does")
                service_tag = {"TestSuite": "testSuite", "elasticSearchReindex": "OpenMetadata",
                               "application": "OpenMetadata"}.get(ptype, "mysql")
                self.assertEqual(
                    dag.kwargs,
                    {
                        "dag_id": dag_id,
                        "description": None,
                        "start_date": croniter.PREV,
                        "end_date": None,
                        "max_active_runs": 1,
                        "dagrun_timeout": None,
                        "is_paused_upon_creation": False,
                        "catchup": False,
                        "tags": ["OpenMetadata", f"mysql {ptype}", f"type:{ptype}", f"service:{service_tag}"],
                        "schedule_interval": "0 * * * *",
                        "default_view": "tree",
                        "orientation": "LR",
                        "concurrency": 1,
                    },
                )
                # start_date is croniter's previous fire time from now.
                (_, expr, base), = omstub.of("croniter")
                self.assertEqual(expr, "0 * * * *")
                self.assertLessEqual(before, base)
                (task,) = dag.tasks
                self.assertEqual(task.task_id, task_id)
                self.assertEqual(type(task).__name__, "OmsecretsOperator")
                self.assertEqual(task.retries, 3)
                self.assertEqual(task.owner, "openmetadata")  # the entity has no owners
                # Only application.py passes params (build_dag's params=None
                # for the rest).
                self.assertEqual(task.params, {"appConfigOverride": None} if ptype == "application" else None)
                self.assertEqual(task.op_kwargs, {})
                self.assertEqual(task.extra, {})

    def test_every_type_airflow_3(self):
        for ptype, task_id in support.TASK_IDS.items():
            with self.subTest(ptype=ptype):
                _, module = self.parse(support.pipeline(ptype), version="3.1.0")
                kwargs = module.dag.kwargs
                # build_dag_configs on Airflow 3: timezone.utcnow() at every
                # parse, whatever the pipeline's updatedAt.
                self.assertEqual(len(omstub.of("timezone.utcnow")), 1)
                self.assertEqual(kwargs["start_date"], omstub.of("timezone.utcnow")[0][1])
                self.assertNotEqual(kwargs["start_date"], UPDATED_AT)
                self.assertIsNotNone(kwargs["start_date"].tzinfo)
                self.assertEqual(kwargs["schedule"], "0 * * * *")
                self.assertEqual(kwargs["max_active_tasks"], 1)
                for gone in ("schedule_interval", "default_view", "orientation", "concurrency"):
                    self.assertNotIn(gone, kwargs)
                self.assertEqual(module.dag.tasks[0].task_id, task_id)

    def test_airflow_3_without_updated_at(self):
        definition = support.pipeline("metadata")
        del definition["updatedAt"]
        _, module = self.parse(definition, version="3.0.0rc1")
        self.assertEqual(len(omstub.of("timezone.utcnow")), 1)
        self.assertIsNotNone(module.dag.kwargs["start_date"].tzinfo)

    def test_airflow_config_as_build_dag_configs_reads_it(self):
        definition = support.pipeline("profiler")
        definition["description"] = "Profile the prod tables"
        definition["owners"] = [{"id": "e4b4", "type": "user", "name": "alice"}, {"name": "bob"}]
        definition["airflowConfig"].update(
            {
                "scheduleInterval": None,
                "endDate": "2030-01-02T03:04:05Z",
                "workflowTimeout": 2,
                "pausePipeline": True,
                "pipelineCatchup": True,
                "concurrency": None,
                "maxActiveRuns": 4,
                "retries": None,
            }
        )
        before = dt.datetime.now()
        _, module = self.parse(definition)
        kwargs = module.dag.kwargs
        self.assertEqual(kwargs["description"], "Profile the prod tables")
        self.assertEqual(kwargs["end_date"], dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC))
        self.assertEqual(kwargs["dagrun_timeout"], dt.timedelta(days=2))  # as OpenMetadata passes it
        self.assertTrue(kwargs["is_paused_upon_creation"])
        self.assertTrue(kwargs["catchup"])
        self.assertNotIn("concurrency", kwargs)
        self.assertEqual(kwargs["max_active_runs"], 4)
        self.assertIsNone(kwargs["schedule_interval"])
        # On demand: start now, no croniter.
        self.assertEqual(omstub.of("croniter"), [])
        self.assertLessEqual(before, kwargs["start_date"])
        task = module.dag.tasks[0]
        self.assertEqual(task.owner, "alice")
        self.assertEqual(task.retries, 0)

    def test_invalid_cron_starts_now(self):
        definition = support.pipeline("usage")
        definition["airflowConfig"]["scheduleInterval"] = "every hour please"
        before = dt.datetime.now()
        _, module = self.parse(definition)
        self.assertEqual(omstub.of("croniter"), [])
        self.assertLessEqual(before, module.dag.kwargs["start_date"])

    def test_tags_use_the_last_fqn_part(self):
        definition = support.pipeline("dbt")
        definition["displayName"] = None
        definition["name"] = 'svc."db.x".' + "n" * 100
        definition["service"]["name"] = '"my.service"'
        _, module = self.parse(definition)
        tags = module.dag.kwargs["tags"]
        self.assertEqual(tags[1], "n" * 90)
        self.assertEqual(tags[3], 'service:"my.service"')

    def test_template_paths_survive_rendering(self):
        # autoescape=True (current deploy.py) HTML-escapes plain
        # substitutions; tojson keeps any path a valid, exact literal.
        for autoescape in (True, False):
            for odd in ("it's", 'say "x"', "a&b<c>", "caf\u00e9", "emoji \U0001F600", "back\\slash"):
                with self.subTest(autoescape=autoescape, dir=odd):
                    definition = support.pipeline("lineage")
                    cfg, module = self.parse(definition, autoescape=autoescape, config_dir=odd)
                    task = module.dag.tasks[0]
                    self.assertEqual(task.python_callable.args[0].definition, str(cfg))

    def test_rendered_file_is_python_airflow_discovers(self):
        text = support.render("/opt/airflow/dag_generated_configs/x.json")
        compile(text, "x.py", "exec")
        low = text.lower()
        # Airflow's DAG discovery safe mode parses only files containing both.
        self.assertIn("airflow", low)
        self.assertIn("dag", low)
        self.assertIn('build_dag("/opt/airflow/dag_generated_configs/x.json", globals())', text)

    def test_unsupported_types_build_no_dag(self):
        for ptype in ("dataInsight", "policyAgent", "reverseMetadata"):
            with self.subTest(ptype=ptype):
                definition = support.pipeline("metadata")
                definition["pipelineType"] = ptype
                _, dag_py = deploy(self.tmp.name, definition)
                with self.assertRaises(omsecrets_runner.OmsecretsError) as ctx:
                    support.import_dag_file(dag_py)
                msg = str(ctx.exception)
                self.assertEqual(len(msg.splitlines()), 1)
                self.assertIn(f"omsecrets: mysql_metadata_prod: pipeline type {ptype} is not supported", msg)
                self.assertEqual(omstub.of("DAG"), [])

    def test_broken_definitions(self):
        cases = {
            "unknown type": ({"pipelineType": "somethingNew"}, "pipelineType somethingNew has no DAG builder"),
            "no name": ({"name": ""}, "has no name"),
            "bad endDate": ({"airflowConfig": {"endDate": "soon"}}, "airflowConfig.endDate is not a date-time"),
        }
        for name, (change, want) in cases.items():
            with self.subTest(name):
                definition = {**support.pipeline("metadata"), **change}
                _, dag_py = deploy(self.tmp.name, definition)
                with self.assertRaises(omsecrets_runner.OmsecretsError) as ctx:
                    support.import_dag_file(dag_py)
                self.assertIn(want, str(ctx.exception))

    def test_missing_or_invalid_definition(self):
        with self.assertRaises(omsecrets_runner.OmsecretsError) as ctx:
            omsecrets_runner.build_dag(str(Path(self.tmp.name) / "gone.json"), {})
        self.assertIn("cannot open the pipeline definition", str(ctx.exception))
        bad = Path(self.tmp.name) / "bad.json"
        bad.write_text('{"name": "x", "password": "' + support.PLANTED + '"')
        with self.assertRaises(omsecrets_runner.OmsecretsError) as ctx:
            omsecrets_runner.build_dag(str(bad), {})
        self.assertIn("is not readable JSON", str(ctx.exception))
        self.assertNotIn(support.PLANTED, support.exception_text(ctx.exception))

    def test_environment_variables_are_expanded_as_load_config_file_does(self):
        definition = support.pipeline("metadata")
        definition["description"] = "on ${OMSECRETS_TEST_CLUSTER}"
        import os

        os.environ["OMSECRETS_TEST_CLUSTER"] = "prod-eu"
        self.addCleanup(os.environ.pop, "OMSECRETS_TEST_CLUSTER")
        _, module = self.parse(definition)
        self.assertEqual(module.dag.kwargs["description"], "on prod-eu")


class HelpersTest(unittest.TestCase):
    def test_clean_dag_id(self):
        self.assertEqual(omsecrets_runner.clean_dag_id("mysql prod.metadata/é"), "mysql_prod_metadata_")
        self.assertEqual(omsecrets_runner.clean_dag_id("a-b_c"), "a-b_c")
        self.assertIsNone(omsecrets_runner.clean_dag_id(""))

    def test_fqn_split(self):
        self.assertEqual(omsecrets_runner.fqn_split('a."b.c".d'), ["a", '"b.c"', "d"])
        for bad in ('a..b', '"ab"', 'a"b', ''):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                omsecrets_runner.fqn_split(bad)
        self.assertEqual(omsecrets_runner.clean_name_tag('a"b'), 'a"b')  # falls back to the tag

    def test_parse_time(self):
        want = dt.datetime(2026, 12, 1, 20, 33, 1, 123456, tzinfo=UTC)
        for text in ("2026-12-01T20:33:01.123456789Z", "2026-12-01T21:33:01.123456+01:00",
                     "2026-12-01T20:33:01.123456+0000", "2026-12-01 20:33:01.123456"):
            with self.subTest(text=text):
                self.assertEqual(omsecrets_runner.parse_time(text), want)
        self.assertEqual(omsecrets_runner.parse_time("2026-12-01T20:33:01Z"), want.replace(microsecond=0))
        for bad in ("2026-12-01", "yesterday", "2026-13-01T00:00:00Z"):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                omsecrets_runner.parse_time(bad)

    def test_is_airflow_3(self):
        for version, want in (("2.10.5", False), ("3.0.0", True), ("3.1.0rc1", True), ("10.0", True), ("x", False)):
            with self.subTest(version=version):
                self.assertIs(omsecrets_runner.is_airflow_3(version), want)

    def test_importing_the_runner_needs_no_airflow(self):
        import subprocess

        code = "import sys; sys.path.insert(0, sys.argv[1]); import omsecrets_runner; print(sorted(m for m in sys.modules if m.split('.')[0] in ('airflow', 'metadata')))"
        out = subprocess.run([sys.executable, "-c", code, str(support.AIRFLOW_DIR)], capture_output=True, text=True,
                             check=True)
        self.assertEqual(out.stdout.strip(), "[]")


if __name__ == "__main__":
    unittest.main()
