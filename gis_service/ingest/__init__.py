"""Ingest stages: read (files, encodings, CRS) → normalise (catalogue mapping, EPSG:4490) → validate."""
