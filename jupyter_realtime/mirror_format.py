"""The mirrored-output format (version 1, ``docs/kernel.md``), typed and checked.

Public names: the message ``TypedDict`` s (:class:`CellStart` ... :class:`Progress`),
:data:`MirrorMessage`, :data:`FIELDS`, :func:`parse_message`.

``%%realtime mirror`` publishes these messages; ``%realtime watch``, the watch page and
``jupyter realtime watch`` read them. Anyone who may publish to a channel can send anything
there, so a reader checks each message against :data:`FIELDS` before it uses a field:
:func:`parse_message` returns the message when every known field it holds has its type, and
None otherwise (the reader then shows the data as text, as it does for any data that is not
a mirrored message). ``labextension/src/watch/format.ts`` declares the same types and the
same table; ``tests/fixtures/mirrored_output.json`` holds messages that both must accept and
messages that both must refuse (``tests/test_mirror_format.py``, ``watch.test.ts``).
A type that is not known is accepted as it is (later versions only add types) and ignored
by the readers. Imports nothing of the project.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

__all__ = [
    "FIELDS",
    "CellEnd",
    "CellStart",
    "ClearOutput",
    "DisplayData",
    "Error",
    "ExecuteResult",
    "MirrorMessage",
    "Progress",
    "Stream",
    "UpdateDisplayData",
    "parse_message",
]


class _Base(TypedDict, total=False):
    cell: str  # the id of the cell's run; absent on progress published outside a cell


class CellStart(_Base, total=False):
    type: Literal["cell_start"]
    v: int
    execution_count: int | None
    code: str
    time: float


class Stream(_Base, total=False):
    type: Literal["stream"]
    name: Literal["stdout", "stderr"]
    text: str
    skipped: dict[str, int]


class DisplayData(_Base, total=False):
    type: Literal["display_data"]
    data: dict[str, Any]
    metadata: dict[str, Any]
    display_id: str | None
    truncated: dict[str, int]


class UpdateDisplayData(_Base, total=False):
    type: Literal["update_display_data"]
    data: dict[str, Any]
    metadata: dict[str, Any]
    display_id: str | None
    truncated: dict[str, int]


class ExecuteResult(_Base, total=False):
    type: Literal["execute_result"]
    data: dict[str, Any]
    metadata: dict[str, Any]
    execution_count: int | None
    truncated: dict[str, int]


class ClearOutput(_Base, total=False):
    type: Literal["clear_output"]
    wait: bool


class Error(_Base, total=False):
    type: Literal["error"]
    ename: str
    evalue: str
    traceback: list[str]


class CellEnd(_Base, total=False):
    type: Literal["cell_end"]
    status: str
    execution_count: int | None
    duration: float


class Progress(_Base, total=False):
    type: Literal["progress"]
    bar: str
    desc: str | None
    n: float
    total: float | None
    unit: str
    unit_scale: bool | float
    rate: float | None
    elapsed: float | None
    eta: float | None
    postfix: str
    done: bool
    time: float


MirrorMessage = (
    CellStart | Stream | DisplayData | UpdateDisplayData | ExecuteResult | ClearOutput | Error
    | CellEnd | Progress
)  # fmt: skip

# Kinds of field values: the same names in format.ts
Kind = Literal[
    "str", "str?", "int?", "int", "num", "num?", "bool", "bool|num", "bundle", "object",
    "lines", "stream_name",
]

_DISPLAY: dict[str, Kind] = {
    "data": "bundle", "metadata": "object", "display_id": "str?", "truncated": "object",
}  # fmt: skip

#: For each known type, its fields and their kinds; every field is optional.
FIELDS: dict[str, dict[str, Kind]] = {
    "cell_start": {"v": "int", "execution_count": "int?", "code": "str", "time": "num"},
    "stream": {"name": "stream_name", "text": "str", "skipped": "object"},
    "display_data": _DISPLAY,
    "update_display_data": _DISPLAY,
    "execute_result": {"data": "bundle", "metadata": "object", "execution_count": "int?",
                       "truncated": "object"},  # fmt: skip
    "clear_output": {"wait": "bool"},
    "error": {"ename": "str", "evalue": "str", "traceback": "lines"},
    "cell_end": {"status": "str", "execution_count": "int?", "duration": "num"},
    "progress": {"bar": "str", "desc": "str?", "n": "num", "total": "num?", "unit": "str",
                 "unit_scale": "bool|num", "rate": "num?", "elapsed": "num?", "eta": "num?",
                 "postfix": "str", "done": "bool", "time": "num"},  # fmt: skip
}


def _is(kind: Kind, value: Any) -> bool:
    if kind.endswith("?") and value is None:
        return True
    base = kind.rstrip("?")
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if base == "str":
        return isinstance(value, str)
    if base == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if base == "num":
        return number
    if base == "bool":
        return isinstance(value, bool)
    if base == "bool|num":
        return isinstance(value, bool) or number
    if base == "object":
        return isinstance(value, dict)
    if base == "bundle":
        return isinstance(value, dict) and all(isinstance(k, str) for k in value)
    if base == "lines":
        return isinstance(value, list) and all(isinstance(line, str) for line in value)
    if base == "stream_name":
        return value in ("stdout", "stderr")
    raise ValueError(f"unknown field kind {kind!r}")


def parse_message(data: Any) -> MirrorMessage | dict[str, Any] | None:
    """``data`` when it is a mirrored message whose known fields all have their types (a
    message of an unknown ``type`` is returned as it is), else None."""
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return None
    if "cell" in data and not isinstance(data["cell"], str):
        return None
    fields = FIELDS.get(data["type"])
    if fields is None:
        return data
    for name, kind in fields.items():
        if name in data and not _is(kind, data[name]):
            return None
    return data
