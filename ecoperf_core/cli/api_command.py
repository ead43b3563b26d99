"""``ecosystem-perf api``: run the HTTP API (uvicorn), and ``api token`` to create a bearer token."""

from __future__ import annotations

from typing import Annotated

import typer

from ecoperf_core.cli.common import ExitCode, err_console, handle_errors

api_app = typer.Typer(
    help="The HTTP API and real-time feed (see docs/api.md).",
    invoke_without_command=True,
    no_args_is_help=False,
)


@api_app.callback()
@handle_errors
def api(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Bind address (ECOPERF_API_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (ECOPERF_API_PORT).")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
) -> None:
    """Serve the API with uvicorn; OpenAPI docs at /docs."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from ecoperf_core.api.app import create_app
    from ecoperf_core.api.settings import ApiSettings

    settings = ApiSettings()
    host = host or settings.host
    port = settings.port if port is None else port
    err_console.print(f"ecoperf API on http://{host}:{port}  (docs: /docs)", highlight=False)
    uvicorn.run(
        create_app(api=settings), host=host, port=port, log_level=log_level, access_log=False
    )


@api_app.command("token")
@handle_errors
def token(
    role: Annotated[str, typer.Option(help="read | write | admin")] = "read",
    name: Annotated[str | None, typer.Option(help="A name for the token (unique).")] = None,
    dao: Annotated[str | None, typer.Option(help="Scope the token to one DAO.")] = None,
) -> None:
    """Create a bearer token: printed once, only its sha256 is stored in the tokens file."""
    import secrets

    from ecoperf_core.api.auth import create_token
    from ecoperf_core.api.settings import ApiPaths

    paths = ApiPaths()
    try:
        value = create_token(paths.tokens, role, name or f"{role}-{secrets.token_hex(3)}", dao)  # type: ignore[arg-type]
    except ValueError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(ExitCode.BAD_INPUT) from exc
    err_console.print(f"token stored (hashed) in {paths.tokens}; it is shown only once:")
    print(value)


def register(app: typer.Typer) -> None:
    app.add_typer(api_app, name="api")
