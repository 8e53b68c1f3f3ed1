"""Reference servers, each runnable as ``python -m benchmarks.servers.NAME --port P``.

Every server implements the same scenario: subscribers connect, a publish trigger (HTTP
``POST /publish`` or a text message on the control WebSocket ``/pub``) carries a JSON body,
and the server broadcasts one publication frame shaped like the hub's to every subscriber.
"""
