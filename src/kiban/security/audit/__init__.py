"""The access log (アクセスログ): record every access in the work's own transaction.

    from kiban.security import audit
    audit.record(conn, ctx, action=Action.VIEW, subjects=[atena_no])

Sealing, checkpoints, verification and the review live in the submodules ``seal``, ``checkpoint``,
``verify`` and ``report`` (imported on demand: services only need the writer). See docs/audit.md.
"""

from kiban.security.audit.writer import (
    MyNumberInAuditLogError,
    record,
    record_anonymous,
    record_denial,
)
from kiban.shared.mynumber import contains_my_number

__all__ = [
    "MyNumberInAuditLogError",
    "contains_my_number",
    "record",
    "record_anonymous",
    "record_denial",
]
