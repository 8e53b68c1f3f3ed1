"""Which users Jupyter made up for one request: the anonymous users of the shared token.

Public names: :func:`watch_anonymous_users`, :func:`is_anonymous`.

Jupyter's identity provider calls its public ``generate_anonymous_user(handler)`` for a
request that presents the server's shared token (or reaches a server without
authentication) but names nobody: a new random user per request. Those requests are the
*token holder* for realtime (``RealtimeContext.token_user``). A provider that maps tokens
to users (a subclass overriding ``get_user``/``get_user_token``) names a real user even
when her token equals the shared one; that user must stay hers. Guessing from the user's
shape (a hex id, "Anonymous Io") would misfire, so the provider's own method is wrapped:
the user it returns is remembered on the handler it was made for, and only that exact
object counts as anonymous.
"""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["is_anonymous", "watch_anonymous_users"]

_ATTR = "_realtime_anonymous_user"  # on the handler the user was generated for


def watch_anonymous_users(provider: Any) -> None:
    """Wrap ``provider.generate_anonymous_user`` (once) so that its users can be told apart."""
    original = getattr(provider, "generate_anonymous_user", None)
    if original is None or getattr(original, "_realtime_watched", False):
        return

    @functools.wraps(original)
    def generate_anonymous_user(handler: Any) -> Any:
        user = original(handler)
        try:
            setattr(handler, _ATTR, user)
        except AttributeError:  # a handler with __slots__: its users count as named
            pass
        return user

    generate_anonymous_user._realtime_watched = True  # type: ignore[attr-defined]
    provider.generate_anonymous_user = generate_anonymous_user


def is_anonymous(handler: Any, user: Any) -> bool:
    """Whether ``user`` is one the identity provider generated for this very request."""
    return user is not None and getattr(handler, _ATTR, None) is user
