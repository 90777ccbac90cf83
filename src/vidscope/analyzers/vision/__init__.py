"""Vision analyzers: on-screen text (``ocr``) and objects (``objects``)."""
