"""The mirrored-output format and the sanitiser policy, against the shared fixture.

``tests/fixtures/mirrored_output.json`` is read here and by ``labextension/src/test/watch.test.ts``:
both sides accept its valid messages and refuse its invalid ones. Its hostile HTML and SVG
come out of :mod:`jupyter_realtime.sanitize` with the markup kept and every active part gone;
the TypeScript policy (``labextension/src/watch/sanitize.ts``) declares the same lists.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from jupyter_realtime import sanitize
from jupyter_realtime.mirror_format import FIELDS, parse_message

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = json.loads((ROOT / "tests" / "fixtures" / "mirrored_output.json").read_text())
TS_POLICY = ROOT / "labextension" / "src" / "watch" / "sanitize.ts"
TS_FORMAT = ROOT / "labextension" / "src" / "watch" / "format.ts"


@pytest.mark.parametrize("message", FIXTURE["valid"], ids=lambda m: str(m.get("type")))
def test_valid_messages_are_accepted(message: dict[str, Any]) -> None:
    assert parse_message(message) == message


@pytest.mark.parametrize("case", FIXTURE["invalid"], ids=lambda c: c["why"])
def test_invalid_messages_are_refused(case: dict[str, Any]) -> None:
    assert parse_message(case["message"]) is None


def test_every_known_type_has_a_valid_example() -> None:
    assert set(FIELDS) <= {m["type"] for m in FIXTURE["valid"]}


@pytest.mark.parametrize("case", FIXTURE["hostile"], ids=lambda c: c["name"])
def test_hostile_markup_is_sanitised_and_safe_markup_kept(case: dict[str, Any]) -> None:
    clean = sanitize.safe_bundle({case["mime"]: case["value"], "text/plain": "p"})[case["mime"]]
    for kept in case["kept"]:
        assert kept in clean, (kept, clean)
    for gone in case["gone"]:
        assert gone.lower() not in clean.lower(), (gone, clean)


def test_a_bundle_keeps_only_the_policys_types() -> None:
    bundle = {
        "application/javascript": "window.__pwned = 1",
        "application/vnd.jupyter.widget-view+json": {"model_id": "abc"},
        "text/markdown": "[x](javascript:alert(1)) <img src=x onerror=alert(1)>",
        "image/png": "not base64 <script>",
        "application/json": {"a": 1},
    }
    assert sanitize.safe_bundle(bundle) == {
        "application/json": {"a": 1},
        "text/plain": bundle["text/markdown"],  # shown as text, never rendered
    }
    assert sanitize.safe_bundle({"application/x-thing": 1}) == {
        "text/plain": "[application/x-thing]"
    }


def test_an_output_from_published_fields_is_typed() -> None:
    out = sanitize.safe_output({"output_type": "execute_result", "execution_count": "<b>",
                                "data": {"text/html": "<b onclick=x>1</b>"},
                                "metadata": {"isolated": True}})  # fmt: skip
    assert out == {"output_type": "execute_result", "execution_count": None,
                   "data": {"text/html": "<b>1</b>"}, "metadata": {}}  # fmt: skip
    assert sanitize.safe_output({"output_type": "stream", "name": "<x>", "text": 1}) == {
        "output_type": "stream", "name": "stdout", "text": "1"}  # fmt: skip


def test_terminal_text_keeps_colours_only() -> None:
    text = ("\x1b[31mred\x1b[0m\x1b]0;title\x07\x1b]52;c;ZXZpbA==\x07\x1b[2J"
            "\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\\x1bc\x07\x9b ok\r\n\tend")  # fmt: skip
    assert sanitize.terminal_text(text, colour=True) == "\x1b[31mred\x1b[0mlink ok\r\n\tend"
    assert sanitize.terminal_text(text, colour=False) == "redlink ok\r\n\tend"


def _ts_list(source: str, name: str) -> list[str]:
    found = re.search(rf"{name}\s*=\s*\[(.*?)\]", source, re.DOTALL)
    assert found, name
    return re.findall(r"'([^']*)'", found.group(1))


def test_the_typescript_policy_declares_the_same_lists() -> None:
    source = TS_POLICY.read_text()
    policy = sanitize.POLICY
    assert _ts_list(source, "HTML_TAGS") == policy["html_tags"]
    assert _ts_list(source, "SVG_TAGS") == policy["svg_tags"]
    assert _ts_list(source, "SVG_ATTRIBUTES") == policy["svg_attributes"]
    assert _ts_list(source, "URL_SCHEMES") == policy["url_schemes"]
    html_attributes = sorted({a for names in policy["attributes"].values() for a in names})
    assert sorted(_ts_list(source, "HTML_ATTRIBUTES")) == html_attributes


def test_the_typescript_format_declares_the_same_fields() -> None:
    source = TS_FORMAT.read_text()
    for kind, fields in FIELDS.items():
        found = re.search(rf"\b{kind}: \{{(.*?)\}}", source, re.DOTALL)
        assert found, kind
        declared = dict(re.findall(r"(\w+): '([^']+)'", found.group(1)))
        assert declared == fields, kind
