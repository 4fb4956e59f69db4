import omstub


class PythonOperator:
    """The arguments OpenMetadata's build_dag passes, as Airflow takes them."""

    def __init__(self, *, task_id, python_callable, op_kwargs=None, retries=None, owner=None,
                 params=None, dag=None, **kwargs):
        if not callable(python_callable):
            raise TypeError("python_callable must be callable")
        omstub.record("PythonOperator", type(self).__name__, task_id)
        self.task_id = task_id
        self.python_callable = python_callable
        self.op_kwargs = op_kwargs or {}
        self.retries = retries
        self.owner = owner
        self.params = params
        self.dag = dag
        self.extra = kwargs
        dag.tasks.append(self)

    def execute(self, context):
        return self.python_callable(**self.op_kwargs)

    def on_kill(self):
        omstub.record("base_on_kill", self.task_id)
