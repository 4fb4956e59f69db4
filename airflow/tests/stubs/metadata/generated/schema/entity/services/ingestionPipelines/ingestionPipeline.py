import enum

import omstub

from metadata.generated.schema.metadataIngestion._model import Model

omstub.record("import", __name__)


class PipelineState(enum.Enum):
    queued = "queued"
    success = "success"
    failed = "failed"
    running = "running"
    partialSuccess = "partialSuccess"
    stopped = "stopped"


class PipelineStatus(Model):
    """runId, pipelineState, startDate, timestamp, endDate, status, config,
    metadata (extra='forbid'), as in OpenMetadata 2.0.7.0."""

    FIELDS = ("runId", "pipelineState", "startDate", "timestamp", "endDate", "status", "config", "metadata")

    @classmethod
    def model_validate(cls, data):
        extra = set(data) - set(cls.FIELDS)
        if extra:
            raise ValueError(f"extra fields not permitted: {sorted(extra)}")
        PipelineState(data.get("pipelineState", "queued"))
        return super().model_validate(data)
