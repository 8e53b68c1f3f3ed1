"""Retention rules (``brokers/retention.py``): sizes, ages, patterns and their errors.

Pure logic; every broker enforcing them is ``test_broker_contract.py``, a server started
with them ``test_sqlite_servers.py``."""

from __future__ import annotations

from typing import Any

import pytest

from jupyter_realtime.brokers.retention import Retention, Rule, parse_age, parse_bytes


@pytest.mark.parametrize(
    ("value", "size"),
    [(1000, 1000), ("256MiB", 256 << 20), ("1.5GB", 1_500_000_000), ("64k", 65536),
     ("10 KB", 10_000), ("2g", 2 << 30), (0, None), (None, None)],
)  # fmt: skip
def test_sizes_with_units(value: Any, size: int | None) -> None:
    assert parse_bytes(value) == size


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(60, 60.0), ("45s", 45.0), ("15m", 900.0), ("12h", 43200.0), ("30d", 2592000.0),
     ("2w", 1209600.0), (0, None), (None, None)],
)  # fmt: skip
def test_ages_with_units(value: Any, seconds: float | None) -> None:
    assert parse_age(value) == seconds


def test_first_matching_pattern_decides_and_leaves_out_bounds_to_the_default() -> None:
    default = Rule(bytes=1000, age=60.0)
    rules = Retention.from_config(
        {"train:*": {"bytes": "1MiB", "age": "30d"}, "re:chat:[a-z]+": {"count": 5},
         "train:special": {"count": 1}},
        default,
    )  # fmt: skip
    assert rules.rule("train:x") == Rule(bytes=1 << 20, age=30 * 86400.0)
    assert rules.rule("train:special") == rules.rule("train:x")  # train:* came first
    assert rules.rule("chat:abc") == Rule(bytes=1000, age=60.0, count=5)
    assert rules.rule("chat:ABC") == default  # the regular expression must match it whole
    assert rules.rule("other") == default
    assert rules.shortest_age == 60.0 and rules.longest_age == 30 * 86400.0
    assert Retention.from_config({"x": {"age": None}}, default).longest_age is None


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"train:*": {"bytes": "lots"}}, r"retention\['train:\*'\]\['bytes'\]: cannot read 'lots'"),
        ({"train:*": {"bytes": "5 parsecs"}}, r"\['bytes'\]: unknown unit 'parsecs'"),
        ({"train:*": {"age": -1}}, r"\['age'\]: must not be negative"),
        ({"train:*": {"count": 1.5}}, r"\['count'\]: expected a whole number"),
        ({"train:*": {"size": 3}}, r"retention\['train:\*'\]: unknown keys \['size'\]"),
        ({"train:*": 3}, r"retention\['train:\*'\]: expected a dict"),
        ({"re:(": {"count": 1}}, r"retention\['re:\('\]: bad channel pattern"),
        ({"": {"count": 1}}, r"retention\[''\]: bad channel pattern"),
    ],
)
def test_bad_rules_are_named(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Retention.from_config(spec, Rule(), "retention")
