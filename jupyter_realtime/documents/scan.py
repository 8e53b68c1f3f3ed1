"""A cheap structural check of a Yjs update (v1 encoding) before any CRDT decodes it.

Public names: :func:`scan_update`, :class:`UpdateShape`, :func:`read_state_vector`,
:class:`MalformedUpdate`, :class:`AbsurdUpdate`.

yrs (pycrdt) and Yjs do not decode malformed updates the same way: one may reject what the
other applies, read a duplicated client block differently, or replace invalid UTF-8 where the
other fails. And both allocate from sizes the update declares (a 7-byte update that declares
100 million clients costs yrs a 128 MB allocation). This walk reads the lib0 encoding of an
update (``Y.encodeStateAsUpdate``, y-crdt's ``Update::decode_v1``) without building anything:
every count and length it meets is compared with the bytes still present *before* it is
used, so its cost is linear in the size of the update and it allocates nothing that the
update does not hold. It refuses what either implementation might read differently:

* counts larger than the bytes left (clients, structs, deletions, JSON/any elements),
* integers above 2**53 - 1 (JavaScript's safe range) and clocks that would pass it,
* a client appearing twice in the struct section or in the delete set,
* content and type references that Yjs does not know, strings that are not UTF-8 and
  JSON that does not parse, ``any`` values nested deeper than :data:`MAX_DEPTH`,
* zero-length ranges, skip structs (gaps) and trailing bytes.

It also returns what the update builds on (:class:`UpdateShape`): the clock ranges it adds
and the ids it refers to. An update that refers to anything the server does not hold would
wait in one implementation's pending set and be integrated by the other (yrs integrates an
item after a gap in its own client's clocks; Yjs waits for the gap to fill), so the server
refuses it (:meth:`UpdateShape.missing`).

The document format is https://github.com/yjs/yjs/blob/main/src/utils/encoding.js (v1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

__all__ = [
    "MAX_DEPTH", "AbsurdUpdate", "MalformedUpdate", "UpdateShape", "read_state_vector",
    "scan_update",
]

#: how deeply ``any`` values (arrays and maps inside ContentAny) may nest
MAX_DEPTH = 32
_SAFE = (1 << 53) - 1
_ANY_FIXED = {127: 0, 126: 0, 124: 4, 123: 8, 122: 8, 121: 0, 120: 0}  # undefined ... true
_TYPE_REFS_WITH_KEY = (3, 5)  # YXmlElement and YXmlHook carry a node name
_MAX_TYPE_REF = 6  # YXmlText


class MalformedUpdate(ValueError):
    """The bytes are not a well-formed Yjs update (v1)."""


class AbsurdUpdate(MalformedUpdate):
    """The update declares more (clients, structs, bytes) than it holds."""


@dataclass
class UpdateShape:
    """What an update adds (``blocks``: client -> (first clock, end clock)) and the ids it
    refers to outside itself (``refs``: client -> highest clock referred to, origins,
    parents and deleted ranges)."""

    blocks: dict[int, tuple[int, int]] = field(default_factory=dict)
    refs: dict[int, int] = field(default_factory=dict)
    #: where the update cuts text: ids an item is inserted after (origins), before (right
    #: origins, as the clock before them), and the last clocks before and in deleted ranges
    cuts: list[tuple[int, int]] = field(default_factory=list)
    #: the clocks of the first halves of surrogate pairs in the strings it adds
    pairs: dict[int, set[int]] = field(default_factory=dict)

    def refer(self, client: int, clock: int) -> None:
        if clock > self.refs.get(client, -1):
            self.refs[client] = clock

    def missing(self, state: dict[int, int]) -> str | None:
        """What this update builds on that a document of state vector ``state`` lacks
        (None if nothing)."""
        for client, (start, _) in self.blocks.items():
            if start > state.get(client, 0):
                return f"client {client}'s clocks {state.get(client, 0)} to {start}"
        for client, clock in self.refs.items():
            known = max(state.get(client, 0), self.blocks.get(client, (0, 0))[1])
            if clock >= known:
                return f"client {client}'s clock {clock}"
        return None

    def splits_pair(self, pairs: dict[int, set[int]]) -> tuple[int, int] | None:
        """The id where this update would cut a surrogate pair (of ``pairs``, or of its own
        strings) in two, if it would: Yjs then reads U+FFFD where yrs drops the half."""
        for client, clock in self.cuts:
            if clock in pairs.get(client, ()) or clock in self.pairs.get(client, ()):
                return client, clock
        return None


class _Reader:
    __slots__ = ("data", "pos", "end")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0
        self.end = len(data)

    def left(self) -> int:
        return self.end - self.pos

    def byte(self) -> int:
        if self.pos >= self.end:
            raise MalformedUpdate(f"the update ends early at byte {self.pos}")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def uint(self) -> int:
        data, pos, end = self.data, self.pos, self.end
        value = shift = 0
        while pos < end:
            b = data[pos]
            pos += 1
            value |= (b & 0x7F) << shift
            if b < 0x80:
                self.pos = pos
                if value > _SAFE:
                    raise MalformedUpdate(f"an integer above 2**53 at byte {pos}")
                return value
            shift += 7
            if shift > 56:
                raise MalformedUpdate(f"an integer longer than 8 bytes at byte {pos}")
        raise MalformedUpdate(f"the update ends early at byte {end}")

    def sint(self) -> None:
        b = self.byte()
        shift = 6
        while b & 0x80:
            b = self.byte()
            shift += 7
            if shift > 60:
                raise MalformedUpdate(f"an integer longer than 8 bytes at byte {self.pos}")

    def count(self, what: str, min_bytes: int) -> int:
        """A declared number of elements, each at least ``min_bytes`` long."""
        at = self.pos
        n = self.uint()
        if n * min_bytes > self.left():
            raise AbsurdUpdate(
                f"{n} {what} declared at byte {at}, but only {self.left()} bytes follow"
            )
        return n

    def buf(self) -> bytes:
        at = self.pos
        n = self.uint()
        if n > self.left():
            raise AbsurdUpdate(f"{n} bytes declared at byte {at}, but only {self.left()} follow")
        start = self.pos
        self.pos += n
        return self.data[start:self.pos]

    def string(self) -> str:
        raw = self.buf()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedUpdate(f"a string that is not UTF-8 before byte {self.pos}") from None

    def json(self) -> None:
        text = self.string()
        if text == "undefined":
            return
        try:
            orjson.loads(text)
        except orjson.JSONDecodeError:
            raise MalformedUpdate(f"JSON that does not parse before byte {self.pos}") from None

    def any(self, depth: int = 0) -> None:
        if depth > MAX_DEPTH:
            raise MalformedUpdate(f"values nested deeper than {MAX_DEPTH} at byte {self.pos}")
        tag = self.byte()
        if tag in _ANY_FIXED:
            size = _ANY_FIXED[tag]
            if size > self.left():
                raise MalformedUpdate(f"the update ends early at byte {self.end}")
            self.pos += size
        elif tag == 125:
            self.sint()
        elif tag == 119:
            self.string()
        elif tag == 118:
            for _ in range(self.count("map entries", 2)):
                self.string()
                self.any(depth + 1)
        elif tag == 117:
            for _ in range(self.count("array elements", 1)):
                self.any(depth + 1)
        elif tag == 116:
            self.buf()
        else:
            raise MalformedUpdate(f"an unknown value type {tag} at byte {self.pos - 1}")


def _content(r: _Reader, ref: int, client: int, clock: int, shape: UpdateShape) -> int:
    """Walk one item's content; its length in clock units."""
    if ref == 1:  # deleted
        return r.uint()
    if ref == 2:  # JSON
        n = r.count("JSON values", 1)
        for _ in range(n):
            r.json()
        return n
    if ref == 3:  # binary
        r.buf()
        return 1
    if ref == 4:  # string: its length in UTF-16 code units, as Yjs counts
        text = r.string()
        units = len(text.encode("utf-16-le")) // 2
        if units != len(text):
            pairs, at = shape.pairs.setdefault(client, set()), clock
            for ch in text:
                if ord(ch) > 0xFFFF:
                    pairs.add(at)
                    at += 2
                else:
                    at += 1
        return units
    if ref == 5:  # embed
        r.json()
        return 1
    if ref == 6:  # format
        r.string()
        r.json()
        return 1
    if ref == 7:  # type
        type_ref = r.uint()
        if type_ref > _MAX_TYPE_REF:
            raise MalformedUpdate(f"an unknown type reference {type_ref} at byte {r.pos}")
        if type_ref in _TYPE_REFS_WITH_KEY:
            r.string()
        return 1
    if ref == 8:  # any
        n = r.count("values", 1)
        for _ in range(n):
            r.any()
        return n
    if ref == 9:  # subdocument
        r.string()
        r.any()
        return 1
    raise MalformedUpdate(f"an unknown content type {ref} at byte {r.pos}")


def _structs(r: _Reader, shape: UpdateShape) -> None:
    for _ in range(r.count("clients", 3)):
        n = r.count("structs", 1)
        client = r.uint()
        clock = start = r.uint()
        if client in shape.blocks:
            raise MalformedUpdate(f"client {client} appears twice in the update")
        for _ in range(n):
            info = r.byte()
            ref = info & 0x1F
            if ref == 10:
                raise MalformedUpdate(f"a gap (skip struct) at byte {r.pos - 1}")
            if ref == 0:  # GC
                length = r.uint()
            else:
                if info & 0x80:  # origin: inserted after it
                    c, k = r.uint(), r.uint()
                    shape.refer(c, k)
                    shape.cuts.append((c, k))
                if info & 0x40:  # right origin: inserted before it
                    c, k = r.uint(), r.uint()
                    shape.refer(c, k)
                    shape.cuts.append((c, k - 1))
                if not info & 0xC0:  # no origin: the parent is named
                    if r.uint() == 1:
                        r.string()
                    else:
                        shape.refer(r.uint(), r.uint())
                    if info & 0x20:
                        r.string()  # the key in a map
                length = _content(r, ref, client, clock, shape)
            if length == 0:
                raise MalformedUpdate(f"a struct of length 0 before byte {r.pos}")
            clock += length
            if clock > _SAFE:
                raise MalformedUpdate(f"a clock above 2**53 before byte {r.pos}")
        shape.blocks[client] = (start, clock)


def _delete_set(r: _Reader, shape: UpdateShape) -> None:
    seen: set[int] = set()
    for _ in range(r.count("clients in the delete set", 2)):
        client = r.uint()
        if client in seen:
            raise MalformedUpdate(f"client {client} appears twice in the delete set")
        seen.add(client)
        for _ in range(r.count("deleted ranges", 2)):
            clock = r.uint()
            length = r.uint()
            if length == 0 or clock + length > _SAFE:
                raise MalformedUpdate(f"a deleted range out of bounds before byte {r.pos}")
            shape.refer(client, clock + length - 1)
            shape.cuts.append((client, clock - 1))
            shape.cuts.append((client, clock + length - 1))


def scan_update(update: bytes) -> UpdateShape:
    """What ``update`` adds and refers to; :class:`MalformedUpdate` (:class:`AbsurdUpdate`
    for declared sizes beyond the bytes present) unless it is a well-formed Yjs v1 update."""
    r = _Reader(update)
    shape = UpdateShape()
    _structs(r, shape)
    _delete_set(r, shape)
    if r.left():
        raise MalformedUpdate(f"{r.left()} bytes after the end of the update")
    return shape


def read_state_vector(state: bytes) -> dict[int, int]:
    """A decoded state vector (``Y.encodeStateVector``): client -> next clock."""
    r = _Reader(state)
    vector = {}
    for _ in range(r.count("clients", 2)):
        client = r.uint()
        vector[client] = r.uint()
    if r.left():
        raise MalformedUpdate(f"{r.left()} bytes after the end of the state vector")
    return vector
