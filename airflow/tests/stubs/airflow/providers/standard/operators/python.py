# Airflow 3's home of PythonOperator (apache-airflow-providers-standard);
# airflow.operators.python is its deprecated alias there.
from airflow.operators.python import PythonOperator  # noqa: F401
