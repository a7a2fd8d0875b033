"""The ledger's state machine, as data: which action takes a problem from which status to which.

reported → confirmed | dismissed → assigned → rectifying → rectified → closed (销号) → reopened
(回头看) → rectifying … Each action names what it needs (a reason, evidence, a deadline and a
responsible unit, a verifier) and the least role that may take it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gis_service.access import Role
from gis_service.catalogue import LayerSpec
from gis_service.errors import InvalidTransition
from gis_service.roles import role_for


class ProblemStatus(StrEnum):
    """Where a problem site stands in the ledger."""

    REPORTED = "reported"  # 已上报
    CONFIRMED = "confirmed"  # 已确认
    DISMISSED = "dismissed"  # 已排除
    ASSIGNED = "assigned"  # 已交办
    RECTIFYING = "rectifying"  # 整改中
    RECTIFIED = "rectified"  # 已整改
    CLOSED = "closed"  # 已销号
    REOPENED = "reopened"  # 反弹（回头看）


S = ProblemStatus
# Past the deadline in one of these is not overdue: the work is done or there is none.
NOT_OVERDUE = frozenset({S.RECTIFIED, S.CLOSED, S.DISMISSED})
# Closed and dismissed items keep their record as filed: no edits, no moves.
FINAL = frozenset({S.CLOSED, S.DISMISSED})


@dataclass(frozen=True)
class Action:
    """One ledger step: its sources, its target, what it needs, who may take it."""

    name: str
    label: str
    sources: frozenset[ProblemStatus]
    target: ProblemStatus
    role: Role
    needs_note: bool = False
    needs_evidence: bool = False
    needs: tuple[str, ...] = ()


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        Action("confirm", "确认", frozenset({S.REPORTED}), S.CONFIRMED, role_for("problem.confirm")),
        Action(
            "dismiss",
            "排除（不属实）",
            frozenset({S.REPORTED}),
            S.DISMISSED,
            role_for("problem.dismiss"),
            needs_note=True,
            needs_evidence=True,
        ),
        Action(
            "assign",
            "交办",
            frozenset({S.CONFIRMED, S.REOPENED}),
            S.ASSIGNED,
            role_for("problem.assign"),
            needs=("deadline", "responsible_unit"),
        ),
        Action("start", "开始整改", frozenset({S.ASSIGNED, S.REOPENED}), S.RECTIFYING, role_for("problem.start")),
        Action(
            "rectify",
            "整改完成",
            frozenset({S.RECTIFYING}),
            S.RECTIFIED,
            role_for("problem.rectify"),
            needs_evidence=True,
        ),
        Action(
            "reject", "验收不通过", frozenset({S.RECTIFIED}), S.RECTIFYING, role_for("problem.reject"), needs_note=True
        ),
        Action("close", "验收销号", frozenset({S.RECTIFIED}), S.CLOSED, role_for("problem.close"), needs=("verifier",)),
        Action("reopen", "回头看反弹", frozenset({S.CLOSED}), S.REOPENED, role_for("problem.reopen"), needs_note=True),
    )
}

FIELD_LABELS = {"deadline": "整改时限", "responsible_unit": "责任单位", "verifier": "验收人"}


def status_label(problems: LayerSpec, status: str) -> str:
    """Return the Chinese label of a status (from the catalogue's ``problems`` layer)."""
    return str(problems.field("status").value_label(status))


def allowed_actions(status: str) -> list[str]:
    """Return the actions a problem in ``status`` allows, in workflow order."""
    return [a.name for a in ACTIONS.values() if status in a.sources]


def describe(names: list[str]) -> str:
    """Return ``names`` as a Chinese list like ``confirm（确认）、dismiss（排除）``, or 无."""
    return "、".join(f"{n}（{ACTIONS[n].label}）" for n in names) or "无（该状态为终态）"


def check_transition(status: str, action: str, problems: LayerSpec) -> Action:
    """Return the action if ``status`` allows it; else raise ``InvalidTransition`` naming the allowed ones."""
    allowed = allowed_actions(status)
    spec = ACTIONS.get(action)
    if spec is None:
        raise InvalidTransition(
            f"未知操作 {action!r}；当前状态 {status} 允许的操作：{describe(allowed)}",
            code="unknown_action",
            details={"status": status, "allowed": allowed, "actions": list(ACTIONS)},
        )
    if status not in spec.sources:
        raise InvalidTransition(
            f"状态为“{status_label(problems, status)}”（{status}）的问题不能执行 {action}（{spec.label}）；"
            f"允许的操作：{describe(allowed)}",
            details={"status": status, "action": action, "allowed": allowed},
        )
    return spec
