"""Lua scripts and the encoding of publications for the Redis broker.

Private to :mod:`jupyter_realtime.brokers.redis`; imports no Redis client, so the encoding
is tested without a server.

Keys of a channel ``C`` under the prefix ``P`` (the ``{C}`` hash tag keeps them in one
slot, so each script touches one slot):

* ``P:{C}:meta``: hash ``e`` (epoch), ``o`` (newest offset) and ``b`` (bytes the history
  stream holds, by :data:`ENTRY_OVERHEAD` plus each blob), made by the first publish or
  subscription (never by a read). Its loss (Redis restarted without persistence, expiry after
  ``meta_ttl``) is what starts a new epoch.
* ``P:{C}:history``: stream whose entry ids are ``<offset>-0`` and whose single field ``m``
  is the *blob*: ``[ts,sender,binary]`` as JSON, a newline, then the raw payload.
* ``P:{C}:presence``: hash client id -> ``<node>|<info JSON>``.
* ``P:{C}:keys``: hash idempotency key -> ``<epoch> <offset>`` of the publication first
  stored with it; ``P:{C}:expiry``: sorted set of the same keys scored by the time (ms) they
  expire. The publish script expires, checks, stores and caps them; both keys expire
  ``idempotency_ttl`` after the last keyed publish.
* pub/sub channel ``P:{C}``: ``p<epoch> <offset> <blob>`` for a publication,
  ``j<info JSON>`` / ``l<info JSON>`` for a join / leave.
* ``P:node:<node>``: a server's heartbeat (expires when the server stops beating).
"""

from __future__ import annotations

from typing import Any

import orjson

from ..protocol import Publication
from .retention import Rule

__all__ = [
    "ADD_PRESENCE",
    "ENTRY_OVERHEAD",
    "OPEN",
    "PUBLISH",
    "READ",
    "REAP_PRESENCE",
    "REMOVE_PRESENCE",
    "decode_blob",
    "decode_entries",
    "encode_blob",
    "retention_args",
    "sharded",
]

# A channel's epoch, made (with offset 0 and no history) when its meta key is missing;
# only a publish or a subscription calls it.
_ENSURE_EPOCH = """
local function ensure_epoch(meta, stream, new_epoch)
  local epoch = redis.call('HGET', meta, 'e')
  if epoch then return epoch end
  redis.call('HSET', meta, 'e', new_epoch, 'o', 0)
  redis.call('DEL', stream)
  return new_epoch
end
"""

ENTRY_OVERHEAD = 64  # bytes a stream entry is counted as beyond its blob

# The retention of a channel's stream: drop entries from its head, oldest first, while it
# holds more than `count` entries or `max_bytes` bytes (the meta key's `b`), or its head
# is older than `cutoff` (the blob starts with "[ts,"); each argument nil: no bound. The
# byte counter goes down by what is dropped; a stream that is gone (expired) holds 0, and
# one without a counter (written by an older version) is counted first.
_TRIM = f"local ENTRY_OVERHEAD = {ENTRY_OVERHEAD}\n" + """
local function expired(entry, cutoff)
  local ts = tonumber(string.match(entry[2][2], '^%[([^,]+),'))
  return ts ~= nil and ts < cutoff
end
local function count_bytes(meta, stream)
  if redis.call('HEXISTS', meta, 'b') == 1 then return end
  local total = 0  -- a stream written before the counter existed: counted once
  for _, entry in ipairs(redis.call('XRANGE', stream, '-', '+')) do
    total = total + #entry[2][2] + ENTRY_OVERHEAD
  end
  redis.call('HSET', meta, 'b', total)
end
local function trim_history(meta, stream, count, max_bytes, cutoff)
  count_bytes(meta, stream)
  while true do
    local length = redis.call('XLEN', stream)
    if length == 0 then
      if redis.call('HEXISTS', meta, 'b') == 1 then redis.call('HSET', meta, 'b', 0) end
      return
    end
    local size = tonumber(redis.call('HGET', meta, 'b') or '0')
    local extra = 0
    if count then extra = length - count end
    local over = extra > 0 or (max_bytes ~= nil and size > max_bytes)
    if not over and cutoff then
      local head = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)
      over = expired(head[1], cutoff)
    end
    if not over then return end
    local n = math.min(math.max(extra, 16), 1024)
    local batch = redis.call('XRANGE', stream, '-', '+', 'COUNT', n)
    local dropped, gone, keep = 0, 0, nil
    for _, entry in ipairs(batch) do
      if gone < extra or (max_bytes and size - dropped > max_bytes)
          or (cutoff and expired(entry, cutoff)) then
        dropped = dropped + #entry[2][2] + ENTRY_OVERHEAD
        gone = gone + 1
      else
        keep = entry[1]
        break
      end
    end
    if gone == 0 then return end
    if keep then
      redis.call('XTRIM', stream, 'MINID', keep)
    else
      local last = tonumber(string.match(batch[#batch][1], '^(%d+)'))
      redis.call('XTRIM', stream, 'MINID', string.format('%d-0', last + 1))
    end
    redis.call('HINCRBY', meta, 'b', -dropped)
    if keep then return end
  end
end
local function bound(arg)
  if arg == '' then return nil end
  return tonumber(arg)
end
"""

# Idempotency keys: forget expired ones (a batch at a time: a key is remembered at least its
# ttl), then the epoch and offset a key was stored with, or nil.
_KNOWN_KEY = """
local function known_key(keys, expiry, key, now)
  local old = redis.call('ZRANGEBYSCORE', expiry, '-inf', now, 'LIMIT', 0, 256)
  if #old > 0 then
    redis.call('HDEL', keys, unpack(old))
    redis.call('ZREM', expiry, unpack(old))
  end
  local known = redis.call('HGET', keys, key)
  if not known then return nil end
  local space = string.find(known, ' ', 1, true)
  return {string.sub(known, 1, space - 1), tonumber(string.sub(known, space + 1)), 1}
end
local function remember_key(keys, expiry, key, now, ttl, cap, epoch, offset)
  redis.call('HSET', keys, key, epoch .. ' ' .. string.format('%d', offset))
  redis.call('ZADD', expiry, now + ttl, key)
  local over = redis.call('ZCARD', expiry) - cap
  if over > 0 then
    local oldest = redis.call('ZPOPMIN', expiry, over)
    for i = 1, #oldest, 2 do redis.call('HDEL', keys, oldest[i]) end
  end
  redis.call('PEXPIRE', keys, ttl)
  redis.call('PEXPIRE', expiry, ttl)
end
"""

# KEYS: meta, history, keys, expiry. ARGV: blob, epoch for a new channel, the channel's
# retention: count ('' no bound; 0 keeps nothing), bytes (''), expiry cutoff (ts, or ''),
# history ttl ms; then meta ttl ms, pub/sub channel, idempotency key (or ''), now ms,
# idempotency ttl ms, keys per channel. Returns {epoch, offset, duplicate}: for a known key
# the first publication's, and nothing is stored or published.
PUBLISH = (
    _ENSURE_EPOCH
    + _TRIM
    + _KNOWN_KEY
    + """
local key = ARGV[9]
if key ~= '' then
  local known = known_key(KEYS[3], KEYS[4], key, tonumber(ARGV[10]))
  if known then return known end
end
local epoch = ensure_epoch(KEYS[1], KEYS[2], ARGV[2])
local offset = redis.call('HINCRBY', KEYS[1], 'o', 1)
local count = bound(ARGV[3])
if count ~= 0 then
  if redis.call('EXISTS', KEYS[2]) == 0 then redis.call('HSET', KEYS[1], 'b', 0) end
  count_bytes(KEYS[1], KEYS[2])
  redis.call('XADD', KEYS[2], string.format('%d-0', offset), 'm', ARGV[1])
  redis.call('HINCRBY', KEYS[1], 'b', #ARGV[1] + ENTRY_OVERHEAD)
  trim_history(KEYS[1], KEYS[2], count, bound(ARGV[4]), bound(ARGV[5]))
  if ARGV[6] ~= '0' then redis.call('PEXPIRE', KEYS[2], ARGV[6]) end
end
if ARGV[7] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[7]) end
if key ~= '' then
  remember_key(KEYS[3], KEYS[4], key, tonumber(ARGV[10]), tonumber(ARGV[11]),
               tonumber(ARGV[12]), epoch, offset)
end
redis.call('PUBLISH', ARGV[8], 'p' .. epoch .. ' ' .. string.format('%d', offset) .. ' ' .. ARGV[1])
return {epoch, offset, 0}
"""
)

# KEYS: meta, history. ARGV: expiry cutoff (or ''), count (''), bytes (''), mode
# ('pos', 'latest' or 'after'), epoch and offset to read after (a mismatched epoch reads
# from the oldest), limit (0: all). Returns {epoch, offset, entries, first kept offset}.
# Creates nothing and extends nothing: a channel without a meta key is {'', 0, {}, 1}
# (before its start); the meta key lives meta_ttl after the last publish.
READ = (
    _TRIM
    + """
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then return {'', 0, {}, 1} end
local offset = tonumber(redis.call('HGET', KEYS[1], 'o') or '0')
if ARGV[4] == 'pos' then return {epoch, offset, {}, 0} end
trim_history(KEYS[1], KEYS[2], bound(ARGV[2]), bound(ARGV[3]), bound(ARGV[1]))
local count = {}
if ARGV[7] ~= '0' then count = {'COUNT', ARGV[7]} end
local entries
if ARGV[4] == 'latest' then
  entries = redis.call('XREVRANGE', KEYS[2], '+', '-', unpack(count))
elseif ARGV[5] == epoch then
  local start = string.format('%d-0', tonumber(ARGV[6]) + 1)
  entries = redis.call('XRANGE', KEYS[2], start, '+', unpack(count))
else
  entries = redis.call('XRANGE', KEYS[2], '-', '+', unpack(count))
end
local first = offset + 1
local head = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
if head[1] then first = tonumber(string.match(head[1][1], '^(%d+)')) end
return {epoch, offset, entries, first}
"""
)

# KEYS: meta, history. ARGV: epoch for a new channel, meta ttl ms. A subscription gives
# an unknown channel its epoch (offset 0), so subscribers hold a position in a real epoch.
OPEN = (
    _ENSURE_EPOCH
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then
  ensure_epoch(KEYS[1], KEYS[2], ARGV[1])
  if ARGV[2] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
end
return 1
"""
)

# KEYS: presence. ARGV: client, "<node>|<info>", ttl ms, pub/sub channel, info.
ADD_PRESENCE = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', ARGV[4], 'j' .. ARGV[5])
return 1
"""

# KEYS: presence. ARGV: client, pub/sub channel. Returns 1 if the client was present.
REMOVE_PRESENCE = """
local value = redis.call('HGET', KEYS[1], ARGV[1])
if not value then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[2], 'l' .. string.sub(value, string.find(value, '|', 1, true) + 1))
return 1
"""

# KEYS: presence. ARGV: pub/sub channel, then the dead nodes. Removes their clients and
# announces each leave once (HDEL inside the script: two reapers cannot both announce).
REAP_PRESENCE = """
local dead = {}
for i = 2, #ARGV do dead[ARGV[i]] = true end
local all = redis.call('HGETALL', KEYS[1])
local removed = 0
for i = 1, #all, 2 do
  local value = all[i + 1]
  local bar = string.find(value, '|', 1, true)
  if dead[string.sub(value, 1, bar - 1)] then
    redis.call('HDEL', KEYS[1], all[i])
    redis.call('PUBLISH', ARGV[1], 'l' .. string.sub(value, bar + 1))
    removed = removed + 1
  end
end
return removed
"""


def sharded(script: str) -> str:
    """The script for a Redis Cluster: publishing on the channel's shard only (SPUBLISH,
    Redis 7), whose pub/sub channel ``P:{C}`` is in the slot of the script's keys."""
    return script.replace("redis.call('PUBLISH',", "redis.call('SPUBLISH',")


def encode_blob(payload: bytes, *, binary: bool, sender: str | None, ts: float) -> bytes:
    """A publication's fields but channel, epoch and offset (those come from Redis)."""
    return orjson.dumps([ts, sender, 1 if binary else 0]) + b"\n" + payload


def decode_blob(channel: str, epoch: str, offset: int, blob: bytes) -> Publication:
    head, _, payload = blob.partition(b"\n")
    ts, sender, binary = orjson.loads(head)
    return Publication(
        channel, epoch, offset, payload, binary=bool(binary), ts=float(ts), sender=sender
    )


def decode_entries(channel: str, epoch: str, entries: list[Any]) -> list[Publication]:
    """Stream entries ``[id, [b"m", blob]]`` as publications, in the order given."""
    return [
        decode_blob(channel, epoch, int(entry_id.split(b"-", 1)[0]), fields[1])
        for entry_id, fields in entries
    ]


def retention_args(rule: Rule, now: float) -> list[Any]:
    """A channel's rule as the scripts take it: count, bytes and expiry cutoff (a
    timestamp), each '' for no bound."""
    cutoff = rule.cutoff(now)
    return [
        "" if rule.count is None else rule.count,
        "" if rule.bytes is None else rule.bytes,
        "" if cutoff is None else repr(cutoff),
    ]
