"""Validate one file and load it as one batch, all or nothing.

The batch id is the file's content hash, stored in ``ingest_batches`` in the same transaction as
the rows: loading the same bytes twice stores them once, and a crash mid-load leaves no partial
batch (DuckDB rolls an uncommitted transaction back when the file is next opened).

Validation runs inside DuckDB. A clean file loads in one guarded ``INSERT ... SELECT`` whose
filter aborts the statement on the first bad row; then (and only then) a careful path runs: one
aggregate pass counting each kind of problem and normalising categorical values, and, if
anything is wrong, a single-threaded pass naming the first rows and fields. Nothing is inserted
row by row.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import duckdb

from ecoperf_core.errors import FieldProblem, ValidationError
from ecoperf_core.ingest.shapes import (
    ENTITY_ID_COLUMNS,
    ENTITY_KINDS,
    IGNORED_COLUMNS,
    POINT_METRICS,
    SHAPES,
    Shape,
    canonical_name,
)
from ecoperf_core.warehouse.sql import identifier, literal

Format = Literal["csv", "parquet", "jsonl"]
Status = Literal["loaded", "duplicate", "rejected"]

SUFFIX_FORMATS: dict[str, Format] = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
MAX_REPORTED_PROBLEMS = 20
_NUMERIC_TYPES = frozenset(
    {
        "tinyint", "smallint", "integer", "bigint", "hugeint", "utinyint", "usmallint",
        "uinteger", "ubigint", "uhugeint", "float", "double", "decimal",
    }
)  # fmt: skip
_TIMESTAMP_TYPES = frozenset(
    {"timestamp", "timestamp with time zone", "timestamp_ns", "timestamp_ms", "timestamp_s", "date"}
)


@dataclass
class IngestResult:
    """What happened to one file."""

    source: str
    batch_id: str
    status: Status
    shape: Shape | None = None
    format: Format | None = None
    rows: int = 0
    min_ts: datetime | None = None
    max_ts: datetime | None = None
    error: ValidationError | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "batch_id": self.batch_id,
            "status": self.status,
            "shape": self.shape,
            "format": self.format,
            "rows": self.rows,
            "min_ts": self.min_ts.isoformat() if self.min_ts else None,
            "max_ts": self.max_ts.isoformat() if self.max_ts else None,
            "error": str(self.error) if self.error else None,
        }


def detect_format(path: Path) -> Format:
    fmt = SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValidationError(
            str(path),
            [
                FieldProblem(
                    "file",
                    f"unsupported file type {path.suffix!r}; expected one of "
                    + ", ".join(sorted(SUFFIX_FORMATS)),
                )
            ],
        )
    return fmt


def file_checksum(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def batch_id_for(checksum: str) -> str:
    return checksum[:32]


def _source_sql(fmt: Format, path: Path) -> str:
    quoted = literal(str(path))
    if fmt == "csv":
        # Everything as text: a stray word in a numeric column becomes a named problem, not a
        # silently re-typed column.
        return f"read_csv({quoted}, header = true, all_varchar = true)"
    if fmt == "parquet":
        return f"read_parquet({quoted})"
    return f"read_json({quoted}, format = 'newline_delimited', sample_size = -1)"


@dataclass(frozen=True)
class _SourceColumn:
    sql: str  # expression over the source relation
    type_id: str  # DuckDB type id, lower case ('varchar', 'double', 'timestamp', ...)
    original: str  # name as written in the file


def _leaf_columns(names: list[str], types: list[duckdb.DuckDBPyType]) -> list[tuple[str, str, str]]:
    """(path name, SQL expression, type id) of every leaf, flattening nested structs."""
    leaves: list[tuple[str, str, str]] = []

    def walk(label: str, sql: str, type_: duckdb.DuckDBPyType) -> None:
        if type_.id == "struct":
            for child_name, child_type in type_.children:
                walk(f"{label}.{child_name}", f"{sql}[{literal(child_name)}]", child_type)
        else:
            # DuckDB reports JSON as a varchar with the alias JSON; tell them apart.
            type_id = "json" if str(type_) == "JSON" else type_.id
            leaves.append((label, sql, type_id))

    for name, type_ in zip(names, types, strict=True):
        walk(name, identifier(name), type_)
    return leaves


def _resolve(
    con: duckdb.DuckDBPyConnection, source_sql: str, label: str
) -> tuple[Shape, dict[str, _SourceColumn]]:
    """Map the file's columns to canonical names; decide the shape; report column problems."""
    try:
        relation = con.sql(f"SELECT * FROM {source_sql}")
        names, types = list(relation.columns), list(relation.types)
    except duckdb.Error as exc:
        raise ValidationError(
            label, [FieldProblem("file", f"cannot be read: {_first_line(exc)}")]
        ) from exc

    problems: list[FieldProblem] = []
    columns: dict[str, _SourceColumn] = {}
    for original, sql, type_id in _leaf_columns(names, types):
        name = canonical_name(original.replace(".", "_"))
        if name in IGNORED_COLUMNS:
            continue
        if name in ENTITY_ID_COLUMNS:
            # "nodeId": "node-1" names kind and id at once; keyed "@node" until the plan.
            name = "@" + ENTITY_ID_COLUMNS[name]
        if name in columns:
            problems.append(
                FieldProblem(name, f"given twice (as {columns[name].original!r} and {original!r})")
            )
            continue
        columns[name] = _SourceColumn(sql, type_id, original)

    shape: Shape
    if "latency_ms" in columns:
        shape = "requests"
    elif any(metric in columns for metric in POINT_METRICS):
        shape = "points"
    else:
        problems.append(
            FieldProblem(
                "columns",
                "cannot tell the shape: raw samples need latency_ms; pre-aggregated points need at "
                "least one of " + ", ".join(POINT_METRICS),
            )
        )
        raise ValidationError(label, problems)

    allowed = set(SHAPES[shape].allowed)
    kind_columns = [name for name in columns if name.startswith("@")]
    for name, column in columns.items():
        if name.startswith("@"):
            continue
        if name not in allowed:
            problems.append(
                FieldProblem(
                    column.original,
                    f"is not a known column of {shape} files; known: " + ", ".join(sorted(allowed)),
                )
            )
    required = ["time"] + ([] if kind_columns else ["entity_kind", "entity_id"])
    if kind_columns and ("entity_id" in columns or "entity_kind" in columns):
        problems.append(
            FieldProblem(
                columns[kind_columns[0]].original,
                "names the entity a second time: give entity_kind + entity_id, or an id column "
                "such as nodeId, not both",
            )
        )
    problems += [
        FieldProblem(name, "column is missing") for name in required if name not in columns
    ]
    if shape == "requests" and "ok" not in columns and "status" not in columns:
        problems.append(FieldProblem("ok", "column is missing: raw samples need ok or status"))
    if problems:
        raise ValidationError(label, problems)
    return shape, columns


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


@dataclass(frozen=True)
class _Check:
    field: str
    condition: str  # true when the row is wrong
    message: str
    shown: str  # SQL giving the offending value as text


_MAX_CATEGORIES = 10_000
COMMON_ENVIRONMENTS = ("production", "staging", "dr", "development", "test", "canary")
_GUARD_TRIPPED = "ecoperf: a row needs the careful path"


@dataclass(frozen=True)
class _Categorical:
    name: str
    raw: str  # SQL text of the column
    allowed: tuple[str, ...] | None  # None: any non-empty value
    default: str | None  # stored for empty values
    message: str
    required: bool = True  # an empty value with no default is a problem

    def fast_violation(self) -> str:
        """True for a value the single-pass load cannot store as it is."""
        if self.allowed is not None:
            listed = ", ".join(literal(v) for v in self.allowed)
            missing = f"{self.raw} IS NULL OR " if self.required else ""
            return f"{missing}{self.raw} NOT IN ({listed})"
        # Any value is allowed, but only the usual ones are known to be canonical already.
        listed = ", ".join(literal(v) for v in COMMON_ENVIRONMENTS)
        return f"{self.raw} IS NULL OR {self.raw} NOT IN ({listed})"

    def canonical(self, value: str | None) -> str | None:
        cleaned = (value or "").strip().lower()
        return cleaned or self.default

    def resolve(self, values: list[str | None] | None) -> tuple[str, list[_Check]]:
        if values is None or len(values) > _MAX_CATEGORIES:
            fallback = f"lower(trim({self.raw}))"
            if self.default is not None:
                fallback = f"coalesce(nullif({fallback}, ''), {literal(self.default)})"
            return fallback, []
        mapping = {value: self.canonical(value) for value in values}
        invalid = [
            v
            for v, c in mapping.items()
            if c is not None and self.allowed and c not in self.allowed
        ]
        checks: list[_Check] = []
        if self.required and any(mapped is None for mapped in mapping.values()):
            checks.append(
                _Check(self.name, f"nullif(trim({self.raw}), '') IS NULL", "is missing", "''")
            )
        if invalid:
            listed = ", ".join(literal(str(v)) for v in invalid)
            checks.append(_Check(self.name, f"{self.raw} IN ({listed})", self.message, self.raw))
        if all(value is not None and value == mapped for value, mapped in mapping.items()):
            return self.raw, checks
        cases = " ".join(
            f"WHEN {literal(value)} THEN {literal(mapped)}"
            for value, mapped in mapping.items()
            if value is not None and mapped is not None
        )
        default = literal(self.default) if self.default is not None else "NULL"
        return f"CASE {self.raw} {cases} ELSE {default} END", checks


class _Plan:
    """Typed expressions and checks for one file, as SQL over the source relation."""

    def __init__(self, shape: Shape, columns: dict[str, _SourceColumn]) -> None:
        self.shape = shape
        self.columns = columns
        self.typed: dict[str, str] = {}
        self.checks: list[_Check] = []
        self.categoricals: list[_Categorical] = []
        self._build()

    def _text(self, name: str) -> str:
        column = self.columns[name]
        if column.type_id == "json":
            return f"json_extract_string({column.sql}, '$')"
        if column.type_id == "varchar":
            return column.sql
        return f"CAST({column.sql} AS VARCHAR)"

    def _present(self, name: str) -> str:
        column = self.columns[name]
        if column.type_id in ("varchar", "json"):
            text = self._text(name)
            # trim() only for values that start with a space: trimming every row of a large
            # load costs more than the load's validation otherwise does.
            return (
                f"({text} IS NOT NULL AND {text} <> '' "
                f"AND NOT (starts_with({text}, ' ') AND trim({text}) = ''))"
            )
        return f"{column.sql} IS NOT NULL"

    def _as(self, name: str, target: str, numeric_ok: bool) -> str:
        column = self.columns[name]
        if column.type_id == target.lower():
            return column.sql
        if numeric_ok and column.type_id in _NUMERIC_TYPES:
            return f"TRY_CAST({column.sql} AS {target})"
        return f"TRY_CAST(nullif(trim({self._text(name)}), '') AS {target})"

    def _categorical(
        self,
        name: str,
        *,
        allowed: tuple[str, ...] | None,
        default: str | None,
        message: str,
        required: bool = True,
    ) -> None:
        """A low-cardinality text column, checked and normalised by its distinct values.

        Lower-casing and trimming every row of a ten-million-row load costs more than the load;
        the distinct values are few, so they are checked once in Python and mapped with a CASE
        only when some are not already canonical.
        """
        self.categoricals.append(
            _Categorical(name, self._text(name), allowed, default, message, required)
        )
        self.typed[name] = self._text(name)  # replaced by resolve_categoricals()

    def optimistic(self) -> tuple[dict[str, str], str]:
        """Typed expressions and one guard condition for a single-pass load.

        Assumes every categorical value is already canonical (``node``, not ``Node ``), as
        machine-written files are; the guard is true for any row that breaks a check or that
        assumption. A tripped guard sends the file down the careful path (scan, then load).
        """
        typed = dict(self.typed)
        conditions = [f"({check.condition})" for check in self.checks]
        for categorical in self.categoricals:
            typed[categorical.name] = categorical.raw
            conditions.append(f"({categorical.fast_violation()})")
        return typed, " OR ".join(conditions) if conditions else "false"

    def resolve_categoricals(self, distinct: list[list[str | None] | None]) -> list[_Check]:
        """Set each categorical's stored expression; return checks for its invalid values."""
        problems: list[_Check] = []
        for categorical, values in zip(self.categoricals, distinct, strict=True):
            expression, checks = categorical.resolve(values)
            self.typed[categorical.name] = expression
            problems += checks
        return problems

    def _check(self, name: str, condition: str, message: str) -> None:
        self.checks.append(_Check(name, condition, message, self._text(name)))

    def _typed_or_null(self, name: str, expression: str) -> None:
        self.typed[name] = expression if name in self.columns else "NULL"

    def _build(self) -> None:
        cols = self.columns
        # time
        time_col = cols["time"]
        if time_col.type_id in _TIMESTAMP_TYPES:
            ts = f"CAST({time_col.sql} AS TIMESTAMP)"
        elif time_col.type_id in _NUMERIC_TYPES:
            # Epoch seconds, or milliseconds when the number is too large to be seconds.
            ts = (
                f"CAST(to_timestamp(CASE WHEN {time_col.sql} > 100000000000 "
                f"THEN {time_col.sql} / 1000.0 ELSE {time_col.sql} END) AS TIMESTAMP)"
            )
        else:
            ts = f"CAST(TRY_CAST(nullif(trim({self._text('time')}), '') AS TIMESTAMPTZ) AS TIMESTAMP)"
        self.typed["ts"] = ts
        self._check("time", f"NOT ({self._present('time')})", "is missing")
        self._check("time", f"{self._present('time')} AND ({ts}) IS NULL", "is not a time")
        self._check(
            "time",
            f"({ts}) > CAST(now() AS TIMESTAMP) + INTERVAL 1 DAY",
            "is more than a day in the future",
        )
        self._build_entity()
        if "environment" in cols:
            self._categorical("environment", allowed=None, default="production", message="")
        else:
            self.typed["environment"] = "'production'"
        if "labels" in cols:
            self.typed["labels"] = f"nullif(trim({self._text('labels')}), '')"
            self._check(
                "labels",
                f"{self._present('labels')} AND NOT coalesce(json_valid({self._text('labels')}) "
                f"AND json_type(CAST({self._text('labels')} AS JSON)) = 'OBJECT', false)",
                "is not a JSON object",
            )
        else:
            self.typed["labels"] = "NULL"
        if self.shape == "requests":
            self._build_requests()
        else:
            self._build_points()

    def _build_entity(self) -> None:
        kind_columns = [name for name in self.columns if name.startswith("@")]
        if not kind_columns:
            self._categorical(
                "entity_kind",
                allowed=ENTITY_KINDS,
                default=None,
                message="is not one of " + ", ".join(ENTITY_KINDS),
            )
            # Ids are stored as given (no trimming): trimming ten million strings costs more
            # than the rest of the load, and an id with stray spaces is still a visible id.
            self.typed["entity_id"] = self._text("entity_id")
            self._check("entity_id", f"NOT ({self._present('entity_id')})", "is missing")
            return
        if len(kind_columns) == 1:
            (only,) = kind_columns
            self.typed["entity_kind"] = literal(only[1:])
            self.typed["entity_id"] = self._text(only)
            self.checks.append(
                _Check(
                    self.columns[only].original, f"NOT ({self._present(only)})", "is missing", "''"
                )
            )
            return
        # Several id columns (nodeId on some rows, daoId on others): exactly one per row.
        present = {name: f"({self._present(name)})" for name in kind_columns}
        names = " or ".join(self.columns[name].original for name in kind_columns)
        self.typed["entity_kind"] = (
            "CASE "
            + " ".join(f"WHEN {cond} THEN {literal(name[1:])}" for name, cond in present.items())
            + " END"
        )
        self.typed["entity_id"] = (
            "CASE "
            + " ".join(f"WHEN {cond} THEN {self._text(name)}" for name, cond in present.items())
            + " END"
        )
        count = " + ".join(f"CAST({cond} AS INTEGER)" for cond in present.values())
        self.checks.append(_Check("entity", f"({count}) = 0", f"is missing (give {names})", "''"))
        self.checks.append(
            _Check("entity", f"({count}) > 1", f"is named twice in one row ({names})", "''")
        )

    def _number(self, name: str, low: float | None, high: float | None, required: bool) -> None:
        value = self._as(name, "DOUBLE", numeric_ok=True)
        self.typed[name] = value
        present = self._present(name)
        if required:
            self._check(name, f"NOT ({present})", "is missing")
        if self.columns[name].type_id not in _NUMERIC_TYPES:
            self._check(name, f"{present} AND {value} IS NULL", "is not a number")
        self._check(name, f"isnan({value}) OR isinf({value})", "is NaN or infinite")
        if low is not None:
            word = "negative" if low == 0 else f"below {low:g}"
            self._check(name, f"{value} < {low}", f"is {word}")
        if high is not None:
            self._check(
                name, f"{value} > {high}", f"is above {high:g} (allowed {low:g} to {high:g})"
            )

    def _boolean(self, name: str) -> None:
        value = self._as(name, "BOOLEAN", numeric_ok=True)
        self.typed[name] = value
        self._check(
            name, f"{self._present(name)} AND {value} IS NULL", "is not a boolean (true/false)"
        )

    def _build_requests(self) -> None:
        cols = self.columns
        self._number("latency_ms", 0.0, None, required=True)
        if "status" in cols:
            status = self._as("status", "INTEGER", numeric_ok=True)
            self.typed["status"] = status
            self._check(
                "status",
                f"{self._present('status')} AND ({status} IS NULL OR {status} NOT BETWEEN 100 AND 599)",
                "is not a status code between 100 and 599",
            )
        else:
            self.typed["status"] = "NULL"
        if "ok" in cols:
            self._boolean("ok")
            if "status" in cols:
                self.typed["ok"] = f"coalesce({self.typed['ok']}, {self.typed['status']} < 500)"
                self._check(
                    "ok",
                    f"NOT ({self._present('ok')}) AND NOT ({self._present('status')})",
                    "is missing (and so is status)",
                )
            else:
                self._check("ok", f"NOT ({self._present('ok')})", "is missing")
        else:
            self.typed["ok"] = f"{self.typed['status']} < 500"
            self._check("status", f"NOT ({self._present('status')})", "is missing")
        if "cache_hit" in cols:
            self._boolean("cache_hit")
        else:
            self.typed["cache_hit"] = "NULL"
        if "cost" in cols:
            self._number("cost", 0.0, None, required=False)
        else:
            self.typed["cost"] = "NULL"
        if "op_type" in cols:
            self._categorical(
                "op_type",
                allowed=("read", "write"),
                default=None,
                message="is not read or write",
                required=False,
            )
        else:
            self.typed["op_type"] = "NULL"

    def _build_points(self) -> None:
        present = [metric for metric in POINT_METRICS if metric in self.columns]
        for metric in present:
            low, high = POINT_METRICS[metric]
            self._number(metric, low, high, required=False)
        ordered = [m for m in ("latency_p50", "latency_p95", "latency_p99") if m in present]
        for lower, upper in itertools.pairwise(ordered):
            self.checks.append(
                _Check(
                    upper,
                    f"{self.typed[lower]} > {self.typed[upper]}",
                    f"is below {lower} in the same row ({lower} must not exceed {upper})",
                    f"{self._text(lower)} || ' > ' || {self._text(upper)}",
                )
            )
        any_value = " OR ".join(f"({self._present(m)})" for m in present)
        self.checks.append(_Check("metrics", f"NOT ({any_value})", "row has no metric value", "''"))


def _scan(
    con: duckdb.DuckDBPyConnection, plan: _Plan, source_sql: str, label: str
) -> tuple[datetime | None, datetime | None]:
    """One pass: the batch's time range, and a ``ValidationError`` naming rows if any is wrong."""
    aggregates = [f"min({plan.typed['ts']})", f"max({plan.typed['ts']})"]
    aggregates += [
        f"count(*) FILTER (WHERE coalesce({check.condition}, false))" for check in plan.checks
    ]
    aggregates += [
        f"list(DISTINCT {categorical.raw})[:{_MAX_CATEGORIES + 1}]"
        for categorical in plan.categoricals
    ]
    try:
        row = con.execute(f"SELECT {', '.join(aggregates)} FROM {source_sql}").fetchall()[0]
    except duckdb.Error as exc:
        raise ValidationError(
            label, [FieldProblem("file", f"cannot be read: {_first_line(exc)}")]
        ) from exc
    min_ts, max_ts = row[0], row[1]
    counts = list(row[2 : 2 + len(plan.checks)])
    checks = list(plan.checks)
    category_checks = plan.resolve_categoricals(list(row[2 + len(plan.checks) :]))
    if category_checks:
        checks += category_checks
        counts += con.execute(
            "SELECT "
            + ", ".join(f"count(*) FILTER (WHERE {check.condition})" for check in category_checks)
            + f" FROM {source_sql}"
        ).fetchall()[0]
    total = int(sum(counts))
    if total == 0:
        return min_ts, max_ts
    failing = [check for check, count in zip(checks, counts, strict=True) if count]
    union = " UNION ALL ".join(
        f"SELECT rn, {literal(check.field)} AS field, {literal(check.message)} AS message, "
        f"CAST({check.shown} AS VARCHAR) AS shown, {index} AS ord "
        f"FROM numbered WHERE coalesce({check.condition}, false)"
        for index, check in enumerate(failing)
    )
    # One thread, so that row_number() follows the file's order.
    threads = con.execute("SELECT current_setting('threads')").fetchall()[0][0]
    con.execute("SET threads = 1")
    try:
        rows = con.execute(
            f"WITH numbered AS (SELECT row_number() OVER () AS rn, * FROM {source_sql}) "
            f"SELECT rn, field, message, shown FROM ({union}) ORDER BY rn, ord "
            f"LIMIT {MAX_REPORTED_PROBLEMS}"
        ).fetchall()
    finally:
        con.execute(f"SET threads = {int(threads)}")
    problems = [
        FieldProblem(field=fld, message=msg, row=int(rn), value=shown if shown != "" else None)
        for rn, fld, msg, shown in rows
    ]
    raise ValidationError(label, problems, total_problems=total)


def _insert_sql(
    plan: _Plan, source_sql: str, batch_id: str, typed: dict[str, str], guard: str | None = None
) -> str:
    """The bulk insert; with ``guard``, any row meeting it aborts the statement (and the batch)."""
    t = typed
    batch = literal(batch_id)
    where = (
        f" WHERE CASE WHEN coalesce({guard}, false) THEN error('{_GUARD_TRIPPED}') ELSE true END"
        if guard
        else ""
    )
    if plan.shape == "requests":
        return (
            "INSERT INTO requests (ts, entity_kind, entity_id, environment, op_type, latency_ms, ok, "
            "status, cache_hit, cost, labels, batch_id) "
            f"SELECT {t['ts']}, {t['entity_kind']}, {t['entity_id']}, {t['environment']}, "
            f"{t['op_type']}, {t['latency_ms']}, {t['ok']}, {t['status']}, {t['cache_hit']}, "
            f"{t['cost']}, {t['labels']}, {batch} FROM {source_sql}{where}"
        )
    metrics = [m for m in POINT_METRICS if m in plan.columns]
    metric_columns = ", ".join(f"{t[m]} AS {m}" for m in metrics)
    return (
        "INSERT INTO samples (ts, entity_kind, entity_id, environment, metric, value, labels, "
        "batch_id) "
        f"SELECT ts, entity_kind, entity_id, environment, metric, value, labels, {batch} FROM ("
        f"UNPIVOT (SELECT {t['ts']} AS ts, {t['entity_kind']} AS entity_kind, "
        f"{t['entity_id']} AS entity_id, {t['environment']} AS environment, {t['labels']} AS labels, "
        f"{metric_columns} FROM {source_sql}{where}) ON {', '.join(metrics)} "
        "INTO NAME metric VALUE value)"
    )


def _load(
    con: duckdb.DuckDBPyConnection, plan: _Plan, source_sql: str, label: str, batch_id: str
) -> tuple[int, datetime | None, datetime | None]:
    """Insert the file inside the caller's transaction; returns rows and time range.

    First one guarded pass (validate while inserting): the common case, a clean machine-written
    file, costs one read. If any row trips the guard, the statement aborts, the transaction is
    restarted, and the careful path scans (naming each bad row and field) before loading.
    """
    typed, guard = plan.optimistic()
    try:
        inserted = con.execute(_insert_sql(plan, source_sql, batch_id, typed, guard)).fetchall()
    except duckdb.Error as exc:
        if _GUARD_TRIPPED not in str(exc) and "Conversion Error" not in str(exc):
            raise
        con.execute("ROLLBACK")
        con.execute("BEGIN TRANSACTION")
    else:
        table = "requests" if plan.shape == "requests" else "samples"
        min_ts, max_ts = con.execute(
            f"SELECT min(ts), max(ts) FROM {table} WHERE batch_id = ?", [batch_id]
        ).fetchall()[0]
        return int(inserted[0][0]), min_ts, max_ts
    min_ts, max_ts = _scan(con, plan, source_sql, label)
    inserted = con.execute(_insert_sql(plan, source_sql, batch_id, plan.typed)).fetchall()
    return int(inserted[0][0]), min_ts, max_ts


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _record_rejection(
    con: duckdb.DuckDBPyConnection,
    *,
    batch_id: str,
    checksum: str,
    source: str,
    path: Path,
    fmt: str,
    shape: str,
    error: ValidationError,
) -> None:
    con.execute(
        "INSERT OR REPLACE INTO ingest_batches (batch_id, source, file_name, format, shape, rows, "
        "checksum, status, error, loaded_at) VALUES (?, ?, ?, ?, ?, 0, ?, 'rejected', ?, ?)",
        [batch_id, source, path.name, fmt, shape, checksum, str(error)[:4000], _now()],
    )


def ingest_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    source: str | None = None,
    checksum: str | None = None,
) -> IngestResult:
    """Validate ``path`` and store it as one batch; ``con`` must be the writer connection.

    Returns ``duplicate`` when the same bytes were loaded before, ``rejected`` (with the error)
    when validation failed — in that case nothing of the file is stored but the batch's rejection.
    """
    source = source or str(path)
    checksum = checksum or file_checksum(path)
    batch_id = batch_id_for(checksum)
    existing = con.execute(
        "SELECT status, shape, format, rows, min_ts, max_ts FROM ingest_batches WHERE batch_id = ?",
        [batch_id],
    ).fetchall()
    if existing and existing[0][0] == "loaded":
        _status, shape, fmt, rows, min_ts, max_ts = existing[0]
        return IngestResult(source, batch_id, "duplicate", shape, fmt, int(rows), min_ts, max_ts)

    from ecoperf_core.ingest import otlp

    if otlp.looks_like_otlp(path):  # OpenTelemetry traces go to their own table
        return otlp.ingest_otlp_file(con, path, source=source, checksum=checksum, batch_id=batch_id)
    fmt: Format | None = None
    shape: Shape | None = None
    try:
        fmt = detect_format(path)
        source_sql = _source_sql(fmt, path)
        shape, columns = _resolve(con, source_sql, source)
        plan = _Plan(shape, columns)
        con.execute("BEGIN TRANSACTION")
        try:
            inserted, min_ts, max_ts = _load(con, plan, source_sql, source, batch_id)
            con.execute(
                "INSERT OR REPLACE INTO ingest_batches (batch_id, source, file_name, format, shape, "
                "rows, checksum, status, error, min_ts, max_ts, loaded_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'loaded', NULL, ?, ?, ?)",
                [
                    batch_id,
                    source,
                    path.name,
                    fmt,
                    shape,
                    inserted,
                    checksum,
                    min_ts,
                    max_ts,
                    _now(),
                ],
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    except ValidationError as error:
        _record_rejection(
            con,
            batch_id=batch_id,
            checksum=checksum,
            source=source,
            path=path,
            fmt=fmt or path.suffix.lstrip(".") or "unknown",
            shape=shape or "unknown",
            error=error,
        )
        return IngestResult(source, batch_id, "rejected", shape, fmt, error=error)
    except duckdb.Error as exc:
        # A value DuckDB could not convert while loading (e.g. a JSON field whose type changes
        # mid-file): still the file's fault, still nothing stored.
        error = ValidationError(
            source, [FieldProblem("file", f"cannot be loaded: {_first_line(exc)}")]
        )
        _record_rejection(
            con,
            batch_id=batch_id,
            checksum=checksum,
            source=source,
            path=path,
            fmt=fmt or "unknown",
            shape=shape or "unknown",
            error=error,
        )
        return IngestResult(source, batch_id, "rejected", shape, fmt, error=error)
    return IngestResult(source, batch_id, "loaded", shape, fmt, int(inserted), min_ts, max_ts)
