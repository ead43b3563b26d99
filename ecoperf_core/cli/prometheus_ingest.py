"""``ingest --from prometheus URL``: the Prometheus pull, through the same flow a schedule runs."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer

from ecoperf_core.cli.common import ExitCode, console, err_console, print_json


def _time(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        err_console.print(f"[red]error:[/red] {option}: not an ISO time: {text!r}")
        raise typer.Exit(ExitCode.BAD_INPUT) from None


def ingest_from_prometheus(
    source: str,
    paths: list[str] | None,
    mapping: Path | None,
    start: str | None,
    end: str | None,
    step: float | None,
    rollup: bool,
    as_json: bool,
) -> None:
    if source != "prometheus":
        err_console.print(f"[red]error:[/red] --from must be files or prometheus, got {source!r}")
        raise typer.Exit(ExitCode.BAD_INPUT)
    if not paths or len(paths) != 1 or not paths[0].startswith(("http://", "https://")):
        err_console.print(
            "[red]error:[/red] --from prometheus takes one URL, e.g. http://127.0.0.1:9090"
        )
        raise typer.Exit(ExitCode.BAD_INPUT)
    if mapping is not None and not mapping.is_file():
        err_console.print(f"[red]error:[/red] no such mapping file: {mapping}")
        raise typer.Exit(ExitCode.BAD_INPUT)
    begin, finish = _time(start, "--start"), _time(end, "--end")
    from flows.prometheus import prometheus_flow
    from flows.rollup import rollup_flow

    with console.status(f"pulling {paths[0]} ..."):
        report = prometheus_flow(
            url=paths[0],
            mapping=str(mapping.resolve()) if mapping else None,
            start=begin,
            end=finish,
            step_s=step,
        )
        loaded = [b for b in report["batches"] if b["status"] == "loaded"]
        rolled = rollup_flow() if rollup and loaded else None
    rejected = [b for b in report["batches"] if b["status"] == "rejected"]
    if as_json:
        print_json({"prometheus": report, "rollup": rolled})
    else:
        console.print(
            f"prometheus {report['url']} {report['start']} .. {report['end']}: "
            f"{report['points']:,} points, {report['newPoints']:,} new, "
            f"{len(loaded)} batches loaded; skipped {report['skippedNonFinite']} NaN/Inf"
        )
        for batch in rejected:
            err_console.print(f"[red]rejected[/red] {batch['source']}: {batch['error']}")
    if rejected:
        raise typer.Exit(ExitCode.FAILED)
