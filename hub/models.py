"""Every table of the hub, gathered for migrations (import each domain's models here)."""
from hub.agentconfig import models as _agentconfig  # noqa: F401
from hub.alerts import models as _alerts  # noqa: F401
from hub.audit import models as _audit  # noqa: F401
from hub.benchmarks import models as _benchmarks  # noqa: F401
from hub.console import models as _console  # noqa: F401
from hub.db import metadata  # noqa: F401
from hub.delivery import models as _delivery  # noqa: F401
from hub.health import models as _health  # noqa: F401
from hub.orgs import models as _orgs  # noqa: F401
from hub.policy import models as _policy  # noqa: F401
from hub.records import models as _records  # noqa: F401
from hub.returns import models as _returns  # noqa: F401
