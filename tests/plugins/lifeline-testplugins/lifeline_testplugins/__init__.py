"""Plugins that exercise Lifeline's plugin isolation."""
