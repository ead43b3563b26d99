"""``ingest``, ``rollup``, ``query`` and ``status``: getting data in and looking at it."""

from __future__ import annotations

import csv
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ecoperf_core.cli.common import (
    ExitCode,
    console,
    err_console,
    handle_errors,
    print_json,
    quiet_prefect,
)


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def print_ingest_report(report: dict[str, Any]) -> None:
    table = Table(title="Ingested files", show_lines=False)
    for column in ("file", "status", "shape", "rows", "from", "to"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    colours = {"loaded": "green", "duplicate": "yellow", "rejected": "red"}
    for item in report["files"]:
        table.add_row(
            item["source"],
            f"[{colours[item['status']]}]{item['status']}[/]",
            item["shape"] or "-",
            f"{item['rows']:,}",
            item["min_ts"] or "-",
            item["max_ts"] or "-",
        )
    console.print(table)
    for item in report["files"]:
        if item["status"] == "rejected":
            err_console.print(
                f"[red]rejected[/red] (moved to quarantine with an .errors.json report):\n"
                f"{item['error']}",
                highlight=False,
            )


def ingest(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            help="CSV, Parquet or JSON Lines files to load. Without paths, loads what is "
            "waiting in the landing folder. With --from prometheus: the Prometheus base URL.",
            show_default=False,
        ),
    ] = None,
    source: Annotated[
        str,
        typer.Option("--from", help="files, or prometheus (query_range through --mapping)."),
    ] = "files",
    mapping: Annotated[
        Path | None,
        typer.Option(
            "--mapping", help="PromQL mapping file (default data/prometheus-mapping.toml)."
        ),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option("--start", help="Prometheus: range start (ISO time; default end - lookback)."),
    ] = None,
    end: Annotated[
        str | None, typer.Option("--end", help="Prometheus: range end (ISO time; default now).")
    ] = None,
    step: Annotated[
        float | None,
        typer.Option(
            "--step", min=0.001, help="Prometheus: step in seconds (default: the mapping's)."
        ),
    ] = None,
    rollup: Annotated[
        bool, typer.Option("--rollup/--no-rollup", help="Run the rollup flow afterwards.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Load metric files into the warehouse through the ingest flow.

    Each file is validated whole and stored as one batch keyed by its content: loading the same
    file twice stores it once, and a file with any bad row is stored not at all (it goes to the
    quarantine folder with a report naming each bad row and field). Exits 1 if a file was rejected.
    """
    quiet_prefect()
    if source != "files":
        from ecoperf_core.cli.prometheus_ingest import ingest_from_prometheus

        ingest_from_prometheus(source, paths, mapping, start, end, step, rollup, as_json)
        return
    missing = [p for p in paths or [] if not Path(p).is_file()]
    if missing:
        err_console.print(f"[red]error:[/red] no such file: {', '.join(missing)}")
        raise typer.Exit(ExitCode.BAD_INPUT)
    from flows.ingest import ingest_flow
    from flows.rollup import rollup_flow

    with console.status("ingesting ..."):
        report = ingest_flow(paths=[str(Path(p).resolve()) for p in paths or []])
        rolled = rollup_flow() if rollup and report["loaded"] else None
    if as_json:
        print_json({"ingest": report, "rollup": rolled})
    else:
        print_ingest_report(report)
        if rolled:
            console.print(f"rollups: {rolled['batches']} batches -> {rolled['windows']}")
    if report["rejected"]:
        raise typer.Exit(ExitCode.FAILED)


def rollup(
    full: Annotated[bool, typer.Option("--full", help="Recompute every window.")] = False,
) -> None:
    """Fold newly loaded batches into the windowed rollups (the rollup flow)."""
    quiet_prefect()
    from flows.rollup import rollup_flow

    with console.status("rolling up ..."):
        result = rollup_flow(full=full)
    console.print(f"rollups: {result['batches']} batches -> {result['windows']}")


def query(
    sql: Annotated[str, typer.Argument(help="A read-only SQL query (SELECT / EXPLAIN).")],
    output: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="Output format.")
    ] = OutputFormat.table,
    max_rows: Annotated[
        int, typer.Option("--max-rows", help="Rows shown in table format.", min=1)
    ] = 1000,
) -> None:
    """Query the warehouse with SQL, read-only.

    Statements that would change anything (DROP, INSERT, UPDATE, DELETE, COPY, ATTACH,
    INSTALL/LOAD, CREATE, SET ...) are refused with exit code 2. Tables: see docs/warehouse.md.
    """
    from ecoperf_core.service import Ecoperf

    result = Ecoperf().query(sql)
    if output is OutputFormat.json:
        print_json([dict(zip(result.columns, row, strict=True)) for row in result.rows])
    elif output is OutputFormat.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(result.columns)
        writer.writerows(result.rows)
    else:
        table = Table(*result.columns)
        for row in result.rows[:max_rows]:
            table.add_row(*("NULL" if v is None else str(v) for v in row))
        console.print(table)
        if len(result.rows) > max_rows:
            console.print(f"... {len(result.rows) - max_rows:,} more rows (use --format csv)")


def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Show what the warehouse holds, what is pending and what was quarantined."""
    from ecoperf_core.service import Ecoperf

    info = Ecoperf().status()
    if as_json:
        print_json(info)
        return
    table = Table(title=f"ecoperf warehouse {info['warehouse']}", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("schema version", str(info["schema_version"]))
    table.add_row("size", f"{info['size_bytes'] / 1e6:,.1f} MB")
    for name in ("requests", "samples", "rollups", "decisions", "outbox"):
        table.add_row(f"{name} rows", f"{info['rows'].get(name, 0):,}")
    for state, count in sorted(info["batches"].items()):
        table.add_row(f"batches {state}", f"{count:,}")
    table.add_row("batches waiting for rollup", str(info["batches_pending_rollup"]))
    table.add_row("data from", str(info["data_from"]))
    table.add_row("data to", str(info["data_to"]))
    for kind, count in info["entities"].items():
        table.add_row(f"{kind}s", str(count))
    table.add_row("files waiting in landing", str(info["landing_pending"]))
    table.add_row("files in quarantine", str(info["quarantined"]))
    for name, breaker in sorted(info.get("breakers", {}).items()):
        detail = breaker["state"]
        if breaker["consecutive_failures"]:
            detail += f", {breaker['consecutive_failures']} failures: {breaker['last_error']}"
        table.add_row(f"breaker {name}", detail)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(ingest))
    app.command()(handle_errors(rollup))
    app.command()(handle_errors(query))
    app.command()(handle_errors(status))
