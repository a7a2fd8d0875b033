"""River Chief (河长制) GIS service: the river one-map, deliveries, ratio checks and the problem ledger."""

__version__ = "0.1.0"
