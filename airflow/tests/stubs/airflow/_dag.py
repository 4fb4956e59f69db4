import omstub


class DAG:
    """Records its arguments; tasks attach themselves."""

    def __init__(self, **kwargs):
        omstub.record("DAG", kwargs)
        self.kwargs = kwargs
        self.dag_id = kwargs["dag_id"]
        self.tasks = []
