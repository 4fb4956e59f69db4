#!/bin/sh
# Put omsecrets' DAG runner in place of OpenMetadata's, in the Python that
# Airflow runs (the image's default user, as OpenMetadata's ingestion image
# installed its packages).
#
# OpenMetadata's deploy code reads the template with
#   pkgutil.get_data("openmetadata_managed_apis", "resources/dag_runner.j2")
# (openmetadata_managed_apis/operations/deploy.py; PLUGIN_NAME in
# api/config.py), that is <the package's directory>/resources/dag_runner.j2,
# so that is the file replaced. omsecrets_runner.py goes next to the package,
# into a directory that is on sys.path wherever the package imports.
#
# Refuses (exit 1) when the packaged template is not OpenMetadata's
# three-statement WorkflowFactory one that omsecrets' template stands in for.
#
#   SRC              where dag_runner.j2 and omsecrets_runner.py are (default: this script's directory)
#   PYTHON           the interpreter to install for (default: python)
#   OM_VERSION       if set, refuse unless openmetadata-managed-apis and openmetadata-ingestion are
#                    this version (the Dockerfile sets the one omsecrets was checked against)
#   AIRFLOW_VERSION  if set, refuse unless apache-airflow is this version
set -eu

SRC=${SRC:-$(dirname "$0")}
PYTHON=${PYTHON:-python}

# The versions the runner was checked against (airflow/tests/real), as installed.
OM_VERSION=${OM_VERSION:-} AIRFLOW_VERSION=${AIRFLOW_VERSION:-} "$PYTHON" - <<'EOF'
import os, sys
from importlib.metadata import PackageNotFoundError, version
want = {"openmetadata-managed-apis": os.environ["OM_VERSION"], "openmetadata-ingestion": os.environ["OM_VERSION"],
        "apache-airflow": os.environ["AIRFLOW_VERSION"]}
for dist, v in want.items():
    if not v:
        continue
    try:
        have = version(dist)
    except PackageNotFoundError:
        have = "not installed"
    if have != v:
        sys.exit(f"install.sh: {dist} is {have}, not {v}, the version omsecrets' runner was checked against")
EOF

pkg=$("$PYTHON" -c 'import importlib.util, os; s = importlib.util.find_spec("openmetadata_managed_apis"); print(os.path.dirname(s.origin) if s and s.origin else "")')
if [ -z "$pkg" ] || [ ! -f "$pkg/resources/dag_runner.j2" ]; then
	echo "install.sh: openmetadata_managed_apis/resources/dag_runner.j2 not found for $PYTHON" >&2
	exit 1
fi
template="$pkg/resources/dag_runner.j2"

if ! grep -q 'omsecrets_runner' "$template"; then
	# OpenMetadata's template as checked: WorkflowFactory.create("{{ workflow_config_file }}").
	if ! grep -qF 'WorkflowFactory.create("{{ workflow_config_file }}")' "$template"; then
		echo "install.sh: $template is not the OpenMetadata template omsecrets was checked against" >&2
		exit 1
	fi
	cp "$template" "$template.openmetadata"
fi
cp "$SRC/dag_runner.j2" "$template"
cp "$SRC/omsecrets_runner.py" "$(dirname "$pkg")/omsecrets_runner.py"

# What deploy.py will read, and what the rendered DAG file will import.
"$PYTHON" - <<'EOF'
import pkgutil, sys
import omsecrets_runner
template = pkgutil.get_data("openmetadata_managed_apis", "resources/dag_runner.j2").decode()
if "omsecrets_runner.build_dag" not in template:
    sys.exit("install.sh: pkgutil.get_data does not return omsecrets' template")
print("install.sh: template", "ok;", "runner", omsecrets_runner.__file__)
EOF
