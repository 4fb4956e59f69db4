import omstub
from metadata.generated.schema.metadataIngestion._model import Model

omstub.record("import", __name__)


class OpenMetadataApplicationConfig(Model):
    pass
