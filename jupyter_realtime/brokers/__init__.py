"""Brokers: where channels keep their history and how publications reach every server.

``base.Broker`` is the interface; ``memory.MemoryBroker`` is the in-process default and
``redis.RedisBroker`` shares channels between servers.
"""
