"""Runs the DAG of a definition the real omsecrets binary resolved, for
cmd/omsecrets' TestDagRunnerReadsTheSidecarsFiles: the Go test runs
`omsecrets run --once` (or leaves a stale output) and this script then does
what Airflow does with OpenMetadata's deploy of that definition, with the
stand-ins of stubs/: render the template, import the DAG file, execute its
task. It prints one JSON object: the task's outcome, the workflow class it
created and the resolved password it handed that class (the Go side plants
it and checks it arrived), and whether anything touched the network.

Usage: sidecar_check.py DEFINITION OUTPUT_DIR WORK_DIR
"""

import json
import os
import sys
import types
from pathlib import Path

import support
from support import omsecrets_runner, omstub


def main(definition, out_dir, work):
    os.environ["OMSECRETS_OUTPUT_DIR"] = out_dir
    os.environ["OMSECRETS_WAIT_SECONDS"] = "0"
    dag_py = Path(work) / "dags" / (Path(definition).stem + ".py")
    dag_py.parent.mkdir(parents=True, exist_ok=True)
    dag_py.write_text(support.render(definition))
    support.fresh_modules()
    module = support.import_dag_file(dag_py)
    (task,) = module.dag.tasks
    omstub.clear()
    context = {"params": {}, "dag_run": types.SimpleNamespace(dag_id=module.dag.dag_id, run_id="manual__x")}
    result = {"dagId": module.dag.dag_id, "taskId": task.task_id, "error": None}
    with support.no_network() as attempts, support.captured() as text:
        try:
            task.execute(context)
        except Exception as e:  # noqa: BLE001 - reported to the Go test
            result["error"] = str(e)
            result["errorType"] = type(e).__name__
    result["network"] = len(attempts)
    result["log"] = text()
    # ("workflow", class name, "create", config), as stubs/metadata/workflow records it.
    creates = [e for e in omstub.of("workflow") if e[2] == "create"]
    if creates:
        _, cls, _, cfg = creates[0]
        result["workflow"] = cls
        conn = cfg.get("source", {}).get("serviceConnection", {}).get("config", {})
        result["password"] = conn.get("authType", {}).get("password")
        result["provider"] = cfg["workflowConfig"]["openMetadataServerConfig"].get("secretsManagerProvider")
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main(*sys.argv[1:4])
