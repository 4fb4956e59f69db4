"""Loaded by every Python process of the end-to-end test's Airflow side
(PYTHONPATH): records each outgoing TCP connection (pid, address, port) in
$OMSECRETS_E2E_CONNECT_LOG through Python's socket.connect audit event, so
the test can tell which servers a parse or a task reached, besides what the
servers themselves count; and, once per process, the names (never the
values) of any store-credential or secrets-manager variable in its
environment. It changes nothing else."""

import json
import os
import sys

_LOG = os.environ.get("OMSECRETS_E2E_CONNECT_LOG")


def _hook(event, args):
    if event != "socket.connect" or not _LOG:
        return
    try:
        addr = args[1]
        if not isinstance(addr, tuple) or len(addr) < 2:
            return
        line = json.dumps({"pid": os.getpid(), "host": str(addr[0]), "port": int(addr[1]),
                           "argv": " ".join(sys.argv[:3])[:200]})
        with open(_LOG, "a") as f:
            f.write(line + "\n")
    except Exception:
        pass


_FORBIDDEN = ("AWS_", "AIRFLOW__OPENMETADATA_SECRETS_MANAGER__", "AZURE_", "GOOGLE_", "VAULT_", "BAO_",
              "OMSECRETS_SECRET_")

if _LOG:
    try:
        with open(_LOG, "a") as f:
            f.write(json.dumps({"pid": os.getpid(), "argv": " ".join(sys.argv[:3])[:200],
                                "env": sorted(k for k in os.environ if k.startswith(_FORBIDDEN))}) + "\n")
    except Exception:
        pass
    sys.addaudithook(_hook)
