import omstub

omstub.record("import", __name__)


class OpenMetadata:
    """metadata.ingestion.ometa.ometa_api.OpenMetadata: the constructor and
    the pipeline-status call of OMetaIngestionPipelineMixin, with their
    signatures in openmetadata-ingestion 2.0.7.0. FAIL, an exception, is
    raised by the call; HANG, an Event, is waited for first (at most 10 s);
    ANSWER is returned."""

    FAIL = None
    HANG = None
    ANSWER = {"code": 200}

    def __init__(self, config, raw_data=False, additional_client_config_arguments=None):
        omstub.record("api", "OpenMetadata", config, additional_client_config_arguments)
        self.config = config

    def create_or_update_pipeline_status(self, ingestion_pipeline_fqn, pipeline_status):
        omstub.record("api", "create_or_update_pipeline_status", ingestion_pipeline_fqn, pipeline_status)
        if type(self).HANG is not None:
            type(self).HANG.wait(10)
        if type(self).FAIL is not None:
            raise type(self).FAIL
        return type(self).ANSWER
