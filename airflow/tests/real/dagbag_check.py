"""Parse a DAGs folder with real Airflow's DagBag, in a fresh interpreter, and
print what came out as JSON on the last line of stdout.

    python dagbag_check.py <dags folder>

Reports the DAGs and their task ids, the import errors, the seconds DagBag
took (after Airflow itself was imported) and per file, and which of
OpenMetadata's modules the parse imported.
"""

import json
import sys
import time
import warnings

warnings.simplefilter("ignore")

from airflow.dag_processing.dagbag import DagBag  # noqa: E402

folder = sys.argv[1]
before = set(sys.modules)
start = time.perf_counter()
bag = DagBag(dag_folder=folder, safe_mode=True)
seconds = time.perf_counter() - start
om = sorted(
    m for m in set(sys.modules) - before if m.split(".")[0] in ("metadata", "openmetadata_managed_apis")
)
stats = []
for s in getattr(bag, "dagbag_stats", []) or []:
    duration = getattr(s, "duration", None)
    stats.append({"file": getattr(s, "file", None),
                  "seconds": duration.total_seconds() if hasattr(duration, "total_seconds") else duration})
print(json.dumps({
    "seconds": seconds,
    "dags": {d: sorted(bag.dags[d].task_ids) for d in bag.dag_ids},
    "import_errors": {k: v for k, v in bag.import_errors.items()},
    "openmetadata_modules": om[:20],
    "openmetadata_module_count": len(om),
    "stats": stats,
}))
