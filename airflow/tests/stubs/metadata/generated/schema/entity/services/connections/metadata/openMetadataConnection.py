import omstub

from metadata.generated.schema.metadataIngestion._model import Model

omstub.record("import", __name__)


class OpenMetadataConnection(Model):
    """The server config the OpenMetadata client is built from."""
