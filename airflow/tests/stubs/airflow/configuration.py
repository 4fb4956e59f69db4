"""conf.get as Airflow resolves it for these tests: AIRFLOW__<SECTION>__<KEY>
from the environment, else the fallback."""
import os


class _Conf:
    def get(self, section, key, fallback=None):
        return os.environ.get(f"AIRFLOW__{section.upper()}__{key.upper()}", fallback)


conf = _Conf()
