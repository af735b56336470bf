"""Loads fine but its classify hook raises at run time."""

from core import hookimpl


@hookimpl
def lifeline_classify(interview, evidence):
    raise RuntimeError("classifier exploded")
