"""``routing``: QNET's routing weights for load balancers (JSON document, Envoy EDS, HAProxy)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from ecoperf_core.cli.common import ExitCode, console, err_console, handle_errors, print_json

routing_app = typer.Typer(
    help="QNET routing weights in the formats load balancers consume.", no_args_is_help=True
)


class DocumentFormat(StrEnum):
    json = "json"
    envoy = "envoy"


@routing_app.command("export")
@handle_errors
def export(
    fmt: Annotated[
        DocumentFormat,
        typer.Option("--format", "-f", help="json: ecoperf's versioned document; envoy: EDS."),
    ] = DocumentFormat.json,
    cluster: Annotated[str, typer.Option("--cluster", help="Envoy cluster name.")] = "qnet",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write to this file (atomically) instead of stdout."),
    ] = None,
) -> None:
    """The weights in force: a versioned JSON document or an Envoy ClusterLoadAssignment."""
    from ecoperf_core.publish.events_feed import atomic_write
    from ecoperf_core.service import Ecoperf

    document = Ecoperf().routing_document(fmt.value, cluster)
    if out is None:
        print_json(document)
        return
    atomic_write(out, (json.dumps(document, indent=2) + "\n").encode())
    console.print(f"wrote {out}")


@routing_app.command("haproxy")
@handle_errors
def haproxy(
    socket: Annotated[str, typer.Option("--socket", help="Admin socket path, or host:port.")],
    backend: Annotated[str, typer.Option("--backend", help="HAProxy backend of the nodes.")],
    server_template: Annotated[
        str, typer.Option("--server-template", help="Server name for a node id.")
    ] = "{subject}",
    scale: Annotated[
        float, typer.Option("--scale", min=0.001, help="HAProxy weight per routing weight 1.0.")
    ] = 100.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Set every node's weight in force on an HAProxy backend (runtime API, a full sync)."""
    from ecoperf_core.service import Ecoperf

    try:
        result = Ecoperf().apply_haproxy_weights(socket, backend, server_template, scale)
    except OSError as exc:
        err_console.print(f"[red]error:[/red] cannot reach HAProxy at {socket}: {exc}")
        raise typer.Exit(ExitCode.UNAVAILABLE) from exc
    if as_json:
        print_json(result)
    else:
        console.print(f"version {result['version']}: set {len(result['set'])} servers on {backend}")
        for command, answer in result["errors"].items():
            err_console.print(f"[red]{command}[/red]: {answer}")
    if result["errors"]:
        raise typer.Exit(ExitCode.FAILED)


def register(app: typer.Typer) -> None:
    app.add_typer(routing_app, name="routing")
