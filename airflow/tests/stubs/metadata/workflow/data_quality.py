import omstub
from metadata.workflow._stub import StubWorkflow

omstub.record("import", __name__)


class TestSuiteWorkflow(StubWorkflow):
    pass
