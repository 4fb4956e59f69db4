import datetime as dt

import omstub


def from_timestamp(ts):
    omstub.record("timezone.from_timestamp", ts)
    return dt.datetime.fromtimestamp(ts, tz=dt.timezone.utc)


def utcnow():
    now = dt.datetime.now(dt.timezone.utc)
    omstub.record("timezone.utcnow", now)
    return now
