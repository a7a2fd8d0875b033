"""Validate stage: every problem of a normalised delivery, as findings a surveyor can act on.

``validate.validate`` runs the checks: of each feature on its own (``checks``), against its river and
approved range (``river_checks``), the shoreline ratio of a zone set (``ratio_check``); ``context`` is
what they read from the database, ``locate`` places a finding, ``report`` assembles the report.
"""
