"""Stand-in for croniter: five fields are valid; get_prev returns PREV."""
import datetime as dt

import omstub

PREV = dt.datetime(2001, 2, 3, 4, 0)


class croniter:
    def __init__(self, expr, base):
        omstub.record("croniter", expr, base)

    @staticmethod
    def is_valid(expr):
        return isinstance(expr, str) and len(expr.split()) == 5

    def get_prev(self, ret_type):
        assert ret_type is dt.datetime
        return PREV
