"""``demo``: generate the demo ecosystem, run the flows on it, print what they found."""

from __future__ import annotations

import shutil
import time
from typing import Annotated, Any

import typer
from rich.table import Table

from ecoperf_core.cli.common import console, handle_errors, print_json, quiet_prefect


def _table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    if not rows:
        table.add_column("(nothing)")
        return table
    for column in rows[0]:
        table.add_column(
            column, justify="right" if isinstance(rows[0][column], int | float) else "left"
        )
    for row in rows:
        table.add_row(*("-" if v is None else str(v) for v in row.values()))
    return table


def demo(
    size: Annotated[
        int,
        typer.Option(
            help="Raw request samples to generate (tens of millions for benchmarks).", min=1000
        ),
    ] = 2_000_000,
    reset: Annotated[
        bool, typer.Option("--reset", help="Delete the warehouse first and start from scratch.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Generate the demo ecosystem and run ingest and rollup on it, on the embedded default.

    Writes a deterministic three-day ecosystem (50 nodes, 10 DAOs, 5 modules, operations,
    a baseline and a candidate deployment, users) with injected incidents into data/demo/,
    loads it into the default warehouse (data/ecoperf.duckdb, or ECOPERF_DB) through the same
    flows a schedule runs, and prints a summary. Running it again stores nothing twice.
    """
    quiet_prefect()
    from ecoperf_core.demo import generate_demo
    from ecoperf_core.service import Ecoperf

    service = Ecoperf()
    settings = service.settings
    if reset:
        for path in (settings.db_path, settings.db_path.with_name(settings.db_path.name + ".wal")):
            path.unlink(missing_ok=True)
        shutil.rmtree(settings.archive_path, ignore_errors=True)
    started = time.monotonic()
    timings: dict[str, float] = {}
    with console.status("generating the demo ecosystem ...") as status:
        demo_files = generate_demo(settings.home / "demo", size=size)
        timings["generate_s"] = time.monotonic() - started

        from flows.ingest import ingest_flow
        from flows.rollup import rollup_flow

        status.update("ingesting (Prefect flow 'ingest') ...")
        mark = time.monotonic()
        report = ingest_flow(paths=[str(p) for p in demo_files.files])
        timings["ingest_s"] = time.monotonic() - mark
        status.update("rolling up (Prefect flow 'rollup') ...")
        mark = time.monotonic()
        rolled = rollup_flow()
        timings["rollup_s"] = time.monotonic() - mark
        overview = service.overview()
    timings["total_s"] = time.monotonic() - started
    summary = {
        "warehouse": str(settings.db_path),
        "samples_generated": demo_files.request_samples,
        "points_generated": demo_files.point_rows,
        "ingest": report,
        "rollup": rolled,
        "overview": overview,
        "timings": {k: round(v, 2) for k, v in timings.items()},
    }
    if as_json:
        print_json(summary)
        return
    console.print(
        f"[bold]ecoperf demo[/bold]: {demo_files.request_samples:,} request samples and "
        f"{demo_files.point_rows:,} metric points -> {settings.db_path}"
    )
    console.print(
        f"ingest: {report['loaded']} files loaded ({report['rows']:,} rows), "
        f"{report['duplicates']} already present, {report['rejected']} rejected; "
        f"rollups: {rolled['windows'] or 'nothing new'}"
    )
    console.print(
        _table("Slowest nodes, last 6 h (node-17 degrades on day 3)", overview["slowest_nodes"])
    )
    console.print(
        _table(
            "DAOs by worst hourly availability (dao-07 drops on day 3)",
            overview["dao_availability"],
        )
    )
    console.print(_table("Module cost, first vs last day (qdrive ramps)", overview["module_cost"]))
    console.print(
        _table(
            "Deployments, last 12 h (candidate v2.1.0 vs baseline v2.0.9)", overview["deployments"]
        )
    )
    console.print(
        f"done in {timings['total_s']:.1f} s. Query it: "
        "ecosystem-perf query \"SELECT * FROM rollups WHERE entity_id = 'node-17' LIMIT 5\""
    )


def register(app: typer.Typer) -> None:
    app.command()(handle_errors(demo))
