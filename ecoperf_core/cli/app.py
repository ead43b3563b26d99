"""``ecosystem-perf``: the typer application and its error handling."""

from __future__ import annotations

import typer

from ecoperf_core.cli import (
    analysis_commands,
    api_command,
    dashboard_command,
    data_commands,
    debug_commands,
    decisions_command,
    demo_command,
    deploy_commands,
    engine_commands,
    outbox_command,
    routing_command,
    serve_command,
)

app = typer.Typer(
    name="ecosystem-perf",
    help=(
        "ecoperf: a performance-aware control plane. Ingest metrics into a DuckDB warehouse, "
        "roll them up, and turn them into decisions for QNET, Qflow, Qerberos, CI/CD, go-live "
        "and DAO isolation.\n\nStart with `ecosystem-perf demo`."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

demo_command.register(app)
data_commands.register(app)
serve_command.register(app)
engine_commands.register(app)
decisions_command.register(app)
api_command.register(app)
analysis_commands.register(app)
dashboard_command.register(app)
deploy_commands.register(app)
outbox_command.register(app)
routing_command.register(app)
debug_commands.register(app)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
