"""Ingest stages: read (files, archives, encodings, CRS, tables) → normalise → validation/ → write (``pipeline``)."""
