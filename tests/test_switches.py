"""The environment switches (``GRADSTEP_FUSED``, ``GRADSTEP_COMPILED``, ``GRADSTEP_QUIET``) are read one way:
:func:`gradstep.switches.enabled`."""

from __future__ import annotations

import pytest

from gradstep import switches
from gradstep.kernels import loops


@pytest.mark.parametrize(("value", "default", "expected"), [
    (None, True, True), (None, False, False), ("", True, True), ("  ", False, False),
    ("0", True, False), ("false", True, False), (" No ", True, False), ("OFF", True, False),
    ("1", False, True), ("yes", False, True), ("on", False, True), ("anything", False, True),
])
def test_a_switch_is_its_default_unless_set_and_off_only_for_the_off_words(monkeypatch, value, default, expected):
    if value is None:
        monkeypatch.delenv("GRADSTEP_TEST_SWITCH", raising=False)
    else:
        monkeypatch.setenv("GRADSTEP_TEST_SWITCH", value)
    assert switches.enabled("GRADSTEP_TEST_SWITCH", default=default) is expected


@pytest.mark.parametrize("value", sorted(switches.OFF))
def test_the_compiled_epochs_take_every_off_word(monkeypatch, value):
    monkeypatch.setenv("GRADSTEP_COMPILED", value)
    assert not loops.epoch_runner_available()
