"""Every table of every capability, for Alembic's autogenerate and ``alembic check``.

This module sits on top of the capabilities (like ``web`` and ``demo``); core's migration
environment imports it so that one metadata holds all tables.
"""

from qianshu.capabilities import model_modules
from qianshu.core import audit as core_audit
from qianshu.core import idempotency as core_idempotency
from qianshu.core import inbox as core_inbox
from qianshu.core import jobs as core_jobs
from qianshu.core.db import Base

MODEL_MODULES = [core_audit, core_idempotency, core_inbox, core_jobs, *model_modules()]

__all__ = ["MODEL_MODULES", "Base"]
