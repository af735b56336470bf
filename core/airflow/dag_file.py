"""The DAG file Lifeline ships, and `lifeline airflow install-dags`, which writes it into an Airflow DAGs folder.

The installed file needs nothing of the repository: it reads the config at `$LIFELINE_CONFIG` (its
import error names the variable when it is unset). The repository's `dags/lifeline_dags.py` is the
same file with the repository's `plugins.toml` as the fallback (`make airflow`); a test keeps the two
in sync. `--config PATH` also writes a sample `plugins.toml` (`plugins.sample.toml`, shipped beside
this module) where `$LIFELINE_CONFIG` will point.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import click

from lifeline_hub.core.airflow import layout
from lifeline_hub.core.config import CONFIG_ENV, ConfigError

FILE_NAME = "lifeline_dags.py"
REPOSITORY_DEFAULT = 'Path(__file__).resolve().parents[1] / "plugins.toml"'
"""The fallback of the repository's DAG file, as Python source."""

_DOC = '''"""Lifeline's Airflow DAGs, generated per tenant from plugins.toml (see lifeline_hub/core/airflow/dags.py).

The file is `$LIFELINE_CONFIG`{fallback}. Parsing reads only that file and
the plugin manifest `lifeline plugins --manifest` writes at deploy time (`$LIFELINE_PLUGIN_MANIFEST`,
else `$AIRFLOW_HOME/lifeline-plugins.json`): no plugin, network or database. A file that does not
parse or a missing manifest is this DAG file's import error; one tenant's problem (a bad key, a plugin
that is unknown or failed to load) only replaces that tenant's DAGs by its failing
`lifeline__<tenant>__config_error` DAG.
{origin}
"""
'''


def source(default: str | None = None) -> str:
    """The DAG file's text; `default` is the Python expression of the config path used without `$LIFELINE_CONFIG`."""
    doc = _DOC.format(fallback=", else the repository's plugins.toml" if default else " (required)",
                      origin=("The repository's variant of the file `lifeline airflow install-dags` writes." if default
                              else "Written by `lifeline airflow install-dags`; rerun it after upgrading Lifeline."))
    imports = "from pathlib import Path\n\n" if default else ""
    return (f"{doc}\n{imports}from lifeline_hub.core.airflow import dag_file, dags\n\n"
            f"dags.generate(dag_file.config({default or ''}))\n")


def config(default: Path | None = None) -> Path:
    """The config the DAG file reads: `$LIFELINE_CONFIG`, else `default`; `ConfigError` naming the variable when
    neither is there."""
    if default is None:
        if not os.environ.get(CONFIG_ENV):
            raise ConfigError([f"{CONFIG_ENV} is not set: set it to the path of plugins.toml for the DAG processor "
                               "and every worker (`lifeline airflow install-dags DIR --config PATH` writes a sample)"])
        default = Path(os.environ[CONFIG_ENV])
    return layout.config_path(default)


def sample_config() -> str:
    """The sample `plugins.toml` shipped with the package."""
    return resources.files(__package__).joinpath("plugins.sample.toml").read_text(encoding="utf-8")


def _write(path: Path, text: str, force: bool) -> None:
    if path.exists() and not force:
        raise click.ClickException(f"{path} exists; pass --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    click.echo(f"wrote {path}")


@click.command("install-dags")
@click.argument("dags_folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              help="also write a sample plugins.toml here (where LIFELINE_CONFIG will point)")
@click.option("--force", is_flag=True, help="overwrite files that exist")
def install_dags(dags_folder: Path, config_file: Path | None, force: bool) -> None:
    """Write Lifeline's DAG file into an Airflow DAGs folder; it reads the config at $LIFELINE_CONFIG."""
    _write(dags_folder / FILE_NAME, source(), force)
    if config_file is not None:
        _write(config_file, sample_config(), force)
    click.echo(f"set {CONFIG_ENV} for the DAG processor and every worker, then run `lifeline db upgrade` "
               "and `lifeline airflow setup`")
