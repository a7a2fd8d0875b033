"""The audit log as a workbook or CSV file: one row a recorded write, times in China time."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from gis_service.db.models import AuditEntry
from gis_service.export.sheets import Sheet, csv_bytes, frame_sheet, plain, workbook_bytes

HEADERS = {
    "id": "编号",
    "at": "时间",
    "actor": "操作人",
    "role": "角色",
    "action": "操作",
    "target_type": "对象类型",
    "target_id": "对象编号",
    "details": "详情",
}


def audit_frame(session: Session, limit: int) -> pd.DataFrame:
    """Return the newest ``limit`` audit entries, newest first, with Chinese headers."""
    rows: list[dict[str, Any]] = [
        {
            "id": e.id,
            "at": plain(e.at),
            "actor": e.actor,
            "role": e.role,
            "action": e.action,
            "target_type": e.target_type,
            "target_id": e.target_id,
            "details": plain(e.details or {}),
        }
        for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit))
    ]
    return pd.DataFrame(rows, columns=list(HEADERS)).rename(columns=HEADERS)


def audit_export(session: Session, fmt: str, limit: int) -> bytes:
    """Return the audit log as ``xlsx`` or ``csv`` bytes."""
    frame = audit_frame(session, limit)
    if fmt == "csv":
        return csv_bytes(frame)
    sheet: Sheet = frame_sheet("审计日志", frame)
    return workbook_bytes([sheet])
