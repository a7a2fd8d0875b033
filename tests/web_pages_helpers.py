"""What the page tests of ratios, ledger, outfalls and admin share: logging in as a role, a photo, a form's fields."""

from __future__ import annotations

import io
import re

from fastapi.testclient import TestClient
from PIL import Image

from tests.web_helpers import PASSWORDS, login

XSS = "<script>window.__xss=1</script>"
ESCAPED = "&lt;script&gt;window.__xss=1&lt;/script&gt;"


def as_role(client: TestClient, role: str) -> None:
    """Log the client in as the account named after ``role`` (made by ``make_users``)."""
    client.cookies.clear()
    response = login(client, role, PASSWORDS[role])
    assert getattr(response, "status_code", None) == 303


def jpeg(colour: str = "red") -> bytes:
    """Return a small JPEG, as a phone's camera would send it (written by Pillow, not by the service)."""
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), colour).save(buffer, "JPEG")
    return buffer.getvalue()


def attribute(html: str, name: str, element_id: str) -> str:
    """Return attribute ``name`` of the element with ``id``."""
    tag = re.search(rf'<[^>]*\bid="{element_id}"[^>]*>', html)
    found = re.search(rf'\b{name}="([^"]*)"', tag.group(0)) if tag else None
    assert found, f"no {name} on #{element_id}"
    return found.group(1)


def assert_escaped(html: str) -> None:
    """The typed script appears only escaped, never as markup."""
    assert ESCAPED in html and XSS not in html
