"""Analyzers that ask a vision-language model: ``captions`` (every second),
``shot_captions`` (every shot, with attributes) and ``summary`` (the whole video)."""
