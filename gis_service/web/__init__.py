"""The web workbench (网页工作台): server-rendered pages for every workflow, in Simplified Chinese.

How to add a page (for example ``/ratios``):

1. Write ``gis_service/web/routers/ratios.py`` with ``router = APIRouter(dependencies=PAGE)`` (``PAGE`` from
   :mod:`gis_service.web.deps` marks the routes as pages, so errors answer as HTML, not JSON).
   Take the user with ``user: PageViewer`` (read pages; anonymous allowed when ``RIVERGIS_PUBLIC_READ``
   is on), ``PageSurveyor`` or ``PageAdmin``; a visitor not logged in is sent to ``/login?next=…``,
   a user whose role is too low gets the 403 page naming the role needed. Call the existing services
   (``store``, ``ledger``, ``analysis``), never new SQL in the page, and answer
   ``render(request, "ratios.html", user, {...})`` from :mod:`gis_service.web.templating`.
2. Write ``gis_service/web/templates/ratios.html``: ``{% extends "base.html" %}``, fill
   ``{% block content %}`` (and ``title``, ``breadcrumb``). Autoescape is on: never mark user text ``|safe``.
3. Every form that changes something carries ``{{ csrf_field() }}`` and its handler takes
   ``form: CsrfForm`` (a POST without the right token is refused with 403 before anything else);
   writes are audited with ``user.caller.audit(session, ...)`` like the API routers do, then
   ``commit_now(session)`` before the redirect (so that the next page already sees the write).
4. Add the router to ``ROUTERS`` in :mod:`gis_service.web.site` and, if it belongs in the left
   navigation, an entry to ``NAV`` in :mod:`gis_service.web.nav` with the role it needs.

A chart is a ``<div class="rg-chart" data-chart="ID">`` next to ``<script type="application/json" id="ID">``
with ``{labels, values, links, unit, threshold, good}`` (see :class:`gis_service.web.dashboard.Figure`),
drawn by ``web/static/charts.js``. Tests log in with ``tests/web_helpers.py``; add the page to ``PAGES`` in
``tests/test_web_browser.py`` so that it is checked at 375 px and screenshotted (``scripts/screenshots.sh``).

Static files of the pages themselves live in ``web/static/`` (served at ``/web/static/``); the UI kit
(Tabler, htmx, ECharts) comes from npm like Leaflet (``maps/vendor/package.json``), never from a CDN.
"""
