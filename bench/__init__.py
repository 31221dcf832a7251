"""The benchmark of ``bandersnatch mirror``: ``python bench/run.py --help``."""
