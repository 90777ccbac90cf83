"""The HTTP service: ``vidscope serve``.

A thin layer over the engine: jobs persist in SQLite under the data directory, worker threads
with long-lived engines run them, and results stay on disk as ordinary result bundles.
Needs the ``server`` extra: ``pip install 'vidscope[server]'``.
"""
