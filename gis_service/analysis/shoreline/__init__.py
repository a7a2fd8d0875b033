"""The shoreline ratio check (岸线保护比例核算): zone lengths per bank, gaps, overlaps, the 50% rule.

``ratios.shoreline_ratios`` is the entry point; the other modules are its parts: geodesic lengths
and chainage (``chainage``, ``polylines``), stretches and their flags, gaps and overlaps, and the
report with its tables.
"""
