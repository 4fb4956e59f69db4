import omstub
from metadata.generated.schema.metadataIngestion._model import Model

omstub.record("import", __name__)


class OpenMetadataWorkflowConfig(Model):
    pass
