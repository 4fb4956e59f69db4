import omstub

omstub.record("import", __name__)
omstub.record("secrets", "import", __name__)


class SecretsManagerFactory:
    def __init__(self, *args, **kwargs):
        omstub.record("secrets", "SecretsManagerFactory", args, kwargs)
