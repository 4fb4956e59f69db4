"""What the stand-in airflow, croniter, metadata and openmetadata_managed_apis
packages were asked to do, in order. Tests clear it and read it."""

events = []


def record(*event):
    events.append(event)


def clear():
    events.clear()


def of(kind):
    return [e for e in events if e[0] == kind]
