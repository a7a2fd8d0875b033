"""The water quality page (``/quality``): each section's class against its target for a year or a month.

Surveyors upload a month's samples Excel from the same page; the assessment is the quality engine's
(``quality.assessment``), the page only shows it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from gis_service.access import Role
from gis_service.api.deps import SessionDep, SettingsDep
from gis_service.errors import ServiceError
from gis_service.quality.assessment import latest_period, parse_period, quality_report
from gis_service.quality.samples import import_samples
from gis_service.web.deps import PAGE, PageSurveyor, PageViewer, WebUser, commit_now
from gis_service.web.file_upload import import_form_file
from gis_service.web.templating import render

router = APIRouter(dependencies=PAGE, include_in_schema=False)
CLASS_LABELS = {"I": "Ⅰ类", "II": "Ⅱ类", "III": "Ⅲ类", "IV": "Ⅳ类", "V": "Ⅴ类", "劣V": "劣Ⅴ类"}
# The customary map colours of the classes (Ⅰ–Ⅱ blue/green, Ⅲ green, Ⅳ yellow, Ⅴ orange, 劣Ⅴ red).
CLASS_COLOURS = {"I": "cyan", "II": "blue", "III": "green", "IV": "yellow", "V": "orange", "劣V": "red"}


def class_label(code: str | None) -> str:
    """Return a class's Chinese label ("" when the section has no result: the page shows it blank)."""
    return CLASS_LABELS.get(code, str(code)) if code else ""


def period_text(request: Request) -> str:
    """Return the period asked by the selector: a year, or a year and month (empty: the newest year)."""
    year = (request.query_params.get("year") or "").strip()
    month = (request.query_params.get("month") or "").strip()
    if not year:
        return ""
    return f"{year}-{int(month):02d}" if month.isdigit() and 1 <= int(month) <= 12 else year


def _page(
    request: Request,
    session: Session,
    user: WebUser,
    method: str,
    *,
    error: dict[str, str] | None = None,
    result: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    """Render the sections' classes for the chosen period, the selector and (surveyors) the upload form."""
    asked = period_text(request)
    period = parse_period(asked) if asked else latest_period(session)
    report = quality_report(session, period, method)
    rows = [
        {**r, "class_label": class_label(r["class"]), "colour": CLASS_COLOURS.get(r["class"] or "", "secondary")}
        for r in report["sections"]
    ]
    context = {
        "report": report,
        "rows": rows,
        "year": request.query_params.get("year", ""),
        "month": request.query_params.get("month", ""),
        "class_label": class_label,
        "can_upload": user.may(Role.SURVEYOR),
        "error": error,
        "result": result,
        "done": request.query_params.get("stored"),
    }
    return render(request, "quality.html", user, context, status=status)


@router.get("/quality")
def quality_page(request: Request, session: SessionDep, settings: SettingsDep, user: PageViewer) -> Response:
    """Each section's class, target, compliance and deciding indicators in the chosen year or month."""
    return _page(request, session, user, settings.quality_assessment)


@router.post("/quality/samples")
async def upload_samples(request: Request, session: SessionDep, settings: SettingsDep, user: PageSurveyor) -> Response:
    """Surveyors: import a month's monitoring results (断面编码, 采样日期, indicator columns) from Excel."""
    try:
        result, name = await import_form_file(request, user, session, "监测数据文件", import_samples)
    except ServiceError as exc:
        if exc.http_status >= 500:
            raise
        error = {"message": exc.message, "code": exc.code}
        return _page(request, session, user, settings.quality_assessment, error=error, status=exc.http_status)
    user.caller.audit(session, "samples.import", "samples", name, stored=result["stored"])
    commit_now(session)
    return RedirectResponse(f"/quality?stored={int(result['stored'])}", status_code=303)
