"""The history store: WHOOP records in SQLite (default) or PostgreSQL, through SQLAlchemy Core.

Design notes (the WHY):

* SQLite runs in WAL mode with a busy timeout and short write transactions, so the web app and the
  MCP server can both read while either writes.
* Upserts are keyed on v2 ids (cycle id, sleep/workout UUID, a recovery's cycle id), and a row is
  replaced only by one whose ``updated_at`` is at least as new: re-delivered records can never be
  counted twice, and an older copy can never overwrite a re-score.
* Every version of a record's score that sync has seen is kept (``score_versions``, written in the
  same transaction as the record), so a re-score by WHOOP can be told afterwards; versions outlive a
  record's deletion, since WHOOP deletes a recovery with its sleep and re-creates it under the same
  cycle id, often with a new score.
* Opening checks the schema revision without importing Alembic when it is current (the MCP server's
  warm-up stays cheap); a database from a newer whoopkit is refused in one sentence, and a file that
  is not a readable database is moved aside and started afresh (the next sync rebuilds it).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import filelock
from pydantic import BaseModel
from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    String,
    Table,
    and_,
    cast,
    create_engine,
    delete,
    event,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from whoopkit.errors import StoreError
from whoopkit.models import (
    Cycle,
    Recovery,
    Sleep,
    UserBasicProfile,
    UserBodyMeasurement,
    Workout,
    offset_or_none,
    storable_json,
    validate_or_none,
)
from whoopkit.store import schema
from whoopkit.store.schema import COLLECTIONS, HEAD_REVISION, TABLES, Collection

logger = logging.getLogger(__name__)

MODELS: dict[Collection, type[BaseModel]] = {
    "cycles": Cycle,
    "recoveries": Recovery,
    "sleeps": Sleep,
    "workouts": Workout,
}
_KEY: dict[Collection, str] = {"cycles": "id", "recoveries": "cycle_id", "sleeps": "id", "workouts": "id"}
_IMPORT_COUNTED = (*COLLECTIONS, "journal")
# Keys per IN (...) list in the import's look-ups: far below every dialect's limit on bound parameters.
_IN_CHUNK = 500
BUSY_TIMEOUT_MS = 10_000
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


WindowItem = tuple[int, int, Sequence[Any], Sequence[dict[str, Any]] | None, bool, Sequence[Any] | None]


def to_ms(value: datetime) -> int:
    """Epoch milliseconds of an aware datetime (naive ones are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


def from_ms(value: int | None) -> datetime | None:
    """An aware UTC datetime from epoch milliseconds."""
    return None if value is None else datetime.fromtimestamp(value / 1000, UTC)


@dataclass
class Upserted:
    """What one upsert did: rows new, changed (a newer ``updated_at`` or other content) and unchanged."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(frozen=True)
class JournalRow:
    """One answer of the WHOOP journal, for the cycle (WHOOP day) it was logged for."""

    cycle_start_ms: int
    question: str
    answered_yes: bool
    notes: str | None
    cycle_end_ms: int | None
    timezone_offset: str
    cycle_id: int | None = None


@dataclass(frozen=True)
class ScoreVersion:
    """One version of a record's score as sync saw it, with the record's start and offset to date it."""

    kind: Collection
    record_key: str
    start_ms: int
    timezone_offset: str
    updated_ms: int
    seen_ms: int
    score_state: str
    score: dict[str, Any] | None


@dataclass
class ImportCounts:
    """What one import did, per kind (the four collections and ``journal``): rows new, updated, unchanged."""

    new: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_IMPORT_COUNTED, 0))
    updated: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_IMPORT_COUNTED, 0))
    unchanged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_IMPORT_COUNTED, 0))


@dataclass
class CollectionStatus:
    """One collection in the store: rows, the time range they cover and the last successful sync."""

    rows: int
    oldest: datetime | None
    newest: datetime | None
    last_sync: datetime | None
    complete: bool


@dataclass
class StoreStatus:
    """The store at a glance (``whoopkit status``)."""

    location: str
    size_bytes: int | None
    user_id: int | None
    collections: dict[str, CollectionStatus] = field(default_factory=dict)
    recovered_from: str | None = None


@dataclass
class SyncState:
    """A collection's sync checkpoint: merged fetched intervals ``[lo, hi)`` in epoch ms."""

    intervals: list[tuple[int, int]] = field(default_factory=list)
    complete: bool = False
    last_success_ms: int | None = None
    last_attempt_ms: int | None = None
    last_error: str | None = None

    @property
    def covered_to(self) -> int | None:
        """The newest fetched point, or None when nothing was fetched."""
        return max((hi for _, hi in self.intervals), default=None)

    @property
    def covered_from(self) -> int | None:
        """The oldest fetched point, or None."""
        return min((lo for lo, _ in self.intervals), default=None)

    def add(self, lo: int, hi: int) -> None:
        """Mark ``[lo, hi)`` as fetched, merging touching intervals."""
        if hi <= lo:
            return
        merged: list[tuple[int, int]] = []
        for a, b in sorted([*self.intervals, (lo, hi)]):
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        self.intervals = merged

    def gaps(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """The parts of ``[lo, hi)`` not fetched yet, newest first."""
        out: list[tuple[int, int]] = []
        cursor = lo
        for a, b in sorted(self.intervals):
            if b <= cursor:
                continue
            if a >= hi:
                break
            if a > cursor:
                out.append((cursor, min(a, hi)))
            cursor = max(cursor, b)
            if cursor >= hi:
                break
        if cursor < hi:
            out.append((cursor, hi))
        out.reverse()
        return out


def _columns(kind: Collection, record: Any) -> dict[str, Any]:
    """The typed columns of one record (the raw JSON goes beside them)."""
    base: dict[str, Any] = {
        "score_state": str(record.score_state),
        "created_ms": to_ms(record.created_at),
        "updated_ms": to_ms(record.updated_at),
    }
    score = record.score
    if kind == "cycles":
        base.update(
            id=record.id,
            start_ms=to_ms(record.start),
            end_ms=to_ms(record.end) if record.end else None,
            timezone_offset=record.timezone_offset,
            strain=score.strain if score else None,
            kilojoule=score.kilojoule if score else None,
            average_heart_rate=score.average_heart_rate if score else None,
            max_heart_rate=score.max_heart_rate if score else None,
        )
    elif kind == "recoveries":
        base.update(
            cycle_id=record.cycle_id,
            sleep_id=str(record.sleep_id),
            recovery_score=score.recovery_score if score else None,
            resting_heart_rate=score.resting_heart_rate if score else None,
            hrv_rmssd_milli=score.hrv_rmssd_milli if score else None,
            spo2_percentage=score.spo2_percentage if score else None,
            skin_temp_celsius=score.skin_temp_celsius if score else None,
        )
    elif kind == "sleeps":
        base.update(
            id=str(record.id),
            cycle_id=record.cycle_id,
            nap=bool(record.nap),
            start_ms=to_ms(record.start),
            end_ms=to_ms(record.end),
            timezone_offset=record.timezone_offset,
            sleep_performance_percentage=score.sleep_performance_percentage if score else None,
            asleep_milli=score.stage_summary.asleep_milli if score else None,
            respiratory_rate=score.respiratory_rate if score else None,
        )
    else:
        base.update(
            id=str(record.id),
            sport_name=record.sport_name,
            start_ms=to_ms(record.start),
            end_ms=to_ms(record.end),
            timezone_offset=record.timezone_offset,
            strain=score.strain if score else None,
            average_heart_rate=score.average_heart_rate if score else None,
            max_heart_rate=score.max_heart_rate if score else None,
            kilojoule=score.kilojoule if score else None,
            distance_meter=score.distance_meter if score else None,
        )
    return base


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def _redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


class Store:
    """The history of one or more WHOOP users; every method is synchronous and thread-safe.

    Call from async code through a worker thread for writes (``anyio.to_thread.run_sync``); reads
    are small indexed queries.
    """

    def __init__(self, engine: Engine, *, location: str, recovered_from: str | None = None) -> None:
        """Wrap an engine whose schema is current (use :meth:`open`)."""
        self.engine = engine
        self.location = location
        self.recovered_from = recovered_from
        self._write_lock = threading.Lock()

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, url: str) -> Store:
        """Open (creating or migrating) the store at ``url``.

        A SQLite file that is not a readable database is moved aside (``*.corrupt-<time>``) and a new
        one is created; the next sync rebuilds it from WHOOP.

        Raises:
            StoreError: the schema is newer than this code, or the database cannot be opened.
        """
        path = _sqlite_path(url)
        location = str(path) if path is not None else _redacted(url)
        recovered: str | None = None
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                problem = _sqlite_problem(path)
                if problem is not None:
                    recovered = _move_aside(path)
                    logger.warning(
                        "the history database %s was unreadable (%s); moved it to %s and starting afresh",
                        path,
                        problem,
                        recovered,
                    )
            except OSError as exc:
                raise StoreError(
                    f"The history database {location} cannot be opened ({exc.strerror or exc}): check "
                    "WHOOP_DATA_DIR and WHOOP_DATABASE_URL.",
                    location=location,
                ) from None
        engine = _engine(url)
        try:
            if path is not None:
                # Two processes opening a new file at once must not both run the first migration.
                with filelock.FileLock(f"{path}.migrate.lock", thread_local=False).acquire(timeout=60):
                    _migrate(engine, location)
            else:
                _migrate(engine, location)
        except filelock.Timeout:
            engine.dispose()
            raise StoreError(
                f"Another process is migrating the history database {location}; try again in a minute.",
                location=location,
            ) from None
        except StoreError:
            engine.dispose()
            raise
        except (SQLAlchemyError, OSError) as exc:
            engine.dispose()
            raise StoreError(
                f"The history database {location} cannot be opened ({type(exc).__name__}: "
                f"{_first_line(exc)}).",
                location=location,
            ) from None
        if path is not None and path.exists():
            os.chmod(path, 0o600)
        return cls(engine, location=location, recovered_from=recovered)

    def close(self) -> None:
        """Release every connection."""
        self.engine.dispose()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        # One writer per process at a time keeps SQLite from ever needing the busy timeout within a
        # process; across processes WAL's busy timeout takes over.
        try:
            with self._write_lock, self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise self._error(exc) from None

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise self._error(exc) from None

    def _error(self, exc: SQLAlchemyError) -> StoreError:
        if is_locked_error(exc):
            return StoreError(
                f"The history database {self.location} is busy (another process held it for more than "
                f"{BUSY_TIMEOUT_MS // 1000} s); try again in a moment.",
                location=self.location,
            )
        return StoreError(
            f"The history database {self.location} could not be used "
            f"({type(exc).__name__}: {_first_line(exc)}).",
            location=self.location,
        )

    # ------------------------------------------------------------------ checks

    def schema_revision(self) -> str | None:
        """The database's Alembic revision."""
        with self._read() as conn:
            return _current_revision(conn)

    @staticmethod
    def head_revision() -> str:
        """The newest revision this code knows."""
        return HEAD_REVISION

    def integrity_check(self) -> str | None:
        """None when the database is sound, else what is wrong (SQLite's ``PRAGMA integrity_check``)."""
        if not _is_sqlite(str(self.engine.url)):
            return None
        with self._read() as conn:
            rows = [str(r[0]) for r in conn.execute(text("PRAGMA integrity_check")).fetchall()]
        return None if rows == ["ok"] else "; ".join(rows[:5])

    # ------------------------------------------------------------------ records

    def upsert(
        self,
        user_id: int,
        kind: Collection,
        records: Sequence[Any],
        synced: datetime,
        raws: Sequence[dict[str, Any]] | None = None,
    ) -> Upserted:
        """Insert or replace records by id; a stored row with a newer ``updated_at`` is kept.

        ``raws`` are the records as WHOOP sent them (stored verbatim); without them the models are dumped.
        """
        with self._write() as conn:
            _bump_version(conn)
            return self._upsert(conn, user_id, kind, records, synced, raws)

    def commit_window(
        self,
        user_id: int,
        kind: Collection,
        lo: int,
        hi: int,
        records: Sequence[Any],
        raws: Sequence[dict[str, Any]] | None,
        synced: datetime,
        *,
        head: bool,
        gone: Sequence[Any] | None = None,
    ) -> tuple[Upserted, int]:
        """Store one fully listed window ``[lo, hi)`` (see :meth:`commit_windows`)."""
        [result] = self.commit_windows(user_id, kind, [(lo, hi, records, raws, head, gone)], synced)
        done: tuple[Upserted, int] = result
        return done

    def commit_windows(
        self,
        user_id: int,
        kind: Collection,
        windows: Sequence[WindowItem],
        synced: datetime,
        *,
        refuse_deletions: bool = False,
    ) -> Any:
        """In one transaction, for each fully listed window ``(lo, hi, records, raws, head, gone)``: upsert
        its records, delete what vanished from it, and mark ``[lo, hi)`` fetched (``head``: it reached
        "now", so the collection counts as up to date).

        ``gone`` names the ids WHOOP confirmed deleted; None deletes whatever the listing lacked, unless
        ``refuse_deletions``: then, if any window lacks stored ids, nothing is written and a dict of
        window index -> the lacking ids (``[]`` for windows lacking none) comes back, to be confirmed.
        Otherwise returns, per window, what the upsert did and how many rows were deleted.
        """
        key = _KEY[kind]
        out: list[tuple[Upserted, int]] = []
        with self._write() as conn:
            if refuse_deletions:
                lacking = {
                    i: self._missing(conn, user_id, kind, lo, hi, [getattr(r, key) for r in records])
                    for i, (lo, hi, records, _, _, gone) in enumerate(windows)
                    if gone is None
                }
                if any(lacking.values()):
                    return {i: lacking.get(i, []) for i in range(len(windows))}
            _bump_version(conn)
            state = self._read_state(conn, user_id, kind)
            for lo, hi, records, raws, head, gone in windows:
                done = self._upsert(conn, user_id, kind, records, synced, raws)
                if gone is None:
                    gone = self._missing(conn, user_id, kind, lo, hi, [getattr(r, key) for r in records])
                deleted = self._delete(conn, user_id, kind, gone)
                if kind == "sleeps" and records:
                    # A window of sleeps corrects the recoveries stored before them.
                    self._recovery_starts_from(conn, user_id, [str(r.id) for r in records])
                state.add(lo, hi)
                state.last_attempt_ms = to_ms(synced)
                if head:
                    state.last_success_ms = to_ms(synced)
                    state.last_error = None
                out.append((done, deleted))
            self._save_state(conn, user_id, kind, state)
        return out

    @staticmethod
    def _recovery_starts_from(conn: Connection, user_id: int, sleep_ids: Sequence[str] | None) -> int:
        """Give recoveries their sleep's start (of ``sleep_ids``, or all); returns rows changed.

        A recovery stored before its sleep carries an estimated start until then.
        """
        rec, sleeps = schema.recoveries, schema.sleeps
        start = (
            select(sleeps.c.start_ms)
            .where(sleeps.c.user_id == rec.c.user_id, sleeps.c.id == rec.c.sleep_id)
            .scalar_subquery()
        )
        which = rec.c.sleep_id.in_(list(sleep_ids)) if sleep_ids is not None else start.is_not(None)
        result = conn.execute(
            update(rec).where(rec.c.user_id == user_id, which, rec.c.start_ms != start).values(start_ms=start)
        )
        return int(result.rowcount or 0)

    def _upsert(
        self,
        conn: Connection,
        user_id: int,
        kind: Collection,
        records: Sequence[Any],
        synced: datetime,
        raws: Sequence[dict[str, Any]] | None,
    ) -> Upserted:
        out = Upserted()
        if not records:
            return out
        table = TABLES[kind]
        key = _KEY[kind]
        synced_ms = to_ms(synced)
        rows: dict[Any, dict[str, Any]] = {}
        sent: dict[Any, Any] = {}  # the records as WHOOP sent them, for their score versions
        for i, record in enumerate(records):
            row = _columns(kind, record)
            row["user_id"] = user_id
            raw: Any = None
            if raws is not None:
                raw = storable_json(raws[i])
                row["raw"] = json.dumps(raw, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
            else:
                row["raw"] = record.model_dump_json(by_alias=True, exclude_unset=True)
            row["synced_ms"] = synced_ms
            previous = rows.get(row[key])
            if previous is None or previous["updated_ms"] <= row["updated_ms"]:
                rows[row[key]] = row
                sent[row[key]] = raw
        if kind == "recoveries":
            self._resolve_recovery_starts(conn, user_id, list(rows.values()))
        existing = {
            r[0]: (r[1], r[2])
            for r in conn.execute(
                select(table.c[key], table.c.updated_ms, table.c.raw).where(
                    table.c.user_id == user_id, table.c[key].in_(list(rows))
                )
            )
        }
        fresh: list[dict[str, Any]] = []
        changed: list[Any] = []
        for ident, row in rows.items():
            old = existing.get(ident)
            if old is None:
                fresh.append(row)
            elif row["updated_ms"] > old[0] or (row["updated_ms"] == old[0] and row["raw"] != old[1]):
                changed.append(ident)
                conn.execute(
                    update(table)
                    .where(
                        table.c.user_id == user_id,
                        table.c[key] == ident,
                        # Another process may have written a newer copy since the select.
                        table.c.updated_ms <= row["updated_ms"],
                    )
                    .values(**row)
                )
                out.updated += 1
            else:
                out.unchanged += 1
        if fresh:
            conn.execute(table.insert(), fresh)
            out.new += len(fresh)
        if fresh or changed:
            self._save_versions(conn, user_id, kind, rows, sent, [r[key] for r in fresh], changed)
        return out

    @staticmethod
    def _save_versions(
        conn: Connection,
        user_id: int,
        kind: Collection,
        rows: Mapping[Any, dict[str, Any]],
        sent: Mapping[Any, Any],
        new: Sequence[Any],
        changed: Sequence[Any],
    ) -> None:
        """A score version for each ``new`` record, and each ``changed`` one whose score state or score
        differs from its newest stored version.

        Only the changed records' versions are read, in one query, and all are written in one insert:
        a first sync reads nothing more, and a year of it stays as fast.
        """
        versions = schema.score_versions
        newest: dict[str, tuple[int, str, str]] = {}
        known: set[tuple[str, int]] = set()
        if changed:
            for record_key, updated_ms, state, score in conn.execute(
                select(
                    versions.c.record_key, versions.c.updated_ms, versions.c.score_state, versions.c.score
                ).where(
                    versions.c.user_id == user_id,
                    versions.c.kind == kind,
                    versions.c.record_key.in_([str(ident) for ident in changed]),
                )
            ):
                known.add((record_key, updated_ms))
                if record_key not in newest or newest[record_key][0] < updated_ms:
                    newest[record_key] = (updated_ms, state, score)
        fresh: list[dict[str, Any]] = []
        for ident in (*new, *changed):
            row, raw = rows[ident], sent[ident]
            if raw is None:
                raw = json.loads(row["raw"])
            record_key, score = str(ident), score_json(raw.get("score") if isinstance(raw, dict) else None)
            last = newest.get(record_key)
            if (last is not None and last[1:] == (row["score_state"], score)) or (
                (record_key, row["updated_ms"]) in known
            ):
                continue
            fresh.append(
                {
                    "user_id": user_id,
                    "kind": kind,
                    "record_key": record_key,
                    "updated_ms": row["updated_ms"],
                    "seen_ms": row["synced_ms"],
                    "score_state": row["score_state"],
                    "score": score,
                }
            )
        if fresh:
            _insert_ignoring_known(conn, versions, fresh)

    def _resolve_recovery_starts(self, conn: Connection, user_id: int, rows: list[dict[str, Any]]) -> None:
        sleeps, cycles = schema.sleeps, schema.cycles
        sleep_ids = [r["sleep_id"] for r in rows]
        cycle_ids = [r["cycle_id"] for r in rows]
        sleep_start = dict(
            conn.execute(
                select(sleeps.c.id, sleeps.c.start_ms).where(
                    sleeps.c.user_id == user_id, sleeps.c.id.in_(sleep_ids)
                )
            ).all()
        )
        cycle_start = dict(
            conn.execute(
                select(cycles.c.id, cycles.c.start_ms).where(
                    cycles.c.user_id == user_id, cycles.c.id.in_(cycle_ids)
                )
            ).all()
        )
        for row in rows:
            # The sleep's start is what WHOOP filters on; the cycle starts at the same sleep onset;
            # failing both, the recovery was made the morning after it, within a query's slack.
            row["start_ms"] = (
                sleep_start.get(row["sleep_id"]) or cycle_start.get(row["cycle_id"]) or row["created_ms"]
            )

    def fix_recovery_starts(self, user_id: int) -> int:
        """Re-resolve every recovery's start time from its stored sleep; returns rows fixed."""
        with self._write() as conn:
            fixed = self._recovery_starts_from(conn, user_id, None)
            if fixed:
                _bump_version(conn)
        return fixed

    def delete_missing(self, user_id: int, kind: Collection, lo: int, hi: int, seen: Iterable[Any]) -> int:
        """Delete stored records starting in ``[lo, hi)`` that are not in ``seen``; returns how many."""
        with self._write() as conn:
            _bump_version(conn)
            return self._delete(conn, user_id, kind, self._missing(conn, user_id, kind, lo, hi, seen))

    def missing(self, user_id: int, kind: Collection, lo: int, hi: int, seen: Iterable[Any]) -> list[Any]:
        """Ids of stored records starting in ``[lo, hi)`` that a full listing of that window lacked.

        A recovery is judged by its sleep's start (what WHOOP filters on), so only once its sleep is
        stored; until then its own start is an estimate. (A deleted sleep takes its recovery along.)
        """
        with self._read() as conn:
            return self._missing(conn, user_id, kind, lo, hi, seen)

    def _missing(
        self, conn: Connection, user_id: int, kind: Collection, lo: int, hi: int, seen: Iterable[Any]
    ) -> list[Any]:
        table = TABLES[kind]
        key = table.c[_KEY[kind]]
        keep = {str(s) if kind in ("sleeps", "workouts") else s for s in seen}
        if kind == "recoveries":
            sleeps = schema.sleeps
            query = (
                select(key)
                .select_from(
                    table.join(
                        sleeps, and_(sleeps.c.user_id == table.c.user_id, sleeps.c.id == table.c.sleep_id)
                    )
                )
                .where(table.c.user_id == user_id, sleeps.c.start_ms >= lo, sleeps.c.start_ms < hi)
            )
        else:
            query = select(key).where(
                table.c.user_id == user_id, table.c.start_ms >= lo, table.c.start_ms < hi
            )
        return [r[0] for r in conn.execute(query) if r[0] not in keep]

    def _delete(self, conn: Connection, user_id: int, kind: Collection, doomed: Sequence[Any]) -> int:
        if not doomed:
            return 0
        table = TABLES[kind]
        key = table.c[_KEY[kind]]
        ids = [str(d) if kind in ("sleeps", "workouts") else d for d in doomed]
        conn.execute(delete(table).where(table.c.user_id == user_id, key.in_(ids)))
        if kind == "sleeps":
            rec = schema.recoveries
            conn.execute(delete(rec).where(rec.c.user_id == user_id, rec.c.sleep_id.in_(ids)))
        logger.info("removed %d %s that WHOOP no longer has", len(ids), kind)
        return len(ids)

    def records(self, user_id: int, kind: Collection, lo: datetime, hi: datetime) -> list[Any]:
        """Records starting in ``[lo, hi)``, newest first, as v2 models."""
        table = TABLES[kind]
        query = (
            select(table.c.raw)
            .where(table.c.user_id == user_id, table.c.start_ms >= to_ms(lo), table.c.start_ms < to_ms(hi))
            .order_by(table.c.start_ms.desc())
        )
        model = MODELS[kind]
        with self._read() as conn:
            return _usable(model, conn.execute(query))

    def latest(self, user_id: int, kind: Collection, limit: int) -> list[Any]:
        """The newest ``limit`` records, newest first."""
        table = TABLES[kind]
        query = (
            select(table.c.raw)
            .where(table.c.user_id == user_id)
            .order_by(table.c.start_ms.desc())
            .limit(limit)
        )
        model = MODELS[kind]
        with self._read() as conn:
            return _usable(model, conn.execute(query))

    def raw_records(
        self, user_id: int, kind: Collection, lo: datetime | None, hi: datetime | None
    ) -> list[dict[str, Any]]:
        """WHOOP's JSON of records starting in ``[lo, hi)`` (open ends allowed), oldest first."""
        table = TABLES[kind]
        query = select(table.c.raw).where(table.c.user_id == user_id)
        if lo is not None:
            query = query.where(table.c.start_ms >= to_ms(lo))
        if hi is not None:
            query = query.where(table.c.start_ms < to_ms(hi))
        with self._read() as conn:
            return [json.loads(raw) for (raw,) in conn.execute(query.order_by(table.c.start_ms))]

    # ------------------------------------------------------------------ score history, imports, journal

    def score_versions(
        self, user_id: int, lo: datetime, hi: datetime, *, rescored_only: bool = False
    ) -> list[ScoreVersion]:
        """Every stored score version of the records still stored that start in ``[lo, hi)``.

        Grouped by kind and record (by start), each record's versions oldest first. A recovery is dated
        by its stored start (its sleep's) in its cycle's offset, else its sleep's. ``rescored_only``
        leaves out the records seen in one version only (nearly all of them: nothing changed there).
        """
        versions, cycles, sleeps = schema.score_versions, schema.cycles, schema.sleeps
        lo_ms, hi_ms = to_ms(lo), to_ms(hi)
        out: list[ScoreVersion] = []
        with self._read() as conn:
            for kind in COLLECTIONS:
                table = TABLES[kind]
                ident = table.c[_KEY[kind]]
                record_key = ident if kind in ("sleeps", "workouts") else cast(ident, String)
                source: Any = table.join(
                    versions,
                    and_(
                        versions.c.user_id == table.c.user_id,
                        versions.c.kind == kind,
                        versions.c.record_key == record_key,
                    ),
                )
                if kind == "recoveries":
                    source = source.outerjoin(
                        cycles, and_(cycles.c.user_id == table.c.user_id, cycles.c.id == table.c.cycle_id)
                    ).outerjoin(
                        sleeps, and_(sleeps.c.user_id == table.c.user_id, sleeps.c.id == table.c.sleep_id)
                    )
                    offset: Any = func.coalesce(cycles.c.timezone_offset, sleeps.c.timezone_offset, "+00:00")
                else:
                    offset = table.c.timezone_offset
                query = (
                    select(
                        versions.c.record_key,
                        table.c.start_ms,
                        offset,
                        versions.c.updated_ms,
                        versions.c.seen_ms,
                        versions.c.score_state,
                        versions.c.score,
                    )
                    .select_from(source)
                    .where(table.c.user_id == user_id, table.c.start_ms >= lo_ms, table.c.start_ms < hi_ms)
                    .order_by(table.c.start_ms, versions.c.record_key, versions.c.updated_ms)
                )
                if rescored_only:
                    several = (
                        select(versions.c.record_key)
                        .where(versions.c.user_id == user_id, versions.c.kind == kind)
                        .group_by(versions.c.record_key)
                        .having(func.count() > 1)
                    )
                    query = query.where(versions.c.record_key.in_(several))
                for key, start_ms, tz, updated_ms, seen_ms, state, score in conn.execute(query):
                    parsed = json.loads(score)
                    out.append(
                        ScoreVersion(
                            kind=kind,
                            record_key=str(key),
                            start_ms=int(start_ms),
                            timezone_offset=str(tz),
                            updated_ms=int(updated_ms),
                            seen_ms=int(seen_ms),
                            score_state=str(state),
                            score=parsed if isinstance(parsed, dict) else None,
                        )
                    )
        return out

    def save_import(
        self,
        user_id: int,
        records: Mapping[Collection, Sequence[tuple[int, dict[str, Any]]]],
        journal: Sequence[JournalRow],
        source: str,
        imported: datetime,
    ) -> ImportCounts:
        """Store an app export's records (``kind -> [(start_ms, v2-shaped raw)]``) and journal answers.

        All in one transaction: on any failure nothing is written. Rows are keyed on (kind, start) and
        (cycle start, question); one whose content is the same is left as it was, so importing the same
        export twice changes nothing. The data version moves only when something changed.

        Raises:
            StoreError: the database could not be written (nothing was).
        """
        counts = ImportCounts()
        imported_ms = to_ms(imported)
        source = source[:200]  # a file name, shown in reports; the column holds 200
        with self._write() as conn:
            for kind, items in records.items():
                self._import_records(conn, user_id, kind, items, source, imported_ms, counts)
            self._import_journal(conn, user_id, journal, imported_ms, counts)
            if any(counts.new.values()) or any(counts.updated.values()):
                _bump_version(conn)
        return counts

    @staticmethod
    def _import_records(
        conn: Connection,
        user_id: int,
        kind: Collection,
        items: Sequence[tuple[int, dict[str, Any]]],
        source: str,
        imported_ms: int,
        counts: ImportCounts,
    ) -> None:
        table = schema.imported_records
        wanted = {int(start_ms): raw for start_ms, raw in items}  # a start given twice: the last wins
        stored: dict[int, str] = {}
        for chunk in _chunks(list(wanted)):
            stored.update(
                conn.execute(
                    select(table.c.start_ms, table.c.raw).where(
                        table.c.user_id == user_id, table.c.kind == kind, table.c.start_ms.in_(chunk)
                    )
                ).all()
            )
        fresh: list[dict[str, Any]] = []
        for start_ms, raw in wanted.items():
            text_ = json.dumps(storable_json(raw), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
            old = stored.get(start_ms)
            if old is None:
                fresh.append(
                    {
                        "user_id": user_id,
                        "kind": kind,
                        "start_ms": start_ms,
                        "raw": text_,
                        "source": source,
                        "imported_ms": imported_ms,
                    }
                )
            elif old == text_ or json.loads(old) == json.loads(text_):
                counts.unchanged[kind] += 1
            else:
                conn.execute(
                    update(table)
                    .where(table.c.user_id == user_id, table.c.kind == kind, table.c.start_ms == start_ms)
                    .values(raw=text_, source=source, imported_ms=imported_ms)
                )
                counts.updated[kind] += 1
        if fresh:
            conn.execute(table.insert(), fresh)
            counts.new[kind] += len(fresh)

    @staticmethod
    def _import_journal(
        conn: Connection, user_id: int, journal: Sequence[JournalRow], imported_ms: int, counts: ImportCounts
    ) -> None:
        table = schema.journal_entries
        wanted = {(row.cycle_start_ms, row.question): row for row in journal}
        stored: dict[tuple[int, str], tuple[Any, ...]] = {}
        starts = sorted({start for start, _ in wanted})
        for chunk in _chunks(starts):
            for start, question, *rest in conn.execute(
                select(
                    table.c.cycle_start_ms,
                    table.c.question,
                    table.c.answered_yes,
                    table.c.notes,
                    table.c.cycle_end_ms,
                    table.c.timezone_offset,
                    table.c.cycle_id,
                ).where(table.c.user_id == user_id, table.c.cycle_start_ms.in_(chunk))
            ):
                stored[(int(start), str(question))] = (bool(rest[0]), *rest[1:])
        fresh: list[dict[str, Any]] = []
        for (start, question), row in wanted.items():
            values = {
                "answered_yes": row.answered_yes,
                "notes": row.notes,
                "cycle_end_ms": row.cycle_end_ms,
                "timezone_offset": row.timezone_offset,
                "cycle_id": row.cycle_id,
            }
            old = stored.get((start, question))
            if old is None:
                fresh.append(
                    {
                        "user_id": user_id,
                        "cycle_start_ms": start,
                        "question": question,
                        **values,
                        "imported_ms": imported_ms,
                    }
                )
            elif old == tuple(values.values()):
                counts.unchanged["journal"] += 1
            else:
                conn.execute(
                    update(table)
                    .where(
                        table.c.user_id == user_id,
                        table.c.cycle_start_ms == start,
                        table.c.question == question,
                    )
                    .values(**values, imported_ms=imported_ms)
                )
                counts.updated["journal"] += 1
        if fresh:
            conn.execute(table.insert(), fresh)
            counts.new["journal"] += len(fresh)

    def imported_records(self, user_id: int, kind: Collection, lo: datetime, hi: datetime) -> list[Any]:
        """Imported records of ``kind`` starting in ``[lo, hi)``, newest first, as v2 models."""
        table = schema.imported_records
        query = (
            select(table.c.raw)
            .where(
                table.c.user_id == user_id,
                table.c.kind == kind,
                table.c.start_ms >= to_ms(lo),
                table.c.start_ms < to_ms(hi),
            )
            .order_by(table.c.start_ms.desc())
        )
        with self._read() as conn:
            return _usable(MODELS[kind], conn.execute(query))

    def journal(self, user_id: int, lo: datetime, hi: datetime) -> list[JournalRow]:
        """Journal answers of the cycles starting in ``[lo, hi)``, oldest cycle first."""
        table = schema.journal_entries
        query = (
            select(
                table.c.cycle_start_ms,
                table.c.question,
                table.c.answered_yes,
                table.c.notes,
                table.c.cycle_end_ms,
                table.c.timezone_offset,
                table.c.cycle_id,
            )
            .where(
                table.c.user_id == user_id,
                table.c.cycle_start_ms >= to_ms(lo),
                table.c.cycle_start_ms < to_ms(hi),
            )
            .order_by(table.c.cycle_start_ms, table.c.question)
        )
        with self._read() as conn:
            return [
                JournalRow(
                    cycle_start_ms=int(start),
                    question=str(question),
                    answered_yes=bool(yes),
                    notes=notes,
                    cycle_end_ms=None if end is None else int(end),
                    timezone_offset=str(offset),
                    cycle_id=None if cycle_id is None else int(cycle_id),
                )
                for start, question, yes, notes, end, offset, cycle_id in conn.execute(query)
            ]

    def oldest_pending(self, user_id: int, kind: Collection, since_ms: int) -> int | None:
        """The start of the oldest record since ``since_ms`` that WHOOP has not scored yet."""
        table = TABLES[kind]
        with self._read() as conn:
            value = conn.execute(
                select(func.min(table.c.start_ms)).where(
                    table.c.user_id == user_id,
                    table.c.score_state == "PENDING_SCORE",
                    table.c.start_ms >= since_ms,
                )
            ).scalar()
        return None if value is None else int(value)

    def pending_ids(self, user_id: int, kind: Collection, before_ms: int, limit: int) -> list[Any]:
        """Ids of up to ``limit`` records starting before ``before_ms`` that are still PENDING_SCORE."""
        table = TABLES[kind]
        key = table.c[_KEY[kind]]
        with self._read() as conn:
            return [
                r[0]
                for r in conn.execute(
                    select(key)
                    .where(
                        table.c.user_id == user_id,
                        table.c.score_state == "PENDING_SCORE",
                        table.c.start_ms < before_ms,
                    )
                    .order_by(table.c.start_ms.desc())
                    .limit(limit)
                )
            ]

    def delete_ids(self, user_id: int, kind: Collection, ids: Sequence[Any]) -> int:
        """Delete records WHOOP confirmed gone; returns how many."""
        if not ids:
            return 0
        with self._write() as conn:
            _bump_version(conn)
            return self._delete(conn, user_id, kind, ids)

    def density(self, user_id: int, kind: Collection, lo: int, hi: int) -> float | None:
        """Records per day in ``[lo, hi)``, or None when that span holds too few to tell."""
        table = TABLES[kind]
        with self._read() as conn:
            count = conn.execute(
                select(func.count()).where(
                    table.c.user_id == user_id, table.c.start_ms >= lo, table.c.start_ms < hi
                )
            ).scalar_one()
        days = (hi - lo) / 86_400_000
        return count / days if count >= 10 and days >= 7 else None

    def has_records(self, user_id: int, kinds: Sequence[Collection]) -> bool:
        """Whether any of ``kinds`` holds a row for the user."""
        with self._read() as conn:
            for kind in kinds:
                table = TABLES[kind]
                if conn.execute(select(table.c.user_id).where(table.c.user_id == user_id).limit(1)).first():
                    return True
        return False

    def has_imported(self, user_id: int, kinds: Sequence[Collection]) -> bool:
        """Whether the user has an imported record (from the app's export) of any of ``kinds``."""
        table = schema.imported_records
        query = select(table.c.user_id).where(table.c.user_id == user_id, table.c.kind.in_(list(kinds)))
        with self._read() as conn:
            return conn.execute(query.limit(1)).first() is not None

    def latest_offset(self, user_id: int) -> timedelta | None:
        """The timezone offset of the user's newest stored cycle."""
        table = schema.cycles
        with self._read() as conn:
            value = conn.execute(
                select(table.c.timezone_offset)
                .where(table.c.user_id == user_id)
                .order_by(table.c.start_ms.desc())
                .limit(1)
            ).scalar()
        return _parse_offset(value) if value else None

    # ------------------------------------------------------------------ profile, body, users

    def save_profile(self, profile: UserBasicProfile, synced: datetime) -> None:
        """Store the profile and remember its user as this store's local user."""
        row = {
            "user_id": profile.user_id,
            "email": profile.email,
            "first_name": profile.first_name,
            "last_name": profile.last_name,
            "raw": profile.model_dump_json(),
            "synced_ms": to_ms(synced),
        }
        with self._write() as conn:
            _replace(conn, schema.profiles, {"user_id": profile.user_id}, row)
            _replace(
                conn,
                schema.meta,
                {"key": "local_user_id"},
                {"key": "local_user_id", "value": str(profile.user_id)},
            )

    def save_body(self, user_id: int, body: UserBodyMeasurement | None, synced: datetime) -> None:
        """Store body measurements (None: the member has none; the sync time is still recorded)."""
        with self._write() as conn:
            if body is None:
                conn.execute(
                    delete(schema.body_measurements).where(schema.body_measurements.c.user_id == user_id)
                )
                _replace(
                    conn,
                    schema.meta,
                    {"key": f"body_synced:{user_id}"},
                    {"key": f"body_synced:{user_id}", "value": str(to_ms(synced))},
                )
                return
            row = {
                "user_id": user_id,
                "height_meter": body.height_meter,
                "weight_kilogram": body.weight_kilogram,
                "max_heart_rate": body.max_heart_rate,
                "raw": body.model_dump_json(),
                "synced_ms": to_ms(synced),
            }
            _replace(conn, schema.body_measurements, {"user_id": user_id}, row)
            _replace(
                conn,
                schema.meta,
                {"key": f"body_synced:{user_id}"},
                {"key": f"body_synced:{user_id}", "value": str(to_ms(synced))},
            )

    def profile(self, user_id: int) -> UserBasicProfile | None:
        """The stored profile."""
        table = schema.profiles
        with self._read() as conn:
            raw = conn.execute(select(table.c.raw).where(table.c.user_id == user_id)).scalar()
        return None if raw is None else UserBasicProfile.model_validate_json(raw)

    def body(self, user_id: int) -> UserBodyMeasurement | None:
        """The stored body measurements."""
        table = schema.body_measurements
        with self._read() as conn:
            raw = conn.execute(select(table.c.raw).where(table.c.user_id == user_id)).scalar()
        return None if raw is None else UserBodyMeasurement.model_validate_json(raw)

    def meta_synced(self, user_id: int, what: str) -> datetime | None:
        """When the profile (``what="profile"``) or body measurements were last fetched."""
        with self._read() as conn:
            if what == "profile":
                table = schema.profiles
                value = conn.execute(select(table.c.synced_ms).where(table.c.user_id == user_id)).scalar()
            else:
                raw = conn.execute(
                    select(schema.meta.c.value).where(schema.meta.c.key == f"body_synced:{user_id}")
                ).scalar()
                value = int(raw) if raw else None
        return from_ms(value)

    def forget_local_user(self) -> None:
        """Forget which WHOOP member this store belongs to (the next read asks WHOOP)."""
        with self._write() as conn:
            conn.execute(delete(schema.meta).where(schema.meta.c.key == "local_user_id"))

    def data_version(self) -> int:
        """A counter that every change to stored records moves (derived views compare it)."""
        with self._read() as conn:
            value = conn.execute(
                select(schema.meta.c.value).where(schema.meta.c.key == "data_version")
            ).scalar()
        return int(value) if value else 0

    def local_user_id(self) -> int | None:
        """The WHOOP user this local store belongs to (the last one who synced), if known."""
        with self._read() as conn:
            value = conn.execute(
                select(schema.meta.c.value).where(schema.meta.c.key == "local_user_id")
            ).scalar()
        return int(value) if value else None

    def delete_user(self, user_id: int) -> None:
        """Remove every row of one user: records, score history, imports, journal, profile, body, sync."""
        with self._write() as conn:
            _bump_version(conn)
            for table in (
                *TABLES.values(),
                schema.score_versions,
                schema.imported_records,
                schema.journal_entries,
                schema.profiles,
                schema.body_measurements,
                schema.sync_state,
            ):
                conn.execute(delete(table).where(table.c.user_id == user_id))
            conn.execute(delete(schema.meta).where(schema.meta.c.key == f"body_synced:{user_id}"))
            conn.execute(
                delete(schema.meta).where(
                    schema.meta.c.key == "local_user_id", schema.meta.c.value == str(user_id)
                )
            )

    # ------------------------------------------------------------------ sync state

    def sync_state(self, user_id: int, kind: Collection) -> SyncState:
        """The collection's checkpoint (empty when never synced)."""
        with self._read() as conn:
            return self._read_state(conn, user_id, kind)

    def save_sync_state(self, user_id: int, kind: Collection, state: SyncState) -> None:
        """Write the collection's checkpoint."""
        with self._write() as conn:
            self._save_state(conn, user_id, kind, state)

    @staticmethod
    def _read_state(conn: Connection, user_id: int, kind: Collection) -> SyncState:
        table = schema.sync_state
        row = (
            conn.execute(select(table).where(table.c.user_id == user_id, table.c.collection == kind))
            .mappings()
            .first()
        )
        if row is None:
            return SyncState()
        return SyncState(
            intervals=[(int(a), int(b)) for a, b in json.loads(row["intervals"])],
            complete=bool(row["complete"]),
            last_success_ms=row["last_success_ms"],
            last_attempt_ms=row["last_attempt_ms"],
            last_error=row["last_error"],
        )

    @staticmethod
    def _save_state(conn: Connection, user_id: int, kind: Collection, state: SyncState) -> None:
        row = {
            "user_id": user_id,
            "collection": kind,
            "intervals": json.dumps(state.intervals),
            "complete": state.complete,
            "last_success_ms": state.last_success_ms,
            "last_attempt_ms": state.last_attempt_ms,
            "last_error": state.last_error,
        }
        _replace(conn, schema.sync_state, {"user_id": user_id, "collection": kind}, row)

    def last_synced(self, user_id: int, kind: Collection) -> datetime | None:
        """When the collection was last brought up to date."""
        return from_ms(self.sync_state(user_id, kind).last_success_ms)

    # ------------------------------------------------------------------ status

    def status(self, user_id: int | None) -> StoreStatus:
        """Rows, covered range and last sync per collection, plus the file's size."""
        path = _sqlite_path(str(self.engine.url))
        size = None
        if path is not None:
            size = sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
        out = StoreStatus(
            location=self.location, size_bytes=size, user_id=user_id, recovered_from=self.recovered_from
        )
        for kind in COLLECTIONS:
            table = TABLES[kind]
            if user_id is None:
                out.collections[kind] = CollectionStatus(0, None, None, None, False)
                continue
            with self._read() as conn:
                count, oldest, newest = conn.execute(
                    select(func.count(), func.min(table.c.start_ms), func.max(table.c.start_ms)).where(
                        table.c.user_id == user_id
                    )
                ).one()
            state = self.sync_state(user_id, kind)
            out.collections[kind] = CollectionStatus(
                rows=int(count),
                oldest=from_ms(oldest),
                newest=from_ms(newest),
                last_sync=from_ms(state.last_success_ms),
                complete=state.complete,
            )
        return out


# ---------------------------------------------------------------------------------------- helpers


def score_json(score: Any) -> str:
    """The canonical JSON text of a ``score`` object (``"null"`` for none), as ``score_versions`` keeps it.

    Migration 0002 writes the same text, so the first sync after an upgrade finds nothing changed.
    """
    return json.dumps(score, separators=(",", ":"), sort_keys=True, ensure_ascii=False, allow_nan=False)


def _insert_ignoring_known(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows``, skipping (on SQLite and PostgreSQL) any whose primary key is already stored.

    A new record's version is written without a read first: its key exists already only if WHOOP
    deleted and re-created the record with the same ``updated_at``, and then the stored version stands.
    """
    dialect = conn.dialect.name
    if dialect == "sqlite":
        conn.execute(sqlite.insert(table).on_conflict_do_nothing(), rows)
    elif dialect == "postgresql":
        conn.execute(postgresql.insert(table).on_conflict_do_nothing(), rows)
    else:
        conn.execute(table.insert(), rows)  # no portable "ignore"; the keys read were left out


def _chunks(values: Sequence[Any], size: int = _IN_CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _replace(conn: Connection, table: Table, key: dict[str, Any], row: dict[str, Any]) -> None:
    if conn.dialect.name == "postgresql":
        # One statement: hosted processes write the same rows at once, and update-then-insert lets two
        # first writers both insert (a unique violation).
        rest = {k: v for k, v in row.items() if k not in key}
        statement = postgresql.insert(table).values(**row)
        conn.execute(statement.on_conflict_do_update(index_elements=list(key), set_=rest or row))
        return
    where = [table.c[k] == v for k, v in key.items()]
    if conn.execute(update(table).where(*where).values(**row)).rowcount == 0:
        conn.execute(table.insert().values(**row))


def _bump_version(conn: Connection) -> None:
    # One atomic statement on SQLite and PostgreSQL: with several processes writing one PostgreSQL
    # database, read-then-write lost bumps and two first writers both inserted the row (unique violation).
    meta = schema.meta
    bumped = {"value": cast(cast(meta.c.value, Integer) + 1, String)}
    first = {"key": "data_version", "value": "1"}
    if conn.dialect.name == "sqlite":
        conn.execute(
            sqlite.insert(meta).values(first).on_conflict_do_update(index_elements=["key"], set_=bumped)
        )
        return
    if conn.dialect.name == "postgresql":
        conn.execute(
            postgresql.insert(meta).values(first).on_conflict_do_update(index_elements=["key"], set_=bumped)
        )
        return
    current = conn.execute(select(meta.c.value).where(meta.c.key == "data_version")).scalar()
    _replace(
        conn, meta, {"key": "data_version"}, {"key": "data_version", "value": str(int(current or 0) + 1)}
    )


def _usable(model: type[BaseModel], rows: Iterable[Any]) -> list[Any]:
    # A stored record that no longer validates (written by an older, laxer version) is skipped, logged.
    return [record for (raw,) in rows if (record := validate_or_none(model, raw)) is not None]


def _parse_offset(value: str) -> timedelta | None:
    # Rows written before the models checked offsets may hold "+99:00"; timezone() would refuse it.
    zone = offset_or_none(value)
    return None if zone is None else zone.utcoffset(None)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:200]


def _engine(url: str) -> Engine:
    if not _is_sqlite(url):
        return create_engine(url, pool_pre_ping=True)
    # A small pool of reused connections: opening one (and its pragmas) per query would cost more than
    # most of the queries themselves.
    engine = create_engine(url, pool_size=4, max_overflow=8, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


def _sqlite_problem(path: Path) -> str | None:
    """Why the file at ``path`` is not a usable SQLite database, or None (also None when absent)."""
    if not path.exists():
        return None
    if path.is_dir():
        return "it is a directory"
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            row = conn.execute("PRAGMA quick_check").fetchone()
        finally:
            conn.close()
    except sqlite3.OperationalError as exc:
        # Locked or busy (another process is writing), or not openable (permissions): none of these is
        # corruption, and moving a healthy database aside would lose its history.
        logger.debug("quick_check could not run on %s: %s", path, exc)
        return None
    except sqlite3.DatabaseError as exc:
        return str(exc)
    if row is None or row[0] != "ok":
        return f"quick_check said {row[0] if row else 'nothing'}"
    return None


def _move_aside(path: Path) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    os.replace(path, target)
    for suffix in ("-wal", "-shm"):
        side = Path(f"{path}{suffix}")
        if side.exists():
            os.replace(side, Path(f"{target}{suffix}"))
    return str(target)


def _current_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _migrate(engine: Engine, location: str) -> None:
    """Bring the schema to ``HEAD_REVISION``; Alembic is only imported when there is work to do.

    Raises:
        StoreError: the database carries a revision this code does not know (a newer whoopkit).
    """
    with engine.connect() as conn:
        current = _current_revision(conn)
    if current == HEAD_REVISION:
        return
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    known = {rev.revision for rev in script.walk_revisions()}
    if current is not None and current not in known:
        advice = "update whoopkit, or point WHOOP_DATABASE_URL at another database"
        raise StoreError(
            f"The history database {location} was written by a newer whoopkit (schema revision "
            f"{current}; this version knows up to {HEAD_REVISION}): {advice}.",
            location=location,
        )
    from alembic import command

    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    logger.info("history database %s migrated from %s to %s", location, current or "empty", HEAD_REVISION)


def is_locked_error(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's "database is locked" (the busy timeout ran out)."""
    return isinstance(exc, DBAPIError) and "locked" in str(exc.orig).lower()
