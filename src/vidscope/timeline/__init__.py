"""Time-aligned results: the bundle on disk, its reader, coverage, exports."""
