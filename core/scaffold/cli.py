"""`lifeline new connector NAME [--dir D]`: generate a connector plugin package to start from."""

from __future__ import annotations

from pathlib import Path

import click

from lifeline_hub.core.scaffold.generate import ScaffoldError, default_dir, generate


@click.group()
def new() -> None:
    """Generate a starting point for a plugin."""


@new.command("connector")
@click.argument("name")
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=None,
              help="directory to create [default: ./lifeline-NAME, underscores as hyphens]")
@click.pass_context
def new_connector(ctx: click.Context, name: str, directory: Path | None) -> None:
    """A connector package: entry point, settings, client, one stream, one action, emulator, tests, README."""
    try:
        written = generate(name, directory)
    except ScaffoldError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(2)
    except OSError as exc:
        click.echo(f"error: cannot write {exc.filename}: {exc.strerror}", err=True)
        ctx.exit(2)
    root = directory if directory is not None else default_dir(name)
    click.echo(f"connector {name!r}: {len(written)} files in {root}")
    click.echo(f"next: cd {root} && pip install -e '.[test]' && pytest")
