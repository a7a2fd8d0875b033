"""A page's write answers only once it is stored: commit, then send the redirect or page.

The request's session otherwise commits after the answer has left (FastAPI ends ``yield`` dependencies
after the response), and a browser following a redirect at once could read the old state. Once the
session dependency itself commits before answering, the commit here finds nothing left to do.
"""

from __future__ import annotations

from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session


def stored(session: Session, response: Response) -> Response:
    """Commit the request's writes, then hand back ``response`` (already rendered: the session is done after)."""
    session.commit()
    return response


def stored_redirect(session: Session, url: str) -> Response:
    """Commit the request's writes, then send the browser to ``url`` (303, so it GETs the page)."""
    return stored(session, RedirectResponse(url, status_code=303))
