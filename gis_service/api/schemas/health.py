"""The health check's answer."""

from __future__ import annotations

from pydantic import BaseModel


class Health(BaseModel):
    """Whether the service and its database answer (``detail`` says why not)."""

    status: str
    version: str
    database: str
    database_state: str
    detail: str | None = None
