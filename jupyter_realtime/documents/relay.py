"""The server's document is the one truth: every update is applied to it, and what changed
is published in its own encoding.

Public names: :class:`UpdateRoute`, :func:`apply_and_diff`.

A client's Yjs update never reaches the other clients as the client wrote it. The hub hands
every binary publication that starts as a sync update (``0x00 0x01|0x02``, what receivers
apply) to :class:`UpdateRoute`, which

1. parses the sync message strictly and walks the update with :func:`.scan.scan_update`
   (cheap, linear, allocates nothing the update does not hold: absurd declared sizes are
   refused before pycrdt sees them);
2. applies it to the server's pycrdt document and takes the difference of the document
   before and after (``doc.get_update(state_before)``): exactly what the server integrated,
   encoded by the server;
3. publishes that difference on the channel (``Hub.relay``), with the sender's identity, or
   nothing if the update added nothing (it is answered as a ``duplicate``).

So yrs and Yjs only ever read updates that yrs produced from a state it holds: a malformed or
crafted update can be refused, never read two ways. A refusal is a ``bad_request`` reply to the
sender and one log line (no traceback).
"""

from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING, Any

from pycrdt import Doc

from ..brokers.base import Duplicate
from ..errors import ErrorCode, RealtimeError
from ..protocol import Publication
from .codec import EMPTY_UPDATE, MERGE_FIRST, is_sync_update, strict_update_of, update_message
from .scan import AbsurdUpdate, MalformedUpdate, read_state_vector, scan_update

if TYPE_CHECKING:
    from .service import DocumentService, _Document

__all__ = ["UpdateRoute", "apply_and_diff"]

log = logging.getLogger("jupyter_realtime.documents")


class UpdateRefused(Exception):
    """pycrdt could not apply the update; ``diff`` is what it applied before it stopped."""

    def __init__(self, reason: str, diff: bytes) -> None:
        super().__init__(reason)
        self.diff = diff


def apply_and_diff(doc: Doc[Any], update: bytes) -> bytes:
    """Apply ``update`` to ``doc``; what changed, as an update in ``doc``'s encoding
    (:data:`EMPTY_UPDATE` when nothing did). :class:`UpdateRefused` if pycrdt refused it,
    carrying what changed anyway (so that it can still be relayed: the clients must hold
    what the server holds)."""
    before = doc.get_state()
    unchanged = doc.get_update(before)  # nothing but the delete set, which is always sent
    try:
        doc.apply_update(update)
    except Exception as exc:  # pycrdt raises ValueError, or a Rust panic's exception
        diff = doc.get_update(before)
        raise UpdateRefused(str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                            EMPTY_UPDATE if diff == unchanged else diff) from None
    diff = doc.get_update(before)
    return EMPTY_UPDATE if diff == unchanged else diff


class UpdateRoute:
    """The :class:`~jupyter_realtime.hub.PublishRoute` of a :class:`DocumentService`."""

    def __init__(self, service: DocumentService) -> None:
        self.service = service
        self.refused = 0  # updates refused since the start (for tests and metrics)
        # per document: the state vector it had, and where its surrogate pairs are
        self._pairs: weakref.WeakKeyDictionary[_Document, tuple[bytes, dict[int, set[int]]]]
        self._pairs = weakref.WeakKeyDictionary()

    def _pairs_of(self, document: _Document) -> dict[int, set[int]]:
        """The clocks of the first halves of surrogate pairs in the document's text: kept
        up to date from what this route applies, read again from the whole state when the
        document changed otherwise (a load, another server's relay)."""
        state = document.doc.get_state()
        known = self._pairs.get(document)
        if known is not None and known[0] == state:
            return known[1]
        try:
            pairs = scan_update(document.doc.get_update()).pairs
        except MalformedUpdate:  # a state written before updates were scanned
            pairs = {}
        self._pairs[document] = (state, pairs)
        return pairs

    def _applied(self, document: _Document, pairs: dict[int, set[int]], diff: bytes) -> None:
        for client, clocks in scan_update(diff).pairs.items():
            pairs.setdefault(client, set()).update(clocks)
        self._pairs[document] = (document.doc.get_state(), pairs)

    def claims(self, channel: str, payload: bytes, binary: bool) -> bool:
        return binary and is_sync_update(payload)

    async def publish(
        self,
        channel: str,
        payload: bytes,
        *,
        sender: str | None,
        idempotency_key: str | None,
        sender_name: str | None = None,
    ) -> Publication:
        try:
            update = strict_update_of(payload)
            shape = scan_update(update)
        except AbsurdUpdate as exc:
            raise self._refuse(channel, sender, f"an update with absurd sizes: {exc}") from None
        except (MalformedUpdate, ValueError) as exc:
            raise self._refuse(channel, sender, f"a malformed Yjs update: {exc}") from None
        document = await self.service.load(channel)
        document.last_used = self.service.clock()
        missing = shape.missing(read_state_vector(document.doc.get_state()))
        if missing is not None:
            raise self._refuse(channel, sender, f"an update that builds on what the server "
                               f"does not hold ({missing}): {MERGE_FIRST}")
        pairs = self._pairs_of(document)
        split = shape.splits_pair(pairs)
        if split is not None:
            raise self._refuse(channel, sender, f"an update that cuts a surrogate pair in two "
                               f"(at client {split[0]}, clock {split[1]})")
        try:
            diff = apply_and_diff(document.doc, update)
        except UpdateRefused as exc:
            if exc.diff != EMPTY_UPDATE:
                await self.service.hub.relay(
                    channel, update_message(exc.diff), binary=True, sender=sender,
                    sender_name=sender_name,
                )
            raise self._refuse(channel, sender, f"an update pycrdt cannot apply: {exc}") from None
        self._applied(document, pairs, diff)
        if diff == EMPTY_UPDATE:  # nothing new (a repeat, or waiting for what it builds on)
            position = document.position
            return Duplicate(channel, position.epoch, position.offset, payload, binary=True,
                             sender=sender, sender_name=sender_name)
        pub = await self.service.hub.relay(
            channel, update_message(diff), binary=True, sender=sender,
            idempotency_key=idempotency_key, sender_name=sender_name,
        )
        # the document holds it already: its state includes this position as soon as nothing
        # lies between (the delivery of the relay, which may come later, moves it as well)
        position = document.position
        if pub.epoch == position.epoch and pub.offset == position.offset + 1:
            document.position = pub.position
        return pub

    def _refuse(self, channel: str, sender: str | None, reason: str) -> RealtimeError:
        self.refused += 1
        log.info("refused %s on %s from %s", reason, channel, sender)
        return RealtimeError(ErrorCode.BAD_REQUEST, f"refused {reason}")
