"""``vidscope serve``, ``vidscope metrics`` and ``vidscope keys add|list|revoke``.

No postponed annotations: typer reads every command's signature on every invocation (see
:mod:`vidscope.cli`).  Importing this module is cheap: ``serve`` itself imports FastAPI.
"""

import ipaddress
import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from vidscope.cli.help import Command
from vidscope.cli.overrides import overrides
from vidscope.errors import UsageError

DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        metavar="DIR",
        envvar="VIDSCOPE_DATA_DIR",
        help="jobs, results and keys (default ~/.local/share/vidscope)",
        show_default=False,
    ),
]


def _data_dir(value: Path | None) -> Path:
    from vidscope.server.config import default_data_dir

    return value if value is not None else default_data_dir()


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` exposes the server to this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(
    host: Annotated[str, typer.Option(metavar="ADDRESS", help="address to listen on")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(metavar="PORT", help="port (0: any free port)")] = 8000,
    workers: Annotated[int, typer.Option(min=1, metavar="N", help="analysis worker threads")] = 1,
    data_dir: DataDirOpt = None,
    max_upload_mb: Annotated[
        int, typer.Option(min=1, metavar="MB", help="largest upload or download")
    ] = 2048,
    max_queued: Annotated[
        int, typer.Option(min=1, metavar="N", help="queued jobs allowed per API key")
    ] = 32,
    max_json_kb: Annotated[
        int,
        typer.Option(min=1, metavar="KB", help="largest JSON body but those of POST /analyze*"),
    ] = 64,
    max_attempts: Annotated[
        int,
        typer.Option(
            min=1, metavar="N", help="runs a job may start; one interrupted this often then fails"
        ),
    ] = 2,
    allow_private_url: Annotated[
        list[str] | None,
        typer.Option(
            metavar="HOST[:PORT]",
            help="a private host URL jobs may reach all the same ('*': any host); repeatable",
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", metavar="FILE", help="engine settings file")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="KEY=VALUE", help="engine setting for every job"),
    ] = None,
    vlm_model: Annotated[
        str | None,
        typer.Option(
            metavar="MODEL",
            help="vision-language model for captions and POST /analyze (folder or id)",
        ),
    ] = None,
    vlm_endpoint: Annotated[
        str | None, typer.Option(metavar="URL", help="OpenAI-compatible server for that model")
    ] = None,
    executor: Annotated[
        str | None,
        typer.Option(
            metavar="EXECUTOR", help="local (this process) or ray (jobs run on a Ray cluster)"
        ),
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(
            metavar="ADDRESS", help="Ray cluster to submit to: auto, HOST:PORT or ray://HOST:10001"
        ),
    ] = None,
    log_level: Annotated[
        str, typer.Option(metavar="LEVEL", help="debug, info, warning, error")
    ] = "info",
) -> None:
    """Run the HTTP service: analysis jobs, their progress and results, shot analysis.

    Without API keys (`vidscope keys add NAME` or $VIDSCOPE_API_KEYS) it only listens on a
    loopback address, and then without authentication.
    """
    try:
        import uvicorn

        from vidscope.server.app import create_app
    except ImportError as exc:
        raise UsageError(
            f"the server needs its extra ({exc.name} is missing): pip install 'vidscope[server]'"
        ) from None
    from vidscope.server.auth import KEYS_ENV, Authenticator, KeyFile
    from vidscope.server.config import ServerConfig

    allowed = tuple(h.lower() for h in allow_private_url or [])
    cfg = ServerConfig(
        data_dir=_data_dir(data_dir),
        workers=workers,
        max_upload_mb=max_upload_mb,
        max_queued_per_key=max_queued,
        max_json_kb=max_json_kb,
        max_attempts=max_attempts,
        allow_private_urls=True if "*" in allowed else allowed,
        config_file=config,
        overrides=overrides(
            set_,
            executor=executor or ("ray" if ray_address else None),
            **{"vlm.model": vlm_model, "vlm.endpoint": vlm_endpoint, "ray.address": ray_address},
        ),
    )
    keyed = Authenticator(KeyFile(cfg.keys_path), os.environ.get(KEYS_ENV)).enabled
    if not keyed and not is_loopback(host):
        raise UsageError(
            f"refusing to listen on {host} without API keys: create one with "
            f"`vidscope keys add NAME --data-dir {cfg.data_dir}` or set {KEYS_ENV}"
        )
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s:     %(name)s: %(message)s")
    if not keyed:
        logging.getLogger("vidscope.server").warning(
            "no API keys: authentication is off (listening on loopback %s only)", host
        )
    app = create_app(cfg)  # a model that cannot load stops here with its reason
    uvicorn.run(app, host=host, port=port, log_level=log_level.lower(), timeout_graceful_shutdown=5)


keys_app = typer.Typer(help="API keys for `vidscope serve`.", no_args_is_help=True)


@keys_app.command("add", cls=Command, short_help="Create a key (shown once, stored as a hash).")
def keys_add(
    name: Annotated[str, typer.Argument(metavar="NAME", help="who the key is for")],
    data_dir: DataDirOpt = None,
) -> None:
    """Create a key; it is printed once, as the last line, and only its hash is stored."""
    from vidscope.server.auth import KeyFile
    from vidscope.server.config import ServerConfig

    key = KeyFile(ServerConfig(data_dir=_data_dir(data_dir)).keys_path).add(name)
    typer.echo(f"created API key {name!r}; it is shown only now:", err=True)
    typer.echo(key)


@keys_app.command("list", cls=Command)
def keys_list(data_dir: DataDirOpt = None) -> None:
    """Names and creation times of the stored keys (never the keys)."""
    from vidscope.server.auth import KEYS_ENV, KeyFile
    from vidscope.server.config import ServerConfig

    keys = KeyFile(ServerConfig(data_dir=_data_dir(data_dir)).keys_path).read()
    for key in keys:
        typer.echo(f"{key.name}\t{key.created}\tsha256:{key.hash[:12]}")
    env = [k for k in os.environ.get(KEYS_ENV, "").split(",") if k.strip()]
    if env:
        typer.echo(f"(and {len(env)} key(s) from ${KEYS_ENV})", err=True)
    if not keys and not env:
        typer.echo("no keys", err=True)


@keys_app.command("revoke", cls=Command)
def keys_revoke(
    name: Annotated[str, typer.Argument(metavar="NAME", help="the key's name")],
    data_dir: DataDirOpt = None,
) -> None:
    """Delete a key; a running server stops accepting it at once."""
    from vidscope.server.auth import KeyFile
    from vidscope.server.config import ServerConfig

    KeyFile(ServerConfig(data_dir=_data_dir(data_dir)).keys_path).revoke(name)
    typer.echo(f"revoked {name!r}", err=True)


def metrics(data_dir: DataDirOpt = None) -> None:
    """Server-wide figures, in the Prometheus text format: every key's jobs by state, the
    queue, busy time per pipeline stage.

    For the server's operator: it reads the data directory, which only they can (an API key
    sees just its own jobs, at GET /metrics).  Its output suits node_exporter's textfile
    collector; it can run while the server does.
    """
    from vidscope.server.config import ServerConfig
    from vidscope.server.health import metrics_text
    from vidscope.server.store import JobStore

    cfg = ServerConfig(data_dir=_data_dir(data_dir))
    if not cfg.db_path.is_file():
        raise UsageError(f"no jobs database in {cfg.data_dir}: has a server run there?")
    store = JobStore(cfg.db_path)
    try:
        typer.echo(metrics_text(store.counts(), store.busy_seconds()), nl=False)
    finally:
        store.close()
