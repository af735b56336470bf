"""Fails at import time, like a plugin built against a module that does not exist."""

import lifeline_module_that_does_not_exist  # noqa: F401
