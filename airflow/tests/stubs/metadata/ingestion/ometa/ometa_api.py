import omstub

omstub.record("import", __name__)


class OpenMetadata:
    def __init__(self, config):
        omstub.record("api", "OpenMetadata", config)
