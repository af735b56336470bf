"""Lifeline on Airflow: the per-tenant DAGs, their task bodies, the retry policy and the provider.

`layout` reads `plugins.toml` at DAG-parse time without loading any plugin; `dags` builds the DAGs
from it; `tasks` are the run-time bodies (thin calls into `core/`); `provider` and `hooks` register
Lifeline's connection types; `standalone` runs `airflow standalone` on the sandbox (`make airflow`).
"""
