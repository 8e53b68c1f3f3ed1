"""The SQLite file of the durable broker: opening, loading, and the writer thread.

Public names: :class:`SQLiteStore`, :class:`Batch`, :class:`Loaded`, :class:`StoreError`.
Standard library ``sqlite3`` only; it knows nothing of brokers or the hub.

* **One owner.** The file is opened in WAL mode with ``locking_mode=EXCLUSIVE`` and an
  exclusive lock is taken at once and held until :meth:`SQLiteStore.close`: a second
  server process configured with the same file fails to start with :class:`StoreError`
  naming the file, instead of interleaving its writes. The operating system releases the
  lock when the owner dies, so ``kill -9`` leaves nothing to clean up.
* **Nothing replaced.** A file that is not a database of this layout (corrupt, or another
  program's) is reported by :class:`StoreError` naming it, and left untouched.
* **Group commit off the loop.** :meth:`SQLiteStore.submit` hands a :class:`Batch` to one
  writer thread and returns a future. The thread takes every batch waiting, writes them in
  one transaction, then resolves their futures on the event loop. A batch that failed to
  commit fails its futures and is written again before the next one, so a later success
  never leaves a hole behind it. While publishers keep it busy (the last transaction took
  several batches) it waits :data:`LINGER` for more before the next one.
* **Reads in order with the writes.** :meth:`SQLiteStore.query` runs a read on the same
  thread, after the batches submitted before it are committed (the shared documents of
  :mod:`._sqlite_documents` are read this way; the rest is read once, at start).
* **Documents beside the channels.** The ``documents`` table holds one merged state per
  shared document; a batch carries document saves with the publications of its loop turn.
* **Checkpoints between commits.** SQLite's automatic checkpoint (copying the WAL into the
  database, with an fsync) would run inside a commit and hold up the publications waiting
  for it. The writer turns it off and checkpoints itself when no batch waits (after
  :data:`CHECKPOINT_IDLE` commits), or at the latest after :data:`CHECKPOINT_ALWAYS`
  commits, so that the WAL stays bounded.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ErrorCode, RealtimeError

__all__ = ["Batch", "Loaded", "SQLiteStore", "StoreError"]

log = logging.getLogger("jupyter_realtime.brokers.sqlite")

VERSION = 2  # PRAGMA user_version of the layout (2: sender_name, publication keys, `latest`)
LOCK_TIMEOUT = 2.0  # seconds to wait for a lock a stopping server may still hold
LINGER = 0.002  # seconds the writer waits for more batches while publishers keep it busy
CHECKPOINT_IDLE = 100  # commits after which the WAL is checkpointed once nothing waits
CHECKPOINT_ALWAYS = 1000  # commits after which it is checkpointed even if batches wait

SCHEMA = """
CREATE TABLE IF NOT EXISTS channels (
    name TEXT PRIMARY KEY,
    epoch TEXT NOT NULL,
    offset INTEGER NOT NULL,
    retired_until REAL  -- NULL: live; else the time its epoch and offset are forgotten
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS publications (
    channel TEXT NOT NULL,
    offset INTEGER NOT NULL,
    ts REAL NOT NULL,
    sender TEXT,
    binary INTEGER NOT NULL,
    payload BLOB NOT NULL,
    sender_name TEXT,  -- the author's display name the server stamped (NULL before layout 2)
    key TEXT,  -- the publication's key (version 2)
    PRIMARY KEY (channel, offset)
);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    channel TEXT NOT NULL,
    key TEXT NOT NULL,
    offset INTEGER NOT NULL,
    expires REAL NOT NULL,
    PRIMARY KEY (channel, key)
);
CREATE TABLE IF NOT EXISTS latest (  -- the latest publication of each key of a channel
    channel TEXT NOT NULL,
    key TEXT NOT NULL,
    offset INTEGER NOT NULL,
    ts REAL NOT NULL,
    sender TEXT,
    binary INTEGER NOT NULL,
    payload BLOB NOT NULL,
    sender_name TEXT,
    PRIMARY KEY (channel, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_offset ON idempotency_keys (channel, offset);
CREATE INDEX IF NOT EXISTS idempotency_keys_expires ON idempotency_keys (expires);
CREATE TABLE IF NOT EXISTS documents (  -- shared cells: one merged state per channel
    name TEXT PRIMARY KEY,
    epoch TEXT NOT NULL,
    offset INTEGER NOT NULL,
    state BLOB NOT NULL
);
"""

#: a document is replaced unless the stored one is of a newer position of the same epoch
SAVE_DOCUMENT = """
INSERT INTO documents (name, epoch, offset, state) VALUES (?, ?, ?, ?)
ON CONFLICT (name) DO UPDATE SET epoch = excluded.epoch, offset = excluded.offset,
    state = excluded.state
WHERE NOT (documents.epoch = excluded.epoch AND documents.offset > excluded.offset)
"""

PubRow = tuple[str, int, float, "str | None", int, bytes, "str | None", "str | None"]
# channel, key, offset, ts, sender, binary, payload, sender_name
LatestRow = tuple[str, str, int, float, "str | None", int, bytes, "str | None"]
#: a read run by the writer thread, in order with the batches (see :meth:`SQLiteStore.query`)
Query = Callable[[sqlite3.Connection], Any]
_Job = tuple["Batch | Query", "asyncio.Future[Any]"]


class StoreError(RealtimeError):
    """The database cannot be used: locked by another process, corrupt, or unreadable."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.UNAVAILABLE, message)


@dataclass
class Loaded:
    """Everything the file holds, each list in (channel, offset) order."""

    channels: list[tuple[str, str, int, float | None]]
    publications: list[PubRow]
    keys: list[tuple[str, str, int, float]]
    latest: list[LatestRow] = field(default_factory=list)


@dataclass
class Batch:
    """Writes of one event-loop turn, applied in this order: ``resets`` (channels that
    start a new epoch lose their rows), ``publications`` and ``keys`` (inserted or
    replaced), ``channels`` (upserted), ``trims`` (channel, first kept offset, first kept
    key offset: older rows are deleted), ``forget`` (channels deleted), then
    ``expire_keys`` (keys expired at that time are deleted), then ``documents`` (name,
    epoch, offset, state: saved unless a newer one is stored). ``latest`` rows (the latest
    publication of a key) are replaced after the publications and ``unlatest`` ones
    (channel, key) deleted; ``resets`` and ``forget`` remove a channel's. Rows newer than a
    channel's offset exist only from an older epoch, and ``resets`` removed those."""

    resets: list[str] = field(default_factory=list)
    publications: list[PubRow] = field(default_factory=list)
    keys: list[tuple[str, str, int, float]] = field(default_factory=list)
    channels: list[tuple[str, str, int, float | None]] = field(default_factory=list)
    trims: list[tuple[str, int, int]] = field(default_factory=list)
    forget: list[str] = field(default_factory=list)
    expire_keys: float | None = None
    documents: list[tuple[str, str, int, bytes]] = field(default_factory=list)
    latest: list[LatestRow] = field(default_factory=list)
    unlatest: list[tuple[str, str]] = field(default_factory=list)

    def apply(self, db: sqlite3.Connection) -> None:
        one = [(name,) for name in self.resets]
        db.executemany("DELETE FROM publications WHERE channel = ?", one)
        db.executemany("DELETE FROM idempotency_keys WHERE channel = ?", one)
        db.executemany("DELETE FROM latest WHERE channel = ?", one)
        db.executemany(
            "INSERT OR REPLACE INTO publications "
            "(channel, offset, ts, sender, binary, payload, sender_name, key) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            self.publications,
        )
        db.executemany("INSERT OR REPLACE INTO latest VALUES (?, ?, ?, ?, ?, ?, ?, ?)", self.latest)
        db.executemany("DELETE FROM latest WHERE channel = ? AND key = ?", self.unlatest)
        db.executemany("INSERT OR REPLACE INTO idempotency_keys VALUES (?, ?, ?, ?)", self.keys)
        db.executemany("INSERT OR REPLACE INTO channels VALUES (?, ?, ?, ?)", self.channels)
        db.executemany(
            "DELETE FROM publications WHERE channel = ? AND offset < ?",
            [(name, first) for name, first, _ in self.trims],
        )
        db.executemany(
            "DELETE FROM idempotency_keys WHERE channel = ? AND offset < ?",
            [(name, first_key) for name, _, first_key in self.trims],
        )
        gone = [(name,) for name in self.forget]
        db.executemany("DELETE FROM channels WHERE name = ?", gone)
        db.executemany("DELETE FROM publications WHERE channel = ?", gone)
        db.executemany("DELETE FROM idempotency_keys WHERE channel = ?", gone)
        db.executemany("DELETE FROM latest WHERE channel = ?", gone)
        if self.expire_keys is not None:
            db.execute("DELETE FROM idempotency_keys WHERE expires <= ?", (self.expire_keys,))
        db.executemany(SAVE_DOCUMENT, self.documents)


class SQLiteStore:
    """The database at ``path``. ``synchronous``: SQLite's ``synchronous`` setting in WAL
    mode, ``"normal"`` (a commit survives the server process dying, kill -9 included) or
    ``"full"`` (it also survives the machine losing power; one fsync per commit)."""

    def __init__(self, path: Path, *, synchronous: str = "normal") -> None:
        self.path = path
        self.synchronous = synchronous
        self._db: sqlite3.Connection | None = None
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- opening --

    def open(self) -> Loaded:
        """Open (creating it and its directory if needed), lock, and read everything."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(
                self.path, timeout=LOCK_TIMEOUT, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the realtime database {self.path}: {exc}") from exc
        try:
            loaded = self._prepare(db)
        except sqlite3.OperationalError as exc:
            db.close()
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreError(
                    f"the realtime database {self.path} is locked by another process (another "
                    "Jupyter server with the same root directory or broker_url?); stop it, or "
                    "give this server its own file with RealtimeApp.broker_url='sqlite:///PATH'"
                ) from exc
            raise StoreError(f"cannot read the realtime database {self.path}: {exc}") from exc
        except (sqlite3.Error, ValueError, TypeError) as exc:
            db.close()
            raise StoreError(
                f"the realtime database {self.path} is corrupt or not a realtime database "
                f"({exc}); it was left as it is: move it away (or restore a copy) and start "
                "again"
            ) from exc
        self._db = db
        return loaded

    def _prepare(self, db: sqlite3.Connection) -> Loaded:
        db.execute("PRAGMA locking_mode = EXCLUSIVE")
        db.execute("BEGIN EXCLUSIVE")  # takes the lock now and, in this mode, keeps it
        db.execute("COMMIT")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > VERSION:
            raise ValueError(f"layout version {version} is newer than this server's {VERSION}")
        if db.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
            raise ValueError("cannot switch it to WAL mode")
        db.execute(f"PRAGMA synchronous = {'FULL' if self.synchronous == 'full' else 'NORMAL'}")
        db.execute("PRAGMA wal_autocheckpoint = 0")  # the writer checkpoints between commits
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        if tables and "channels" not in tables:
            raise ValueError(f"it holds other tables: {sorted(tables)}")
        db.executescript(SCHEMA)
        columns = {row[1] for row in db.execute("PRAGMA table_info(publications)")}
        if "sender_name" not in columns:  # a layout 1 file: its rows keep no display name
            db.execute("ALTER TABLE publications ADD COLUMN sender_name TEXT")
        if "key" not in columns:  # a file of the first layout (or of early layout 2)
            db.execute("ALTER TABLE publications ADD COLUMN key TEXT")
        db.execute(f"PRAGMA user_version = {VERSION}")
        return Loaded(
            db.execute("SELECT * FROM channels ORDER BY name").fetchall(),
            db.execute(
                "SELECT channel, offset, ts, sender, binary, payload, sender_name, key "
                "FROM publications ORDER BY channel, offset"
            ).fetchall(),
            db.execute(
                "SELECT channel, key, offset, expires FROM idempotency_keys "
                "ORDER BY channel, offset"
            ).fetchall(),
            db.execute(
                "SELECT channel, key, offset, ts, sender, binary, payload, sender_name FROM latest "
                "ORDER BY channel, offset"
            ).fetchall(),
        )

    # -- writing --

    @property
    def running(self) -> bool:
        """Whether the writer thread takes batches (between :meth:`start` and :meth:`close`)."""
        return self._thread is not None

    def start(self) -> None:
        """Start the writer thread (after :meth:`open`), resolving futures on this loop."""
        assert self._db is not None, "open() first"
        if self._thread is None:
            self._loop = asyncio.get_running_loop()
            self._thread = threading.Thread(
                target=self._write_forever, name=f"realtime-sqlite {self.path.name}", daemon=True
            )
            self._thread.start()

    def submit(self, batch: Batch) -> asyncio.Future[Any]:
        """Write ``batch`` after those submitted before it; the future resolves once it is
        committed, or fails with ``RealtimeError(unavailable)``."""
        assert self._loop is not None, "start() first"
        future = self._loop.create_future()
        self._queue.put((batch, future))
        return future

    def query(self, read: Query) -> asyncio.Future[Any]:
        """Run ``read(connection)`` on the writer thread, after every batch submitted
        before it is committed; the future resolves to its result (or fails with
        ``RealtimeError(unavailable)``). Reads of the file never run on the event loop."""
        assert self._loop is not None, "start() first"
        future = self._loop.create_future()
        self._queue.put((read, future))
        return future

    def _write_forever(self) -> None:
        db = self._db
        assert db is not None
        failed: list[Batch] = []
        running = True
        busy = False  # the last transaction gathered several batches: publishers are waiting
        commits = 0  # since the last checkpoint
        while running:
            items = [self._queue.get()]
            if busy:
                time.sleep(LINGER)  # let the loop hand over more: one commit for them all
            while True:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            busy = len(items) > 1
            running = None not in items
            group: list[tuple[Batch, asyncio.Future[Any]]] = []
            for item in items:
                if item is None:
                    continue
                job, future = item
                if isinstance(job, Batch):
                    group.append((job, future))
                    continue
                failed, wrote = self._commit(db, failed, group)  # a read sees what came before
                commits += wrote
                group = []
                try:
                    result, error = job(db), None
                except sqlite3.Error as exc:
                    result, error = None, exc
                self._resolve(future, error, result)
            failed, wrote = self._commit(db, failed, group)
            commits += wrote
            if wrote:
                idle = commits >= CHECKPOINT_IDLE and self._queue.empty()
                if idle or commits >= CHECKPOINT_ALWAYS:
                    commits = 0
                    self._checkpoint(db)
        db.close()

    def _commit(
        self,
        db: sqlite3.Connection,
        failed: list[Batch],
        work: list[tuple[Batch, asyncio.Future[Any]]],
    ) -> tuple[list[Batch], bool]:
        """Write ``failed`` then ``work`` in one transaction: what is still to write again,
        and whether a transaction was committed."""
        if not work and not failed:
            return failed, False
        error: BaseException | None = None
        try:
            db.execute("BEGIN IMMEDIATE")
            for batch in [*failed, *(batch for batch, _ in work)]:
                batch.apply(db)
            db.execute("COMMIT")
            failed = []
        except sqlite3.Error as exc:
            log.error("writing to the realtime database %s failed: %s", self.path, exc)
            if db.in_transaction:
                db.rollback()
            failed = failed + [batch for batch, _ in work]
            error = exc
        for _, future in work:
            self._resolve(future, error)
        return failed, error is None

    def _checkpoint(self, db: sqlite3.Connection) -> None:
        try:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:  # the next one tries again; the WAL keeps everything
            log.warning("checkpoint of the realtime database %s failed: %s", self.path, exc)

    def _resolve(
        self, future: asyncio.Future[Any], error: BaseException | None, result: Any = None
    ) -> None:
        def done() -> None:
            if future.done():
                return
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(
                    RealtimeError(
                        ErrorCode.UNAVAILABLE,
                        f"cannot write to the realtime database {self.path}: {error}",
                    )
                )
                future.exception()  # awaited by publishers if any; never logged as lost

        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(done)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass

    async def close(self) -> None:
        """Write what was submitted, then release the file."""
        if self._thread is not None:
            self._queue.put(None)
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
            self._thread = None
        elif self._db is not None:
            self._db.close()
        self._db = None
