"""Loads fine but its classify hook raises at run time."""

from lifeline_hub.core import hookimpl


@hookimpl
def lifeline_classify(interview, evidence):
    raise RuntimeError("classifier exploded")
