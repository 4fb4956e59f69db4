import omstub

# Airflow 3's DAG takes none of these (TypeError: unexpected keyword
# argument), as apache-airflow 3.3.2 shows; Airflow 2 takes them.
_AIRFLOW_2_ONLY = ("schedule_interval", "concurrency", "default_view", "orientation")


class DAG:
    """Records its arguments; tasks attach themselves."""

    def __init__(self, **kwargs):
        import airflow

        if int(str(airflow.__version__).split(".")[0]) >= 3:
            for k in _AIRFLOW_2_ONLY:
                if k in kwargs:
                    raise TypeError(f"DAG.__init__() got an unexpected keyword argument '{k}'")
        omstub.record("DAG", kwargs)
        self.kwargs = kwargs
        self.dag_id = kwargs["dag_id"]
        self.tasks = []
