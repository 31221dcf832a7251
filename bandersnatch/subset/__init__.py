"""Subset mirrors: upstream bandersnatch's filter sections and our dependency closure.

``config`` reads the sections into values, ``filters`` and ``closure`` are pure functions of them,
``requirements`` reads requirements and lock files, and ``scope`` applies all of it to one run.
Imported only when the configuration has filter sections: a no-op cron run needs none of it.
"""
