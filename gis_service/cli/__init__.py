"""Command-line interface ``rivergis``: one module a command group, assembled in :mod:`.main`."""
