#!/usr/bin/env bash
# Lifeline's steps of the container build, on an image (or venv) where Airflow is installed: install Lifeline and
# the plugins, install the DAG file, write the plugin manifest. deploy/Dockerfile runs this script; a test runs it
# in a fresh venv (tests/airflow/test_airflow_container_recipe.py).
#
#   LIFELINE_SOURCE       what pip installs as Lifeline: a wheel, a source tree or a requirement (default: the
#                         repository this script is in)
#   LIFELINE_PLUGINS      more pip requirements, space-separated: the third-party plugins (default: none)
#   LIFELINE_CONSTRAINTS  a pip constraints file (default: none; the image's recipe passes constraints.txt)
#   AIRFLOW_VERSION       kept installed as is (the official image sets it); unset: pip may pick one in range
#   AIRFLOW_HOME          the DAG file goes to $AIRFLOW_HOME/dags, the manifest to $AIRFLOW_HOME (default ~/airflow)
#   LIFELINE_CONFIG       where plugins.toml will be; a sample is written there when nothing is
set -euo pipefail

: "${LIFELINE_CONFIG:?set LIFELINE_CONFIG to the path plugins.toml will have in the image}"
source="${LIFELINE_SOURCE:-$(cd "$(dirname "$0")/.." && pwd)}"
airflow_home="${AIRFLOW_HOME:-$HOME/airflow}"

pip_args=(install --no-cache-dir --disable-pip-version-check)
if [ -n "${LIFELINE_CONSTRAINTS:-}" ]; then pip_args+=(--constraint "$LIFELINE_CONSTRAINTS"); fi
if [ -n "${AIRFLOW_VERSION:-}" ]; then pip_args+=("apache-airflow==$AIRFLOW_VERSION"); fi
# shellcheck disable=SC2206 # LIFELINE_PLUGINS is a space-separated list of requirements
pip_args+=("$source[airflow,postgres]" ${LIFELINE_PLUGINS:-})
python -m pip "${pip_args[@]}"

sample=()
if [ ! -e "$LIFELINE_CONFIG" ]; then sample=(--config "$LIFELINE_CONFIG"); fi
lifeline airflow install-dags "$airflow_home/dags" --force "${sample[@]}"
LIFELINE_PLUGIN_MANIFEST="${LIFELINE_PLUGIN_MANIFEST:-$airflow_home/lifeline-plugins.json}" lifeline plugins --manifest
