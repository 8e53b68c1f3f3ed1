"""Tornado adapters between HTTP/WebSocket and sessions.

Each module is one transport of the wire protocol (``docs/protocol.md``): ``websocket``,
``sse``, ``streaming`` (XHR streaming), ``polling`` (long polling and JSONP), ``uplink``
(HTTP sessions' ``POST`` of commands) and ``api`` (REST). ``context`` holds what they share.
"""
