"""Lifeline, installed under one import root: `lifeline_hub.core` and `lifeline_hub.connectors`.

The repository keeps `core/` and `connectors/` at its top level; the two links here place them
under this package, so the distribution installs no top-level `core` or `connectors` of its own
(a data team's `dags/core/...` keeps importing as before in the same Airflow environment).
"""

DISTRIBUTION = "lifeline-hub"
"""The distribution's name on the package index; the CLI and the entry-point group stay `lifeline`."""
