"""Vision-language model backends (in-process ``transformers``, OpenAI-compatible HTTP), the
prompts and answer schemas, and the frame helpers the caption analyzers use.

Nothing here imports torch, transformers or httpx at import time: a backend imports its
library when it is opened.
"""
