import omstub

omstub.record("import", __name__)


def send_failed_status_callback(workflow_config, *_, **__):
    omstub.record("send_failed_status_callback", type(workflow_config).__name__, workflow_config.data)
