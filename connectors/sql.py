"""Databases behind legacy systems (Caselink, Idox Uniform, ...) through any
SQLAlchemy URL: a read-only source and an upserting sink.

Source options
  url              SQLAlchemy URL, e.g. postgresql+psycopg://reader@db/cases
  password_env     environment variable holding the password (kept out of the URL and logs)
  table | query    a table (with optional `schema`) or a SELECT
  key              the column(s) identifying a row
  cursor           a column that grows when a row is inserted or changed
                   (updated-at timestamp or increasing id); without it every
                   run reads the whole table
  deletes          {method: keyset, interval_seconds: 86400}
                   or {method: tombstone, table: ..., key: [...], cursor: ...}
  overlap_minutes  re-read rows whose cursor is up to this many minutes before the last one
                   read, for rows committed late with an older cursor value (a long
                   transaction); rows whose content was sent already are not sent again.
                   Needs a date or timestamp cursor and state_dir.
  state_dir        where the source keeps the keys and versions it has sent (needed for
                   keyset and overlap_minutes; the agent gives each task one)
  chunk_rows       rows per chunk (default 2000)
  connect_timeout  seconds (default 15)

The source never writes: SQLite is opened with mode=ro, PostgreSQL and MySQL
sessions are set read-only; for other databases use a login that can only read.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    MetaData,
    String,
    Table,
    Text,
    and_,
    bindparam,
    create_engine,
    delete,
    event,
    insert,
    inspect,
    literal_column,
    or_,
    select,
    table,
    text,
)
from sqlalchemy import column as sql_column
from sqlalchemy.engine import URL, Connection, Engine, Result, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, NoSuchTableError, SQLAlchemyError
from sqlalchemy.sql import ColumnElement, FromClause, Select, TextClause
from sqlalchemy.sql.expression import BindParameter, ColumnClause

from .base import Chunk, ConnectorError, SourceRow, event_sequence
from .base import Sink as BaseSink
from .base import Source as BaseSource
from .keystate import KeyState, decode_value, encode_value, key_text
from .options import (
    CHUNK_ROWS,
    Schema,
    content_version,
    env_secret,
    exactly_one_of,
    names,
    optional_path,
    options_schema,
    resolve_path,
    text_or_list,
)

KEYSET_PAGE = 20_000  # keys read per query during a key-set comparison
DELETE_BATCH = 500  # keys per DELETE ... IN (...) in the sink


# ---------------------------------------------------------------- connecting


CONNECTION_OPTIONS: dict[str, Schema] = {
    "url": {"type": "string", "minLength": 1,
            "description": "SQLAlchemy URL without the password, e.g. postgresql+psycopg://reader@db/cases"},
    "password_env": {"type": "string", "minLength": 1,
                     "description": "environment variable holding the password (kept out of the URL and logs)"},
    "schema": {"type": "string", "minLength": 1, "description": "the database schema of the table"},
    "connect_timeout": {"type": "integer", "minimum": 1, "default": 15, "description": "seconds"},
}


def _url(what: str, options: Mapping[str, Any], base_dir: Path, read_only: bool) -> URL:
    try:
        url = make_url(options["url"])
    except ArgumentError:
        raise ConnectorError(
            f"{what}: option 'url' is not a SQLAlchemy URL (e.g. postgresql+psycopg://user@host/db)") from None
    password = env_secret(what, "password_env", options.get("password_env"))
    if password is not None:
        url = url.set(password=password)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        path = resolve_path(base_dir, url.database.removeprefix("file:"))
        if read_only:
            # mode=ro: SQLite itself refuses every write on this connection.
            url = url.set(database=f"file:{path}?mode=ro", query={"uri": "true"})
        else:
            url = url.set(database=str(path))
    return url


def shown(url: URL) -> str:
    """The URL as it may be logged or shown: never with the password."""
    return url.render_as_string(hide_password=True)


def make_engine(url: URL, read_only: bool, connect_timeout: int) -> Engine:
    connect_args: dict[str, Any] = {}
    backend = url.get_backend_name()
    if backend == "postgresql" and url.get_driver_name() in ("psycopg", "psycopg2"):
        connect_args["connect_timeout"] = connect_timeout
    elif backend == "sqlite":
        connect_args["timeout"] = connect_timeout
    try:
        engine = create_engine(url, connect_args=connect_args, pool_pre_ping=True)
    except NoSuchModuleError as exc:
        raise ConnectorError(f"no SQLAlchemy dialect for {url.drivername!r}: {exc}") from None
    except ModuleNotFoundError as exc:
        raise ConnectorError(f"the database driver for {url.drivername!r} is not installed ({exc.name})") from None
    if read_only and backend in ("postgresql", "mysql", "mariadb"):
        statement = (
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"
            if backend == "postgresql"
            else "SET SESSION TRANSACTION READ ONLY"
        )

        @event.listens_for(engine, "connect")
        def _session_read_only(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(statement)
            cursor.close()
            dbapi_connection.commit()  # a rolled-back SET would be undone

    return engine


def explain(exc: Exception, url: URL) -> ConnectorError:
    """A message a person can act on, naming the database but never the password."""
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    lowered = str(getattr(exc, "orig", None) or exc).lower()
    where = shown(url)
    if any(s in lowered for s in ("password authentication failed", "login failed", "ora-01017", "access denied")):
        return ConnectorError(f"cannot log in to {where}: the user name or password is wrong ({detail})")
    if any(s in lowered for s in ("could not connect", "connection refused", "timeout expired", "timed out",
                                  "could not translate host", "name or service not known", "unable to open database",
                                  "no route to host", "ora-12541", "ora-12154")):
        return ConnectorError(f"cannot reach the database at {where}: {detail}")
    return ConnectorError(f"database error at {where}: {detail}")


def after(columns: list[ColumnClause[Any]], values: list[Any]) -> ColumnElement[bool]:
    """Rows strictly after `values` in the order of `columns` (lexicographic):
    c1 > v1 OR (c1 = v1 AND (c2 > v2 OR (c2 = v2 AND ...)))."""
    first = columns[0]
    value: BindParameter[Any] = bindparam(None, values[0])
    if len(columns) == 1:
        return first > value
    return or_(first > value, and_(first == value, after(columns[1:], values[1:])))


def _plain(value: object) -> object:
    return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)


# ---------------------------------------------------------------- source


_NAME: Schema = {"type": "string", "minLength": 1}
DELETES_OPTION: Schema = {
    "type": "object", "required": ["method"],
    "properties": {"method": {"enum": ["keyset", "tombstone"]}},
    "allOf": [
        {"if": {"required": ["method"], "properties": {"method": {"const": "keyset"}}},
         "then": {"additionalProperties": False, "properties": {
             "method": True, "interval_seconds": {"type": "number", "minimum": 0, "default": 86400}}}},
        {"if": {"required": ["method"], "properties": {"method": {"const": "tombstone"}}},
         "then": {"additionalProperties": False, "required": ["table", "cursor"], "properties": {
             "method": True, "table": _NAME, "schema": _NAME, "cursor": _NAME,
             "key": text_or_list("the tombstone table's key columns (default: like 'key')")}}},
    ],
    "description": "{method: keyset, interval_seconds} or {method: tombstone, table, key, cursor, schema}",
}


class Source(BaseSource):
    options_schema = options_schema({
        **CONNECTION_OPTIONS,
        "table": {**_NAME, "description": "the table to read (with optional schema)"},
        "query": {**_NAME, "description": "a SELECT to read instead of a table"},
        "key": text_or_list("the column(s) identifying a row"),
        "cursor": {**_NAME, "description": "a column that grows when a row is inserted or changed"},
        "deletes": DELETES_OPTION,
        "overlap_minutes": {"type": "number", "minimum": 0, "default": 0,
                            "description": "re-read rows whose cursor is up to this many minutes older than the "
                                           "last one read (rows committed late); needs a timestamp cursor"},
        "state_dir": {**_NAME, "description": "where the source keeps the keys and versions it has sent"},
        "chunk_rows": CHUNK_ROWS,
    }, {"required": ["url", "key"]}, exactly_one_of("table", "query", message="give exactly one of 'table' or 'query'"),
        description="a database table or query, read-only, through any SQLAlchemy URL")

    def __init__(self, options: Mapping[str, Any] | None, base_dir: Path | str | None = None):
        super().__init__(options, base_dir)
        opts = self.options
        self.url = _url(self.what(), opts, self.base_dir, read_only=True)
        self.table_name: str | None = opts.get("table")
        self.query: str | None = opts.get("query")
        self.schema: str | None = opts.get("schema")
        self.key: list[str] = names(opts["key"]) or []
        self.cursor: str | None = opts.get("cursor")
        self.chunk_rows: int = opts["chunk_rows"]
        self.connect_timeout: int = opts["connect_timeout"]
        self.state_dir = optional_path(self.base_dir, opts.get("state_dir"))
        self.overlap_minutes: float = opts["overlap_minutes"]
        if self.overlap_minutes and (self.cursor is None or self.state_dir is None):
            raise ConnectorError(f"{self.what()}: option 'overlap_minutes' needs 'cursor' (a date or timestamp "
                                 "column) and 'state_dir' (where the versions already sent are kept)")
        self.deletes = self._deletes_option(opts.get("deletes"))
        self.name = self.table_name or "query"
        self._engine: Engine | None = None
        self._columns: list[str] | None = None

    def _deletes_option(self, spec: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """The deletes option with its defaults; the schema has checked its shape."""
        if spec is None:
            return None
        if spec["method"] == "keyset":
            if self.state_dir is None:
                raise ConnectorError(f"{self.what()}: option 'deletes' keyset needs 'state_dir' for the keys it has seen")
            return {"method": "keyset", "interval_seconds": spec.get("interval_seconds", 86400)}
        keys = names(spec.get("key")) or self.key
        if len(keys) != len(self.key):
            raise ConnectorError(
                f"{self.what()}: option 'deletes' tombstone key must have {len(self.key)} column(s), like 'key'")
        return {"method": "tombstone", "table": spec["table"], "schema": spec.get("schema"),
                "key": keys, "cursor": spec["cursor"]}

    # -- plumbing

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.url, read_only=True, connect_timeout=self.connect_timeout)
        return self._engine

    def connect(self) -> Connection:
        """A read-only connection to the source database."""
        try:
            return self.engine.connect()
        except DBAPIError as exc:
            raise explain(exc, self.url) from None

    def _from(self) -> FromClause | TextClause:
        if self.table_name:
            return table(self.table_name, schema=self.schema)
        return text(f"({self.query}) src")

    def _table_columns(self, conn: Connection, name: str, schema: str | None, what: str) -> list[str]:
        try:
            return [c["name"] for c in inspect(conn).get_columns(name, schema=schema)]
        except NoSuchTableError:
            found = inspect(conn).get_table_names(schema=schema)
            listed = ", ".join(found[:20]) + (" ..." if len(found) > 20 else "")
            raise ConnectorError(f"{what} {name!r} not found in {shown(self.url)} (tables: {listed or 'none'})") from None

    def columns(self) -> list[str]:
        if self._columns is None:
            with self.connect() as conn:
                try:
                    if self.table_name:
                        self._columns = self._table_columns(conn, self.table_name, self.schema, "table")
                    else:
                        result: Result[Any] = conn.execute(
                            select(literal_column("*")).select_from(self._from()).limit(0))
                        self._columns = list(result.keys())
                except DBAPIError as exc:
                    raise explain(exc, self.url) from None
            self._require(self._columns, self.key + ([self.cursor] if self.cursor else []), f"{self.name!r}")
        return self._columns

    def _require(self, available: list[str], wanted: list[str], where: str) -> None:
        missing = [c for c in wanted if c not in available]
        if missing:
            raise ConnectorError(
                f"column {', '.join(map(repr, missing))} not found in {where} of {shown(self.url)} "
                f"(columns: {', '.join(available)})"
            )

    def check(self) -> str:
        columns = self.columns()
        if self.deletes and self.deletes["method"] == "tombstone":
            with self.connect() as conn:
                tomb = self.deletes
                found = self._table_columns(conn, tomb["table"], tomb["schema"], "tombstone table")
            self._require(found, tomb["key"] + [tomb["cursor"]], f"tombstone table {tomb['table']!r}")
        return f"{shown(self.url)} {self.name} ({len(columns)} columns, read-only)"

    def _state(self) -> KeyState | None:
        if self.state_dir is None:
            return None
        identity = f"{shown(self.url)}|{self.schema}|{self.name}|{self.query}|{self.key}"
        digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
        return KeyState(self.state_dir / f"sql-{self.name[:40]}-{digest}.sqlite")

    def _pages(self, source: FromClause | TextClause, order: list[str], position: list[Any] | None,
               limit: int, floor: ColumnElement[bool] | None = None) -> Iterator[list[dict[str, Any]]]:
        """Pages of rows in `order`, each query starting strictly after the last row of the previous one
        (the first at `floor`, a condition, when given instead of a position)."""
        columns: list[ColumnClause[Any]] = [sql_column(c) for c in order]
        while True:
            stmt: Select[Any] = select(literal_column("*")).select_from(source).order_by(*columns).limit(limit)
            if position is not None:
                stmt = stmt.where(after(columns, position))
            elif floor is not None:
                stmt = stmt.where(floor)
            try:
                with self.connect() as conn:
                    rows = [dict(r._mapping) for r in conn.execute(stmt)]
            except DBAPIError as exc:
                raise explain(exc, self.url) from None
            if not rows:
                return
            yield rows
            if len(rows) < limit:
                return
            position = [rows[-1][c] for c in order]

    # -- reading

    def read(self, checkpoint: dict[str, Any] | None) -> Iterator[Chunk]:
        self.columns()
        # One checkpoint, updated in place by each phase, so every chunk carries all positions.
        progress = dict(checkpoint or {})
        state = self._state()
        deletes = self.deletes
        if deletes and deletes["method"] == "tombstone":
            yield from self._read_tombstones(progress, deletes)
        yield from self._read_changes(progress, state)
        if deletes and deletes["method"] == "keyset" and state is not None:  # keyset always has a state_dir
            yield from self._compare_keys(progress, state, deletes["interval_seconds"])

    def _row(self, data: dict[str, Any]) -> SourceRow:
        key = [data[k] for k in self.key]
        return SourceRow(
            data=data,
            location={"table": self.name, "primary_key": {k: _plain(v) for k, v in zip(self.key, key)}},
            identity=f"{self.name}:{key_text(key)}",
            version=content_version(data),
        )

    def _read_changes(self, progress: dict[str, Any], state: KeyState | None) -> Iterator[Chunk]:
        # Rows come in (cursor, key) order and each page starts strictly after
        # the last (cursor, key) pair committed. Cursor alone would not do:
        # when many rows share one timestamp and a page ends among them,
        # "cursor > last" would lose the rest and "cursor >= last" would
        # repeat the page. The key breaks every tie, so nothing is lost or repeated.
        order = ([self.cursor] if self.cursor else []) + self.key
        position_name = "after" if self.cursor else "scan_after"
        saved = progress.get(position_name)
        position = [decode_value(v) for v in saved] if saved else None
        floor: ColumnElement[bool] | None = None
        if self.overlap_minutes and self.cursor and position is not None:
            # A transaction that commits late leaves rows with a cursor older than rows already read:
            # start the window before the last cursor value, and send only what was not sent.
            floor = sql_column(self.cursor) >= bindparam(None, self._earlier(position[0]))
            position = None
        deduplicate = state is not None and (not self.cursor or self.overlap_minutes)
        for rows in self._pages(self._from(), order, position, self.chunk_rows, floor):
            source_rows = [self._row(r) for r in rows]
            progress[position_name] = [encode_value(rows[-1][c]) for c in order]
            if deduplicate and state is not None:  # a full scan or an overlap: only rows whose content changed
                versions = state.versions([r.identity for r in source_rows])
                source_rows = [r for r in source_rows if versions.get(r.identity) != r.version]
            yield Chunk(source_rows, dict(progress), on_commit=_recorder(state, source_rows))
        if not self.cursor and progress.pop("scan_after", None) is not None:
            yield Chunk([], dict(progress))  # the scan is finished; the next run scans again from the start

    def _earlier(self, value: Any) -> Any:
        """The cursor value `overlap_minutes` before `value`, of the same kind (text stays ISO text)."""
        delta = timedelta(minutes=self.overlap_minutes)
        days = timedelta(days=math.ceil(self.overlap_minutes / 1440))
        if isinstance(value, datetime):
            return value - delta
        if isinstance(value, date):
            return value - days
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                moment = None
            if moment is not None:
                if len(value) == 10:
                    return (moment - days).date().isoformat()
                return (moment - delta).isoformat(sep=value[10])
        raise ConnectorError(f"{self.what()}: option 'overlap_minutes' needs a date or timestamp cursor, but "
                             f"{self.cursor!r} of {self.name!r} holds {value!r}")

    def _read_tombstones(self, progress: dict[str, Any], tomb: dict[str, Any]) -> Iterator[Chunk]:
        order = [tomb["cursor"]] + tomb["key"]
        saved = progress.get("tombstone_after")
        position = [decode_value(v) for v in saved] if saved else None
        source = table(tomb["table"], schema=tomb["schema"])
        for rows in self._pages(source, order, position, self.chunk_rows):
            deletes = []
            for r in rows:
                key = [r[c] for c in tomb["key"]]
                deletes.append(SourceRow(
                    data=dict(zip(self.key, key)),
                    location={"table": tomb["table"], "primary_key": {k: _plain(v) for k, v in zip(self.key, key)}},
                    identity=f"{self.name}:{key_text(key)}",
                    version=f"deleted:{key_text([r[tomb['cursor']]])}",
                    op="delete",
                ))
            progress["tombstone_after"] = [encode_value(rows[-1][c]) for c in order]
            yield Chunk(deletes, dict(progress), on_commit=_recorder(self._state(), deletes))

    def _compare_keys(self, progress: dict[str, Any], state: KeyState, interval: float) -> Iterator[Chunk]:
        last = progress.get("keyset_at", 0)
        if time.time() - last < interval:
            return
        started = time.time()
        current = ([f"{self.name}:{key_text([r[k] for k in self.key])}" for r in page] for page in self._key_pages())
        gone = state.missing(current)
        done = {**progress, "keyset_at": started}
        if not gone:
            yield Chunk([], done)
            return
        for start in range(0, len(gone), self.chunk_rows):
            part = gone[start:start + self.chunk_rows]
            deletes = []
            for identity, version in part:
                key = [decode_value(v) for v in json.loads(identity[len(self.name) + 1:])]
                deletes.append(SourceRow(
                    data=dict(zip(self.key, key)),
                    location={"table": self.name, "primary_key": {k: _plain(v) for k, v in zip(self.key, key)}},
                    identity=identity,
                    version=f"deleted:{version or 'unknown'}",
                    op="delete",
                ))
            final = start + self.chunk_rows >= len(gone)
            yield Chunk(deletes, dict(done if final else progress), on_commit=_recorder(state, deletes))
        progress["keyset_at"] = started

    def _key_pages(self) -> Iterator[list[dict[str, Any]]]:
        columns: list[ColumnClause[Any]] = [sql_column(k) for k in self.key]
        position = None
        while True:
            stmt = select(*columns).select_from(self._from()).order_by(*columns).limit(KEYSET_PAGE)
            if position is not None:
                stmt = stmt.where(after(columns, position))
            try:
                with self.connect() as conn:
                    rows = [dict(r._mapping) for r in conn.execute(stmt)]
            except DBAPIError as exc:
                raise explain(exc, self.url) from None
            if rows:
                yield rows
            if len(rows) < KEYSET_PAGE:
                return
            position = [rows[-1][k] for k in self.key]


def _recorder(state: KeyState | None, rows: list[SourceRow]) -> Callable[[], None] | None:
    """What to do once the agent has committed these rows: remember which keys the hub now has."""
    if state is None or not rows:
        return None

    def record() -> None:
        upserts = [(r.identity, r.version) for r in rows if r.op != "delete"]
        deletes = [r.identity for r in rows if r.op == "delete"]
        state.record(upserts, deletes)

    return record


# ---------------------------------------------------------------- sink


class Sink(BaseSink):
    """Upserts delivered records into a local table, created if absent.

    Options: url, password_env, table, schema, key_column (default record_key),
    columns (payload fields to keep; default all, new fields add text columns).
    The table has the key column, one text column per payload field, and
    causeway_sequence / causeway_time. One transaction per write; writing the
    same events again leaves the table as it was."""

    options_schema = options_schema({
        **CONNECTION_OPTIONS,
        "table": {**_NAME, "description": "the table to upsert into (created if absent)"},
        "key_column": {**_NAME, "default": "record_key", "description": "the column holding the record key"},
        "columns": text_or_list("payload fields to keep; default all (new fields add text columns)"),
    }, {"required": ["url", "table"]}, description="upserts delivered records into a local table")

    def __init__(self, options: Mapping[str, Any] | None, base_dir: Path | str | None = None):
        super().__init__(options, base_dir)
        opts = self.options
        self.url = _url(self.what(), opts, self.base_dir, read_only=False)
        self.table_name: str = opts["table"]
        self.schema: str | None = opts.get("schema")
        self.key_column: str = opts["key_column"]
        self.fixed_columns = names(opts.get("columns"))
        self.connect_timeout: int = opts["connect_timeout"]
        self._engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.url, read_only=False, connect_timeout=self.connect_timeout)
        return self._engine

    def check(self) -> str:
        try:
            with self.engine.begin() as conn:
                exists = inspect(conn).has_table(self.table_name, schema=self.schema)
        except DBAPIError as exc:
            raise explain(exc, self.url) from None
        state = "exists" if exists else "will be created"
        return f"{shown(self.url)} table {self.table_name} ({state})"

    def _ensure_table(self, conn: Connection, fields: list[str]) -> Table:
        inspector = inspect(conn)
        if not inspector.has_table(self.table_name, schema=self.schema):
            columns: list[Column[Any]] = [Column(self.key_column, String(200), primary_key=True)]
            columns += [Column(f, Text) for f in fields if f != self.key_column]
            columns += [Column("causeway_sequence", BigInteger), Column("causeway_time", Text)]
            created = Table(self.table_name, MetaData(), *columns, schema=self.schema)
            created.create(conn)
            return created
        existing = {c["name"] for c in inspector.get_columns(self.table_name, schema=self.schema)}
        if self.key_column not in existing:
            raise ConnectorError(
                f"sql sink: table {self.table_name!r} has no key column {self.key_column!r} "
                f"(columns: {', '.join(sorted(existing))}); set key_column"
            )
        quote = conn.dialect.identifier_preparer.quote
        target = (quote(self.schema) + "." if self.schema else "") + quote(self.table_name)
        add = "ADD" if conn.dialect.name in ("mssql", "oracle") else "ADD COLUMN"
        for name in fields:
            if name not in existing:  # a field the dataset gained since the table was made
                conn.execute(text(f"ALTER TABLE {target} {add} {quote(name)} {Text().compile(dialect=conn.dialect)}"))
                existing.add(name)
        return Table(self.table_name, MetaData(), *[Column(c) for c in existing], schema=self.schema)

    def write(self, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        latest: dict[str, dict[str, Any]] = {}
        for event_ in events:  # delivered in sequence order: the last event for a key wins
            key = event_.get("subject")
            if not key:
                raise ConnectorError(f"sql sink: event {event_.get('id')} has no subject (record key)")
            latest[str(key)] = event_
        fields = self.fixed_columns or _payload_fields(latest.values())
        rows = []
        for key, event_ in latest.items():
            if event_.get("type", "").endswith(".delete"):
                continue
            data = event_.get("data") or {}
            row: dict[str, object] = {f: _text_cell(data.get(f)) for f in fields if f != self.key_column}
            row[self.key_column] = key
            row["causeway_sequence"] = event_sequence(event_)
            row["causeway_time"] = event_.get("time")
            rows.append(row)
        try:
            with self.engine.begin() as conn:
                target = self._ensure_table(conn, fields)
                keys = list(latest)
                key_col = target.c[self.key_column]
                for start in range(0, len(keys), DELETE_BATCH):
                    conn.execute(delete(target).where(key_col.in_(keys[start:start + DELETE_BATCH])))
                if rows:
                    conn.execute(insert(target), rows)
        except DBAPIError as exc:
            raise explain(exc, self.url) from None
        except SQLAlchemyError as exc:
            raise ConnectorError(f"sql sink: cannot write to {self.table_name!r}: {exc}") from None


def _payload_fields(events: Iterable[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for event_ in events:
        for name in event_.get("data") or {}:
            seen.setdefault(name, None)
    return list(seen)


def _text_cell(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)
