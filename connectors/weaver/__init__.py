"""Weaver (泛微) e-cology 9 OA connector."""
