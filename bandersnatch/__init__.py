"""A PyPI mirror client (PEP 381): keeps a local copy of the index that pip and uv can install from."""

__version__ = "1.0.0"
