"""Lifeline's Airflow DAGs, generated per tenant from plugins.toml (see core/airflow/dags.py).

The file is `$LIFELINE_CONFIG`, else the repository's plugins.toml. Parsing reads only that file:
no plugin, network or database; a bad file shows as this DAG file's import error.
"""

from pathlib import Path

from core.airflow import dags, layout

dags.generate(layout.config_path(Path(__file__).resolve().parents[1] / "plugins.toml"))
