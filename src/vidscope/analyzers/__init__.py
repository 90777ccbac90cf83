"""Analyzers: one module per family, loaded lazily through :mod:`vidscope.analyzers.registry`."""
