"""Media access: probing, one-pass decoding, frame sampling, audio, URL ingest."""
