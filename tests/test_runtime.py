"""The shared garbage-collector pause of the bulk stages."""

from __future__ import annotations

import gc

from gis_service.runtime import collector_paused


def test_overlapping_holders_share_the_pause_and_restore_the_collector():
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer holder is still working
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off():
    gc.disable()
    try:
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
