"""One exception tree for the gateway; mapped to HTTP in one handler (gateway.api.errors).

Every error carries a stable machine-readable ``code`` and a human ``message``.
Messages must never contain personal data: callers pass field names, never values.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, reasons: list[str] | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.reasons = list(reasons or [])


# --- 4xx: the caller can fix it -------------------------------------------------


class BadRequest(GatewayError):
    status_code = 400
    code = "bad_request"


class UnknownField(BadRequest):
    code = "unknown_field"


class BadFilter(BadRequest):
    code = "bad_filter"


class BadCursor(BadRequest):
    code = "bad_cursor"


class Unauthenticated(GatewayError):
    status_code = 401
    code = "unauthenticated"


class Forbidden(GatewayError):
    status_code = 403
    code = "forbidden"


class PolicyDenied(Forbidden):
    code = "policy_denied"


class NotFound(GatewayError):
    status_code = 404
    code = "not_found"


class Conflict(GatewayError):
    status_code = 409
    code = "conflict"


class Unprocessable(GatewayError):
    status_code = 422
    code = "unprocessable"


class TooManyRequests(GatewayError):
    """A quota or rate limit is exhausted; ``retry_after`` seconds until it may succeed."""

    status_code = 429
    code = "quota_exceeded"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None,
                 reasons: list[str] | None = None):
        super().__init__(message, code=code, reasons=reasons)
        self.retry_after = max(1, int(retry_after))


# --- 5xx: the gateway cannot answer safely; fail closed ----------------------------


class Unavailable(GatewayError):
    status_code = 503
    code = "unavailable"


class PolicyUnavailable(Unavailable):
    """The policy engine gave no usable answer (error, timeout, undefined): deny."""

    code = "policy_unavailable"


class StoreUnavailable(Unavailable):
    code = "store_unavailable"


class AuditUnavailable(Unavailable):
    """The audit/receipt step failed: nothing may be released."""

    code = "audit_unavailable"


class DesensitizeError(Unavailable):
    """A column could not be desensitized as decided: nothing may be released."""

    code = "desensitize_failed"


class ConfigError(GatewayError):
    code = "config_error"
