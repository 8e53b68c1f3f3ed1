"""The one policy for what others publish: HTML and SVG sanitised, terminals kept inert.

Public names: :data:`POLICY`, :func:`clean_html`, :func:`clean_svg`, :func:`safe_bundle`,
:func:`safe_output`, :func:`terminal_text`.

What arrives on a channel is data (``docs/security.md``): any user who may publish to a
watched channel chooses its bytes, so no view renders them as trusted. Every view of mirrored
output applies this policy: ``%realtime watch`` (this module, with `nh3`_, before an
ipywidgets ``Output`` shows them: JupyterLab renders an ``Output``'s content as trusted),
the watch page (``labextension/src/watch/sanitize.ts``: the same policy for DOMPurify, and
``tests/test_sanitize.py`` checks that the two declare the same lists), and the terminal
watcher (:func:`terminal_text`: no escape sequence but colours).

The policy keeps structure and text: tables, lists, headings, emphasis, links to ``http``,
``https`` and ``mailto``, and SVG shapes and text. It drops scripts and styles with their
content, every event handler and ``style``/``id``/``name`` attribute (an ``id`` would name a
``window`` property), ``src`` (images travel as ``image/*`` entries), and every other element
(``iframe``, ``object``, ``embed``, ``form``, SVG ``use``/``foreignObject``/``animate``...),
keeping the text inside. A MIME bundle keeps only the types below, and never its metadata.

.. _nh3: https://nh3.readthedocs.io
"""

from __future__ import annotations

import re
from typing import Any, Final

__all__ = ["POLICY", "clean_html", "clean_svg", "safe_bundle", "safe_output", "terminal_text"]

_HTML_TAGS = (
    "a abbr b bdi bdo blockquote br caption cite code col colgroup dd del details dfn div dl "
    "dt em figcaption figure h1 h2 h3 h4 h5 h6 hr i ins kbd li mark ol p pre q rp rt ruby s "
    "samp small span strong sub summary sup table tbody td tfoot th thead time tr u ul var wbr"
).split()
_SVG_TAGS = (
    "svg g path rect circle ellipse line polyline polygon text tspan title desc defs "
    "linearGradient radialGradient stop clipPath"
).split()
_ATTRIBUTES = {
    "*": "class title lang dir align valign".split(),
    "a": ["href"],
    "td": ["colspan", "rowspan", "headers"],
    "th": ["colspan", "rowspan", "headers", "scope"],
    "col": ["span"],
    "colgroup": ["span"],
    "ol": ["start", "reversed", "type"],
    "details": ["open"],
    "time": ["datetime"],
}
_SVG_ATTRIBUTES = (
    "viewBox preserveAspectRatio xmlns version width height x y x1 y1 x2 y2 cx cy r rx ry d "
    "points dx dy transform fill fill-opacity fill-rule stroke stroke-width stroke-opacity "
    "stroke-linecap stroke-linejoin stroke-dasharray opacity font-size font-family "
    "font-weight text-anchor dominant-baseline offset stop-color stop-opacity gradientUnits "
    "gradientTransform"
).split()

#: The policy, as data: ``labextension/src/watch/sanitize.ts`` declares the same lists.
POLICY: Final[dict[str, Any]] = {
    "html_tags": _HTML_TAGS,
    "svg_tags": _SVG_TAGS,
    "attributes": _ATTRIBUTES,
    "svg_attributes": _SVG_ATTRIBUTES,
    "url_schemes": ["http", "https", "mailto"],
    "dropped_with_content": ["script", "style"],
    "mime_types": {
        "sanitised": ["text/html", "image/svg+xml"],
        "base64": ["image/png", "image/jpeg", "image/gif", "image/webp"],
        "text": ["text/plain"],
        "as_text": ["text/markdown", "text/latex"],
        "json": ["application/json"],
    },
}

_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")


def _clean(markup: str, tags: set[str], attributes: dict[str, set[str]]) -> str:
    import nh3  # imported when first needed: kernels import this package

    return str(
        nh3.clean(
            markup,
            tags=tags,
            attributes=attributes,
            url_schemes=set(POLICY["url_schemes"]),
            clean_content_tags=set(POLICY["dropped_with_content"]),
            strip_comments=True,
            link_rel="noopener noreferrer nofollow",
        )
    )


def _svg_attributes() -> dict[str, set[str]]:
    svg = set(_SVG_ATTRIBUTES)
    return {tag: svg | set(_ATTRIBUTES["*"]) for tag in _SVG_TAGS}


def clean_html(markup: str) -> str:
    """``markup`` (``text/html``) with only the policy's elements and attributes; SVG inside
    HTML follows the SVG part of the policy."""
    attributes = {tag: set(names) for tag, names in _ATTRIBUTES.items()}
    attributes.update(_svg_attributes())
    return _clean(markup, set(_HTML_TAGS) | set(_SVG_TAGS), attributes)


def clean_svg(markup: str) -> str:
    """``markup`` (``image/svg+xml``) with only the policy's SVG elements and attributes."""
    return _clean(markup, set(_SVG_TAGS), _svg_attributes())


def safe_bundle(data: Any) -> dict[str, Any]:
    """A MIME bundle as a view may render it trusted: HTML and SVG sanitised, images only
    when their text is base64, Markdown and LaTeX as plain text (their renderers would let
    HTML and links through), JSON as it is; every other type dropped. Never empty: a
    bundle with nothing left shows a line naming what it held."""
    if not isinstance(data, dict):
        return {"text/plain": repr(data)}
    mimes = POLICY["mime_types"]
    out: dict[str, Any] = {}
    for mime, value in data.items():
        if mime == "text/html" and isinstance(value, str):
            out[mime] = clean_html(value)
        elif mime == "image/svg+xml" and isinstance(value, str):
            out[mime] = clean_svg(value)
        elif mime in mimes["base64"] and isinstance(value, str) and _BASE64.fullmatch(value):
            out[mime] = value
        elif mime in mimes["text"] and isinstance(value, str):
            out[mime] = value
        elif mime in mimes["json"] and isinstance(value, (dict, list)):
            out[mime] = value
    if "text/plain" not in out:
        for mime in mimes["as_text"]:
            if isinstance(data.get(mime), str):
                out["text/plain"] = data[mime]
                break
    if not out:
        out["text/plain"] = f"[{', '.join(map(str, data)) or 'empty output'}]"
    return out


def safe_output(output: dict[str, Any]) -> dict[str, Any]:
    """A Jupyter output (nbformat's shape) built from published fields, safe to render as
    trusted: known output types only, strings where strings belong, bundles through
    :func:`safe_bundle`, no metadata, and an ``execution_count`` that is an int or None."""
    kind = output.get("output_type")
    if kind == "stream":
        name = "stderr" if output.get("name") == "stderr" else "stdout"
        return {"output_type": "stream", "name": name, "text": str(output.get("text", ""))}
    if kind == "error":
        traceback = output.get("traceback")
        lines = [str(line) for line in traceback] if isinstance(traceback, list) else []
        return {"output_type": "error", "ename": str(output.get("ename", "")),
                "evalue": str(output.get("evalue", "")), "traceback": lines}  # fmt: skip
    safe: dict[str, Any] = {
        "output_type": "execute_result" if kind == "execute_result" else "display_data",
        "data": safe_bundle(output.get("data", {})),
        "metadata": {},
    }
    if kind == "execute_result":
        safe["execution_count"] = as_count(output.get("execution_count"))
    return safe


def as_count(value: Any) -> int | None:
    """An ``execution_count`` as published: an int (not a bool), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# CSI sequences (ESC [ ... final byte), OSC/DCS/APC/PM strings, other ESC sequences
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b[\]PX^_].*?(?:\x07|\x1b\\|$)"
    r"|\x1b[ -/]*[0-~]?",
    re.DOTALL,
)
_SGR = re.compile(r"\x1b\[[0-9;]*m")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f]")


def terminal_text(text: str, colour: bool) -> str:
    """``text`` as a terminal may print it: colours (SGR) only when ``colour``, no other
    escape sequence (no cursor moves, screen clears, window titles, clipboard writes or
    hyperlinks) and no control character but tab, line feed and carriage return."""

    parts: list[str] = []
    start = 0
    for match in _ESCAPES.finditer(text):
        parts.append(_CONTROLS.sub("", text[start : match.start()]))
        if colour and _SGR.fullmatch(match.group(0)):
            parts.append(match.group(0))
        start = match.end()
    parts.append(_CONTROLS.sub("", text[start:]))
    return "".join(parts)
