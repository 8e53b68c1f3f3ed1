"""Lua scripts and the encoding of publications for the Redis broker.

Private to :mod:`jupyter_realtime.brokers.redis`; imports no Redis client, so the encoding
is tested without a server.

Keys of a channel ``C`` under the prefix ``P`` (the ``{C}`` hash tag keeps them in one
slot, so each script touches one slot):

* ``P:{C}:meta``: hash ``e`` (epoch) and ``o`` (newest offset), made by the first publish
  or subscription (never by a read). Its loss (Redis restarted without persistence, expiry after
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

__all__ = [
    "ADD_PRESENCE",
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

# Drop expired entries from the head of a stream (their blob starts with "[ts,"); one
# batch at a time. True when a whole batch was expired (there may be more).
_TRIM_EXPIRED = """
local function expired(entry, cutoff)
  local ts = tonumber(string.match(entry[2][2], '^%[([^,]+),'))
  return ts ~= nil and ts < cutoff
end
local function trim_expired(stream, cutoff)
  local head = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)
  if head[1] == nil or not expired(head[1], cutoff) then return false end
  local batch = redis.call('XRANGE', stream, '-', '+', 'COUNT', 256)
  for _, entry in ipairs(batch) do
    if not expired(entry, cutoff) then
      redis.call('XTRIM', stream, 'MINID', entry[1])
      return false
    end
  end
  local last = tonumber(string.match(batch[#batch][1], '^(%d+)'))
  redis.call('XTRIM', stream, 'MINID', string.format('%d-0', last + 1))
  return true
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
# channel, history size, expiry cutoff (ts, or ''), history ttl ms, meta ttl ms, pub/sub
# channel, idempotency key (or ''), now ms, idempotency ttl ms, keys per channel,
# publication key (or ''), latest keys per channel. Returns {epoch, offset, duplicate}:
# for a known idempotency key the first publication's, and nothing is stored or published.
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
    + _TRIM_EXPIRED
    + _KNOWN_KEY
    + _KEEP_LATEST
    + """
local key = ARGV[8]
if key ~= '' then
  local known = known_key(KEYS[3], KEYS[4], key, tonumber(ARGV[9]))
  if known then return known end
end
local epoch = ensure_epoch(KEYS[1], KEYS[2], ARGV[2], KEYS[5], KEYS[6])
local offset = redis.call('HINCRBY', KEYS[1], 'o', 1)
if ARGV[12] ~= '' and tonumber(ARGV[13]) > 0 then
  keep_latest(KEYS[5], KEYS[6], ARGV[12], tonumber(ARGV[13]), epoch, offset, ARGV[1])
end
if ARGV[6] ~= '0' then
  redis.call('PEXPIRE', KEYS[5], ARGV[6])
  redis.call('PEXPIRE', KEYS[6], ARGV[6])
end
if tonumber(ARGV[3]) > 0 then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], string.format('%d-0', offset), 'm', ARGV[1])
  if ARGV[4] ~= '' then trim_expired(KEYS[2], tonumber(ARGV[4])) end
  if ARGV[5] ~= '0' then redis.call('PEXPIRE', KEYS[2], ARGV[5]) end
end
if ARGV[6] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[6]) end
if key ~= '' then
  remember_key(KEYS[3], KEYS[4], key, tonumber(ARGV[9]), tonumber(ARGV[10]),
               tonumber(ARGV[11]), epoch, offset)
end
redis.call('PUBLISH', ARGV[7], 'p' .. epoch .. ' ' .. string.format('%d', offset) .. ' ' .. ARGV[1])
return {epoch, offset, 0}
"""
)

# KEYS: meta, history. ARGV: expiry cutoff (or ''), history size, mode
# ('pos', 'latest' or 'after'), epoch and offset to read after (a mismatched epoch reads
# from the oldest), limit (0: all). Returns {epoch, offset, entries, first kept offset}.
# Creates nothing and extends nothing: a channel without a meta key is {'', 0, {}, 1}
# (before its start); the meta key lives meta_ttl after the last publish.
READ = (
    _TRIM_EXPIRED
    + """
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then return {'', 0, {}, 1} end
local offset = tonumber(redis.call('HGET', KEYS[1], 'o') or '0')
if ARGV[3] == 'pos' then return {epoch, offset, {}, 0} end
if ARGV[1] ~= '' then
  local cutoff = tonumber(ARGV[1])
  while trim_expired(KEYS[2], cutoff) do end
end
local size = tonumber(ARGV[2])
if offset - size >= 1 then
  redis.call('XTRIM', KEYS[2], 'MINID', string.format('%d-0', offset - size + 1))
end
local count = {}
if ARGV[6] ~= '0' then count = {'COUNT', ARGV[6]} end
local entries
if ARGV[3] == 'latest' then
  entries = redis.call('XREVRANGE', KEYS[2], '+', '-', unpack(count))
elseif ARGV[4] == epoch then
  local start = string.format('%d-0', tonumber(ARGV[5]) + 1)
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
