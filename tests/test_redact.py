"""``redact_url``: what the extension's log lines and messages show of a URL (pure logic)."""

from __future__ import annotations

import pytest

from jupyter_realtime.brokers.redis import redact
from jupyter_realtime.redact import redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("/a%40b/realtime/sse?channel=x&token=abc", "/a%40b/realtime/sse?channel=x&token=[secret]"),
        (
            "/realtime/ws?_xsrf=1&TOKEN=2&last_event_id=3",
            "/realtime/ws?_xsrf=[secret]&TOKEN=[secret]&last_event_id=3",
        ),
        ("redis://:pw@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        (
            "rediss://alice:pw@host/0?password=pw2&db=1",
            "rediss://alice:***@host/0?password=[secret]&db=1",
        ),
        ("redis+cluster://127.0.0.1:7000", "redis+cluster://127.0.0.1:7000"),
        ("http://h:bad/x?token=t", "http://h:bad/x?token=[secret]"),
        ("/realtime/watch/c", "/realtime/watch/c"),
    ],
)
def test_secrets_are_hidden_and_the_rest_kept(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_the_redis_broker_redacts_query_passwords_too() -> None:
    assert redact("redis://127.0.0.1:6379/0?password=pw") == (
        "redis://127.0.0.1:6379/0?password=[secret]"
    )
