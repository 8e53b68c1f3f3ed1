"""Kernel tags: how a client in a kernel the server started proves which kernel it runs in.

Public names: :data:`HEADER`, :func:`make`, :func:`verify`.

A kernel already shares one secret with the server that started it: the key of its
connection file, which signs every Jupyter message between them. A client running in the
kernel sends ``X-Jupyter-Realtime-Kernel: <kernel id> <signature>`` with its requests, the
signature being HMAC-SHA256, under that key, of the kernel id and the server's token. The
server looks the kernel up, computes the same signature and compares; only then does the
publication's ``sender`` name the kernel (``docs/security.md``). A tag that does not verify
is ignored. Binding the token means a tag sent to another server is worthless to this one.

Imports nothing of the project, so the client can use it in any kernel.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable

__all__ = ["HEADER", "make", "verify"]

HEADER = "X-Jupyter-Realtime-Kernel"
KERNEL_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")


def _signature(key: bytes, kernel_id: str, token: str) -> str:
    message = f"jupyter-realtime kernel\n{kernel_id}\n{token}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def make(key: bytes, kernel_id: str, token: str) -> str:
    """The header value for kernel ``kernel_id`` whose connection key is ``key``."""
    return f"{kernel_id} {_signature(key, kernel_id, token)}"


def verify(value: str, token: str, key_of: Callable[[str], bytes | None]) -> str | None:
    """The kernel id ``value`` proves, or None (malformed, unknown kernel, bad signature).

    ``key_of(kernel_id)``: the connection key of a kernel this server runs, else None.
    """
    kernel_id, _, signature = value.strip().partition(" ")
    if not KERNEL_ID.fullmatch(kernel_id) or not signature:
        return None
    key = key_of(kernel_id)
    if not key:
        return None
    expected = _signature(key, kernel_id, token)
    return kernel_id if hmac.compare_digest(expected, signature.strip()) else None
