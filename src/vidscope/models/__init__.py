"""Model resolution: find the weights an analyzer needs, verify them, say where they came from.

Every model is looked up in the same order:

1. an explicit path or name given in the analyzer's parameters;
2. vidscope's model cache (``$VIDSCOPE_CACHE_DIR/models``, default ``~/.cache/vidscope/models``);
3. a Python package that bundles the weights (files verified against a SHA-256 pinned here);
4. a download, when the library supports one and the network allows it;
5. otherwise a :class:`~vidscope.errors.ModelError` naming every way to provide the model.

:mod:`vidscope.models.resolve` holds the generic helpers (cache folder, hashing, files inside
installed packages); :mod:`vidscope.models.whisper` applies the order to Whisper models.
"""
