import datetime as dt

import omstub


def from_timestamp(ts):
    omstub.record("timezone.from_timestamp", ts)
    return dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc)


def utcnow():
    omstub.record("timezone.utcnow")
    return dt.datetime.now(dt.timezone.utc)
