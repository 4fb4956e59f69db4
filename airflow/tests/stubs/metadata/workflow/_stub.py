import copy

import omstub


class StubWorkflow:
    """Records create and each call; FAIL names a method that raises."""

    FAIL = None

    @classmethod
    def create(cls, config):
        omstub.record("workflow", cls.__name__, "create", copy.deepcopy(config))
        if cls.FAIL == "create":
            raise RuntimeError("create failed")
        return cls()

    def _call(self, name):
        omstub.record("workflow", type(self).__name__, name)
        if type(self).FAIL == name:
            raise RuntimeError(f"{name} failed")

    def execute(self):
        self._call("execute")

    def stop(self):
        self._call("stop")

    def raise_from_status(self):
        self._call("raise_from_status")

    def print_status(self):
        self._call("print_status")
