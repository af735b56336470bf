"""Lifeline's Airflow DAGs, generated per tenant from plugins.toml (see lifeline_hub/core/airflow/dags.py).

The file is `$LIFELINE_CONFIG`, else the repository's plugins.toml. Parsing reads only that file and
the plugin manifest `lifeline plugins --manifest` writes at deploy time (`$LIFELINE_PLUGIN_MANIFEST`,
else `$AIRFLOW_HOME/lifeline-plugins.json`): no plugin, network or database. A file that does not
parse or a missing manifest is this DAG file's import error; one tenant's problem (a bad key, a plugin
that is unknown or failed to load) only replaces that tenant's DAGs by its failing
`lifeline__<tenant>__config_error` DAG.
The repository's variant of the file `lifeline airflow install-dags` writes.
"""

from pathlib import Path

from lifeline_hub.core.airflow import dag_file, dags

dags.generate(dag_file.config(Path(__file__).resolve().parents[1] / "plugins.toml"))
