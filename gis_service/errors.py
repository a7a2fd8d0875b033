"""Typed errors with stable English codes, and the one table mapping them to HTTP and CLI.

Every error a user can cause is a :class:`ServiceError`: it carries a code, a message
(Chinese for users of the product, with the fix), and details. The API turns it into
``{"error": {"code", "message", "details"}}`` with ``http_status``; the CLI prints the
message and exits with ``exit_code``.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """An error the user can act on."""

    code = "error"
    http_status = 400
    exit_code = 2

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON error body."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class BadRequest(ServiceError):
    """Input that cannot be used as given."""

    code = "bad_request"


class DeliveryRejected(ServiceError):
    """A delivery that failed validation; details carry the report."""

    code = "delivery_rejected"
    http_status = 422


class NotFound(ServiceError):
    """A resource that does not exist."""

    code = "not_found"
    http_status = 404


class Unauthorized(ServiceError):
    """A missing or unknown token."""

    code = "unauthorized"
    http_status = 401


class Forbidden(ServiceError):
    """A token whose role does not allow the action."""

    code = "forbidden"
    http_status = 403


class Conflict(ServiceError):
    """A write that conflicts with the current state (stale version, duplicate key)."""

    code = "conflict"
    http_status = 409


class InvalidTransition(Conflict):
    """A ledger step the item's status does not allow."""

    code = "invalid_transition"


class PayloadTooLarge(ServiceError):
    """An upload over the size, count or ratio limits."""

    code = "payload_too_large"
    http_status = 413


class ConfigurationError(ServiceError):
    """The service cannot start or reach its database as configured."""

    code = "configuration_error"
    http_status = 503
    exit_code = 3


class DatabaseError(ServiceError):
    """The database cannot take the request now (down, busy, read-only or full); nothing was stored."""

    code = "database_unavailable"
    http_status = 503
    exit_code = 3

    def __init__(self, message: str, *, code: str | None = None, details: Any = None, retry_after: int | None = None):
        super().__init__(message, code=code, details=details)
        self.retry_after = retry_after
