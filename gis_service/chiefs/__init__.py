"""River chiefs (河长制): roster and reach assignments, coverage checks, signboards, patrols, public reports.

One module a concern: :mod:`levels` (levels and chainage text), :mod:`rules` (settings),
:mod:`reaches` and :mod:`coverage` and :mod:`frequency` (pure computations over geometries and
dates), :mod:`tracks` (reading patrol tracks), :mod:`roster` (reading the Excel roster),
:mod:`assignments`, :mod:`signboards`, :mod:`patrols`, :mod:`public_reports` (storage).
"""
