"""River chiefs (河长制): roster and reach assignments, coverage checks, signboards, patrols, public reports.

One module a concern. Pure computations over geometries and dates: :mod:`.levels` (levels and
chainage text), :mod:`.reaches` (a reach of a centerline, gaps and overlaps), :mod:`.coverage`
(a track's share of a reach), :mod:`.frequency` (patrol periods, overdue). Reading files:
:mod:`.roster` (the Excel roster), :mod:`.tracks` (GPX, GeoJSON, KML). Storage: :mod:`.assignments`,
:mod:`.signboards`, :mod:`.patrols`, :mod:`.public_reports` (with :mod:`.public_photos`), figures
by town in :mod:`.stats` and workbooks in :mod:`.sheets`; settings in :mod:`.rules`.
"""
