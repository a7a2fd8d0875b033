"""With RIVERGIS_PUBLIC_READ=false a browser opens the map with ?access_token= and its data follows."""

from __future__ import annotations

from tests.helpers import clear_caches


def test_map_page_token_becomes_a_cookie_for_its_data_requests(demo_client, demo_tokens, monkeypatch):
    monkeypatch.setenv("RIVERGIS_PUBLIC_READ", "false")
    clear_caches()
    assert demo_client.get("/maps/problems").status_code == 401
    assert demo_client.get("/maps/data/problems").status_code == 401
    page = demo_client.get("/maps/problems", params={"access_token": demo_tokens["viewer"]})
    assert page.status_code == 200
    cookie = page.headers["set-cookie"]
    assert "rivergis_token=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    # The client now holds the cookie, as a browser would: the page's data request is allowed.
    assert demo_client.get("/maps/data/problems").status_code == 200
    assert demo_client.get("/api/v1/layers/rivers/features").status_code == 200


def test_a_cookie_never_authorises_a_write(demo_client, demo_tokens, monkeypatch):
    demo_client.cookies.set("rivergis_token", demo_tokens["admin"])
    made = demo_client.post("/api/v1/tokens", json={"name": "x", "role": "viewer"})
    assert made.status_code == 401 and made.json()["error"]["code"] == "token_required"
    bogus = demo_client.get("/maps/data/problems", params={"access_token": "rg_not_a_token"})
    assert bogus.status_code == 401 and bogus.json()["error"]["code"] == "invalid_token"
