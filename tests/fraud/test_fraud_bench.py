"""labkit.fraud.bench: measure() refuses a bad engine before it creates anything."""

from __future__ import annotations

import pytest

from labkit import fraud


def test_measure_refuses_a_bad_engine_before_creating_a_topic(untouchable):
    """The engine is checked first: with a bad one, measure() never touches the lab, so it
    cannot leave its two scratch topics behind."""
    with pytest.raises(ValueError, match="engine must be 'datastream', 'windowed' or 'sql', not 'spark'"):
        fraud.measure(untouchable, engine="spark")
