import copy

import omstub


class Model:
    """model_validate keeps the dict; tests read it back."""

    def __init__(self, data):
        self.data = data

    @classmethod
    def model_validate(cls, data):
        omstub.record("model_validate", cls.__name__)
        return cls(copy.deepcopy(data))
