"""River Chief (河长制) GIS service: the river one-map, deliveries, ratio checks and the problem ledger.

Imports flow downwards through these layers (lowest first; ``tests/test_architecture.py`` checks it):
base (``errors``, ``settings``, ``resources``, ``runtime``, ``clock``) < ``db`` < records and pure
analysis (``access``, ``roles``, ``accounts``, ``token_admin``, ``catalogue``, ``district``, ``analysis``)
< ``store`` < ``ingest`` < ``ledger`` < ``export`` < ``chiefs``, ``quality`` < ``webmap``, ``demo``
< ``api``, ``ogc``, ``web`` < ``api.app`` (the factory) < ``cli``. A module imports its own layer and
those below, at its top; only the CLI loads its command modules inside functions. Settings are read
from the environment once where a process starts (the app factory, the CLI) and passed down.
"""

__version__ = "0.1.0"
