"""The problem ledger (台账) in one import: report sites, move them through the workflow, list, overdue, statistics.

The work lives in one module a concern; this module gathers their public names for callers
(the API, the CLI, the import pipeline, the demo loader):

- :mod:`~gis_service.ledger.reporting`: report sites (上报) with derived jurisdiction and first events;
- :mod:`~gis_service.ledger.jurisdiction`: river, town, range and zone of sites, re-derived on approval;
- :mod:`~gis_service.ledger.queries`: filters, sorting, paging, one site, its history;
- :mod:`~gis_service.ledger.workflow`: transitions with evidence and optimistic locking, edits, moves;
- :mod:`~gis_service.ledger.stats`: overdue lists and statistics;
- :mod:`~gis_service.ledger.common`: the clock and dates.
"""

from __future__ import annotations

from gis_service.ledger.common import Clock, as_utc, parse_date
from gis_service.ledger.filters import ProblemFilter, filtered, is_overdue, overdue_clause
from gis_service.ledger.jurisdiction import jurisdiction_of, rederive_jurisdiction
from gis_service.ledger.queries import SORT_KEYS, attachment_data, get_problem, history, list_problems, record
from gis_service.ledger.reporting import report_new, report_sites, site_frame
from gis_service.ledger.stats import GROUPS, overdue, statistics
from gis_service.ledger.workflow import EDITABLE, add_photo, attach_to_event, edit_problem, transition

__all__ = [
    "EDITABLE",
    "GROUPS",
    "SORT_KEYS",
    "Clock",
    "ProblemFilter",
    "add_photo",
    "as_utc",
    "attach_to_event",
    "attachment_data",
    "edit_problem",
    "filtered",
    "get_problem",
    "history",
    "is_overdue",
    "jurisdiction_of",
    "list_problems",
    "overdue",
    "overdue_clause",
    "parse_date",
    "record",
    "rederive_jurisdiction",
    "report_new",
    "report_sites",
    "site_frame",
    "statistics",
    "transition",
]
