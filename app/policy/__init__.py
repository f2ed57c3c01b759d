"""Policies as code: YAML rules -> pydantic validation -> lint -> compiled bundle for the hook."""
