"""`lifeline new connector NAME`: a plugin package generated from the templates shipped in this package."""

from lifeline_hub.core.scaffold.generate import ScaffoldError, generate, validate_name

__all__ = ["ScaffoldError", "generate", "validate_name"]
