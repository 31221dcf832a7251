"""The operator commands: ``verify``, ``delete``, ``bundle`` (export/import, with its
``manifest``) and ``stats`` (update-stats, with ``accesslog``).

They use the engine's public functions (``mirror.Mirror.resync``, ``project.remove_project``,
``pages.index.refresh_index``, ``pages.published.read_project``) and never import each other.
"""
