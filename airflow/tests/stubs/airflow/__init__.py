"""Stand-in for apache-airflow: just what omsecrets' DAG file and runner use.
Tests set __version__ to pick the Airflow 2 or 3 code path."""
from airflow._dag import DAG  # noqa: F401

__version__ = "2.10.5"
