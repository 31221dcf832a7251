"""A PyPI mirror client (PEP 381): keeps a local copy of the index that pip and uv can install from.

The code map. Data flows one way: ``main`` -> ``configuration`` -> ``mirror`` (one run) ->
``project`` (one project) -> ``master`` (all talk with the upstream) and ``storage`` (all writes).

- ``main``: the click command; the only printer of errors and chooser of exit statuses.
- ``errors``, ``model``: the exception tree; the frozen values that travel between modules.
- ``configuration``: the INI file, read and checked into one frozen Settings (``config_values``:
  the converters it shares with ``subset.config``).
- ``master``: every request to the upstream (XML-RPC, JSON, files), bounded in bytes and time
  (``deadlines``; ``bodies`` reads answers within them), through the run's one polite ``session``
  (User-Agent, retries, Retry-After, RateLimit pacing); ``answers`` reads its answers (serials,
  the root, a project's documents) and ``upstream`` their JSON into values; ``urls`` decides what a URL from a master may be.
- ``changes``: where a run learns what changed (the XML-RPC changelog, or a PEP 691 root).
- ``foreign``: ``api-method = index``, a foreign PEP 503/691 index as the run's change source and
  master (conditional page requests, the mirror's own run counter, files placed by sha256);
  ``foreign_pages`` reads its root and pages (HTML with html.parser, or PEP 691 JSON): pure.
- ``mirror``: one run: plan, the journal, the report; ``project_pool`` its project threads (a
  window in flight, finished ones journaled in batches, stop-on-error); ``run_summary`` what a run
  gathers from them (summary, last-run record, names accepted); ``state`` owns the state files;
  ``report`` says where the mirror stands; ``downloads`` is the run's transfer pool;
  ``deletion_guard`` is the one policy on how much a command may delete; ``plan`` counts what a
  run does (plan.json) and stands in for storage and master in ``mirror --dry-run``.
- ``watch``: what a run leaves for those who watch it: ``history`` (runs.json: the last runs, the
  last success, the mirror's size), ``metrics`` (the Prometheus text, pure) and the status page.
- ``serving``: the nginx block for the configuration (``nginx-config``, ``[serve]`` fallback).
- ``project``: one project: metadata -> scope -> files, .metadata, provenance -> pages;
  ``release_files`` fetches and verifies the files and what goes beside them (``core_metadata``:
  a wheel's .metadata read from the wheel).
- ``pages/``: ``layout`` (every path under web/), ``links`` (link forms), ``html`` (PEP 503),
  ``pep691`` (PEP 691 pages, the JSON API copy and the root), ``index`` (the global index, its one
  writer), ``published`` (THE reader of a published page), ``blockmerge``, ``status_page``
  (web/_status/index.html, pure).
- ``subset/``: the filters of upstream's config sections and the dependency closure
  (``config``, ``filters``, ``closure``, ``requirements``, ``scope``), ``[environments]``
  (``environments``: which files a declared interpreter x platform installs, by packaging.tags),
  ``sdist`` (Requires-Dist an sdist's PKG-INFO vouches for), ``seen`` (the master's metadata as
  last synced, which a change of the file-selecting filters re-selects from), the ``[cooldown]``
  policy (``cooldown``: pure, time given; ``cooldown_run``: one run's gate and cooldown.json)
  and ``[demand]`` (``demand``: the access logs read into demand.json, eviction chosen;
  ``demand_run``: one run's roots, evictions and scope).
- ``storage/``: ``base`` (the contract), ``filesystem`` (with ``oscalls``: syncfs, writeback, the
  umask), ``s3``: the only writers of the mirror.
- ``commands/``: the operator commands (``verify``, ``delete``, ``bundle_export`` and ``bundle_import``
  with the bundle format they share, ``manifest``, ``stats`` with ``accesslog``); they use the
  engine's public functions and never import each other.

``tests/test_architecture.py`` keeps these rules: no import circle, only ``master`` (with ``deadlines``, ``bodies`` and ``session``) talks HTTP,
only ``storage`` writes, only ``main`` imports click, rendering is pure, commands stand alone.
"""

__version__ = "1.0.0"
