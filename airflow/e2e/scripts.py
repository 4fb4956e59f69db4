"""Code the test runs in Airflow's processes (`python -c`), each printing one
JSON line prefixed RESULT. Kept here so the processes run exactly this and
nothing of the test's own process leaks into them."""

# DagDeployer.deploy as the plugin's deploy endpoint runs it: inside a Flask
# application context (its ApiResponse is a flask.jsonify response), then the
# ScanDagsTask process it starts (Airflow 3: DagFileProcessorManager(max_runs=1))
# is waited for. argv: pipeline JSON files.
DEPLOY = r"""
import json, multiprocessing, sys, time
t0 = time.monotonic()
from flask import Flask
from metadata.generated.schema.entity.services.ingestionPipelines.ingestionPipeline import IngestionPipeline
from openmetadata_managed_apis.operations.deploy import DagDeployer
out = []
app = Flask("omsecrets-e2e")
for path in sys.argv[1:]:
    with open(path) as f:
        pipeline = IngestionPipeline.model_validate(json.load(f))
    t1 = time.monotonic()
    with app.app_context():
        try:
            response = DagDeployer(pipeline).deploy()
            status, body = response.status_code, response.get_json()
        except Exception as exc:
            status, body = None, f"{type(exc).__name__}: {exc}"
    t2 = time.monotonic()
    for child in multiprocessing.active_children():
        child.join(600)
    out.append({"file": path, "status": status, "body": body, "deploy_s": t2 - t1,
                "scan_s": time.monotonic() - t2})
print("RESULT " + json.dumps({"import_s": time.monotonic() - t0 - sum(o["deploy_s"] + o["scan_s"] for o in out),
                              "deploys": out}))
"""

# A fresh parse of the DAGs folder with Airflow's DagBag, as the DAG processor
# and every worker do before a task. argv: the DAGs folder.
PARSE = r"""
import json, sys, time
t0 = time.monotonic()
from airflow.models import DagBag
t1 = time.monotonic()
bag = DagBag(dag_folder=sys.argv[1])
t2 = time.monotonic()
print("RESULT " + json.dumps({
    "import_errors": {k: v.splitlines()[-1] if v else v for k, v in bag.import_errors.items()},
    "dags": {d: [t.task_id for t in bag.dags[d].tasks] for d in sorted(bag.dags)},
    "stats": [{"file": s.file, "duration_s": s.duration.total_seconds() if hasattr(s.duration, "total_seconds") else s.duration,
               "dags": s.dag_num} for s in bag.dagbag_stats],
    "import_airflow_s": t1 - t0, "collect_s": t2 - t1,
}))
"""
