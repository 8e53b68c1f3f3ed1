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
  is the *blob*: ``[ts,sender,binary]``, then ``sender_name`` when one was stamped or the
  publication has a key (``null`` when none was stamped), then the ``key`` of a keyed
  publication, as JSON; a newline, then the raw payload (blobs of older versions have
  fewer fields).
* ``P:{C}:latest``: hash publication key -> ``<epoch> <offset> <blob>``, the latest
  publication of each key (kept beyond the stream's bounds); ``P:{C}:latest_order``: sorted
  set of the same keys scored by that offset, to forget the key published longest ago
  beyond ``latest_keys``. Both expire with the meta key and are deleted with a new epoch.
* ``P:{C}:presence``: hash client id -> ``<node>|<info JSON>``.
* ``P:{C}:keys``: hash idempotency key -> ``<epoch> <offset>`` of the publication first
  stored with it; ``P:{C}:expiry``: sorted set of the same keys scored by the time (ms) they
  expire. The publish script expires, checks, stores and caps them; both keys expire
  ``idempotency_ttl`` after the last keyed publish.
* pub/sub channel ``P:{C}``: ``p<epoch> <offset> <blob>`` for a publication,
  ``j<info JSON>`` / ``l<info JSON>`` for a join / leave.
* ``P:node:<node>``: a server's heartbeat (expires when the server stops beating).
* ``P:usage:<key>:<window>``: a usage counter of one time window (``add_usage``), expiring
  after its window.
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
    "READ_LATEST",
    "READ_LATEST_PREFIX",
    "REAP_PRESENCE",
    "REMOVE_PRESENCE",
    "USAGE",
    "decode_blob",
    "decode_entries",
    "decode_latest",
    "encode_blob",
    "retention_args",
    "sharded",
]

# A channel's epoch, made (with offset 0 and no history) when its meta key is missing;
# only a publish or a subscription calls it.
_ENSURE_EPOCH = """
local function ensure_epoch(meta, stream, new_epoch, ...)
  local epoch = redis.call('HGET', meta, 'e')
  if epoch then return epoch end
  redis.call('HSET', meta, 'e', new_epoch, 'o', 0)
  redis.call('DEL', stream, ...)
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

# KEYS: meta, history, keys, expiry, latest, latest_order. ARGV: blob, epoch for a new
# channel, the channel's retention: count ('' no bound; 0 keeps nothing), bytes (''), expiry
# cutoff (ts, or ''), history ttl ms; then meta ttl ms, pub/sub channel, idempotency key (or
# ''), now ms, idempotency ttl ms, keys per channel, publication key (or ''), latest keys per
# channel. Returns {epoch, offset, duplicate}: for a known idempotency key the first
# publication's, and nothing is stored or published.
# The latest publication of a key, and the cap on keys (the one published longest ago goes).
_KEEP_LATEST = """
local function keep_latest(latest, order, key, cap, epoch, offset, blob)
  redis.call('HSET', latest, key, epoch .. ' ' .. string.format('%d', offset) .. ' ' .. blob)
  redis.call('ZADD', order, offset, key)
  local over = redis.call('ZCARD', order) - cap
  if over > 0 then
    local oldest = redis.call('ZPOPMIN', order, over)
    for i = 1, #oldest, 2 do redis.call('HDEL', latest, oldest[i]) end
  end
end
"""

PUBLISH = (
    _ENSURE_EPOCH
    + _TRIM
    + _KNOWN_KEY
    + _KEEP_LATEST
    + """
local key = ARGV[9]
if key ~= '' then
  local known = known_key(KEYS[3], KEYS[4], key, tonumber(ARGV[10]))
  if known then return known end
end
local epoch = ensure_epoch(KEYS[1], KEYS[2], ARGV[2], KEYS[5], KEYS[6])
local offset = redis.call('HINCRBY', KEYS[1], 'o', 1)
if ARGV[13] ~= '' and tonumber(ARGV[14]) > 0 then
  keep_latest(KEYS[5], KEYS[6], ARGV[13], tonumber(ARGV[14]), epoch, offset, ARGV[1])
end
if ARGV[7] ~= '0' then
  redis.call('PEXPIRE', KEYS[5], ARGV[7])
  redis.call('PEXPIRE', KEYS[6], ARGV[7])
end
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

# KEYS: meta, latest_order, latest. ARGV: key prefix, limit (0: all). Returns {epoch,
# offset, entries}: the latest publication of each key starting with the prefix, in this
# epoch, oldest first (the `limit` published most recently). Creates nothing.
READ_LATEST_PREFIX = """
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then return {'', 0, {}} end
local offset = tonumber(redis.call('HGET', KEYS[1], 'o') or '0')
local keys = redis.call('ZRANGE', KEYS[2], 0, -1)
local prefix, limit = ARGV[1], tonumber(ARGV[2])
local found = {}
for i = #keys, 1, -1 do
  if limit > 0 and #found >= limit then break end
  if string.sub(keys[i], 1, #prefix) == prefix then
    local entry = redis.call('HGET', KEYS[3], keys[i])
    if entry and string.sub(entry, 1, #epoch + 1) == epoch .. ' ' then
      table.insert(found, 1, entry)
    end
  end
end
return {epoch, offset, found}
"""

# KEYS: meta, latest, latest_order. ARGV: key. Returns {epoch, offset, entry or ''}: the
# channel's position and the latest publication of the key in this epoch. Creates nothing.
READ_LATEST = """
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then return {'', 0, ''} end
local offset = tonumber(redis.call('HGET', KEYS[1], 'o') or '0')
local entry = redis.call('HGET', KEYS[2], ARGV[1])
if not entry or string.sub(entry, 1, #epoch + 1) ~= epoch .. ' ' then entry = '' end
return {epoch, offset, entry}
"""

# KEYS: meta, history, latest, latest_order. ARGV: epoch for a new channel, meta ttl ms. A
# subscription gives an unknown channel its epoch (offset 0), so subscribers hold a position
# in a real epoch.
OPEN = (
    _ENSURE_EPOCH
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then
  ensure_epoch(KEYS[1], KEYS[2], ARGV[1], KEYS[3], KEYS[4])
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


# KEYS: counter; ARGV: amount, limit, ttl (ms). The new total, or -1 when it would pass
# the limit (nothing added): checked and added in one step, whichever server asks.
USAGE = """
local amount = tonumber(ARGV[1])
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used + amount > tonumber(ARGV[2]) then return -1 end
local total = redis.call('INCRBY', KEYS[1], amount)
if total == amount then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return total
"""


def sharded(script: str) -> str:
    """The script for a Redis Cluster: publishing on the channel's shard only (SPUBLISH,
    Redis 7), whose pub/sub channel ``P:{C}`` is in the slot of the script's keys."""
    return script.replace("redis.call('PUBLISH',", "redis.call('SPUBLISH',")


def encode_blob(
    payload: bytes,
    *,
    binary: bool,
    sender: str | None,
    ts: float,
    sender_name: str | None = None,
    key: str | None = None,
) -> bytes:
    """A publication's fields but channel, epoch and offset (those come from Redis)."""
    head: list[Any] = [ts, sender, 1 if binary else 0]
    if sender_name is not None or key is not None:
        head.append(sender_name)
    if key is not None:
        head.append(key)
    return orjson.dumps(head) + b"\n" + payload


def decode_blob(channel: str, epoch: str, offset: int, blob: bytes) -> Publication:
    """The publication of a blob (one written before ``sender_name`` existed has none)."""
    head, _, payload = blob.partition(b"\n")
    ts, sender, binary, *rest = orjson.loads(head)
    return Publication(
        channel, epoch, offset, payload, binary=bool(binary), ts=float(ts), sender=sender,
        sender_name=rest[0] if rest else None,
        key=rest[1] if len(rest) > 1 else None,
    )


def decode_latest(channel: str, entry: bytes) -> Publication | None:
    """A ``latest`` hash value ``<epoch> <offset> <blob>`` (None for an empty one)."""
    if not entry:
        return None
    epoch, offset, blob = entry.split(b" ", 2)
    return decode_blob(channel, epoch.decode(), int(offset), blob)


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
