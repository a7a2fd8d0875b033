"""What the ledger pages show of a site: labelled fields, status tags, the actions its status allows, its timeline.

Labels come from the layer catalogue (``layers/problems.toml``) and the ledger's state machine
(``ledger.states``), never written again here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gis_service.access import Role
from gis_service.ledger.states import ACTIONS, FIELD_LABELS, Action, allowed_actions
from gis_service.web.deps import ROLE_LABELS, WebUser
from gis_service.web.labels import BLANK_SHORT, LayerLabels, show

# Status tags: red overdue, amber in progress, green closed; dismissed is grey.
DONE = {"closed": "green", "dismissed": "secondary"}
RECORD_FIELDS = (
    "category", "status", "description", "river_code", "town", "inside_range", "found_date", "source",
    "deadline", "responsible_unit", "measures", "closed_date",
)  # fmt: skip
# What a step's form asks besides 说明 and photos, in the ledger's words.
EXTRA_LABELS = {"measures": "整改措施", "evidence": "证据说明"}
# Events that are not steps of the state machine.
EVENT_LABELS = {"report": "上报", "import": "导入台账", "edit": "修改信息", "move": "移动位置"}


def status_colour(status: str, overdue: bool = False) -> str:
    """Return the tag colour of a status: red when overdue, green closed, amber while in progress."""
    if overdue:
        return "red"
    return DONE.get(status, "yellow")


@dataclass(frozen=True)
class ActionView:
    """One button of a site's page: the action, its label, what its form asks, whether the user may take it."""

    name: str
    label: str
    fields: tuple[tuple[str, str], ...]
    needs_note: bool
    needs_evidence: bool
    allowed: bool
    role_label: str
    danger: bool


def action_views(status: str, user: WebUser) -> list[ActionView]:
    """Return one entry for each action the status allows, in workflow order."""
    out = []
    for name in allowed_actions(status):
        spec: Action = ACTIONS[name]
        fields = [(n, FIELD_LABELS[n]) for n in spec.needs]
        if name == "assign":
            fields.append(("measures", EXTRA_LABELS["measures"]))
        if spec.needs_evidence:
            fields.append(("evidence", EXTRA_LABELS["evidence"]))
        out.append(
            ActionView(
                name=name,
                label=spec.label,
                fields=tuple(fields),
                needs_note=spec.needs_note,
                needs_evidence=spec.needs_evidence,
                allowed=user.role is not None and user.role.allows(spec.role),
                role_label=ROLE_LABELS[spec.role],
                danger=name in {"dismiss", "reject", "reopen"},
            )
        )
    return out


@dataclass(frozen=True)
class ProblemLabels(LayerLabels):
    """The problems layer's words, and a site's record and timeline in them."""

    def record_rows(self, item: dict[str, Any]) -> list[tuple[str, str, str]]:
        """Return (field, label, text) of a site's record, coded values by their Chinese label (unset: "")."""
        out = []
        for name in RECORD_FIELDS:
            value = item.get(name)
            coded = self.spec.field(name).values
            text = self.value_label(name, value) if coded and value else show(value)
            out.append((name, self.field_label(name), text))
        return out

    def step_data(self, data: dict[str, Any] | None) -> list[tuple[str, str]]:
        """Return an event's recorded fields as (label, text) in the ledger's words, leaving out the role."""
        labels = {**FIELD_LABELS, **EXTRA_LABELS}
        names = self.spec.field_names
        out = []
        for key, value in (data or {}).items():
            if key == "role" or value in (None, "", [], {}):
                continue
            if key == "changes" and isinstance(value, dict):
                for name, change in value.items():
                    label = self.field_label(name) if name in names else name
                    # Plain text in a sentence: an unset side in words, as the page's placeholder says it.
                    before, after = show(change.get("from")) or BLANK_SHORT, show(change.get("to")) or BLANK_SHORT
                    out.append((label, f"{before} → {after}"))
                continue
            known = key in names
            label = labels.get(key) or (self.field_label(key) if known else key)
            coded = known and bool(self.spec.field(key).values)
            out.append((label, self.value_label(key, value) if coded else show(value)))
        return out


def may_act(user: WebUser) -> bool:
    """Tell whether the user may take any ledger step at all (surveyors and admins)."""
    return user.role is not None and user.role.allows(Role.SURVEYOR)
