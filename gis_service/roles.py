"""The one role table: every action a caller can take and the least role that may take it (SPEC.md).

viewer reads; surveyor delivers, reports and keeps files up to date; admin decides: approves and
rejects deliveries, assigns, verifies and closes (销号) problems and outfalls, manages tokens.
Routes check callers against this table (``api/deps.allowed``), the ledger's state machine takes
its steps' roles from it, and a test tries every action here with every role.
"""

from __future__ import annotations

from gis_service.access import Role

V, S, A = Role.VIEWER, Role.SURVEYOR, Role.ADMIN

ROLES: dict[str, Role] = {
    "read": V,
    # Deliveries (成果交付).
    "delivery.upload": S,
    "delivery.preview": S,
    "delivery.approve_on_upload": A,
    "delivery.approve": A,
    "delivery.reject": A,
    # Problem sites (清四乱台账): report and work on them; the office decides and closes.
    "problem.report": S,
    "problem.edit": S,
    "problem.photo": S,
    "problem.confirm": S,
    "problem.dismiss": A,
    "problem.assign": A,
    "problem.start": S,
    "problem.rectify": S,
    "problem.reject": A,
    "problem.close": A,
    "problem.reopen": A,
    # Outfalls (一口一档): closing a file (outcome 销号) and removing one are the office's decisions.
    "outfall.register": S,
    "outfall.edit": S,
    "outfall.photo": S,
    "outfall.close": A,
    "outfall.delete": A,
    # Administration.
    "token.create": A,
    "token.list": A,
    "token.revoke": A,
    "audit.read": A,
}


def role_for(action: str) -> Role:
    """Return the least role that may take ``action`` (a KeyError names a missing table entry)."""
    return ROLES[action]
