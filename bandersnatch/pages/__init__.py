"""The pages of the mirror: where everything under ``web/`` lives and how it is linked
(``layout``, ``links``), the renderers and parsers of each format (``html`` for PEP 503,
``pep691`` for PEP 691 pages, the JSON API copy and the root), the global index and its one writer
(``index``), and THE reader of a published page (``published``). Rendering and parsing are pure;
only ``index`` and ``published`` touch storage.
"""
