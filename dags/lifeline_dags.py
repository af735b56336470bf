"""Lifeline's Airflow DAGs, generated per tenant from plugins.toml (see core/airflow/dags.py).

The file is `$LIFELINE_CONFIG`, else the repository's plugins.toml. Parsing reads only that file and
the plugin manifest `lifeline plugins --manifest` writes at deploy time (`$LIFELINE_PLUGIN_MANIFEST`,
else `$AIRFLOW_HOME/lifeline-plugins.json`): no plugin, network or database. A bad file, a missing
manifest or a tenant's plugin that is unknown or failed to load shows as this DAG file's import error.
"""

from pathlib import Path

from lifeline_hub.core.airflow import dags, layout

dags.generate(layout.config_path(Path(__file__).resolve().parents[1] / "plugins.toml"))
