"""People analyzers: faces (with gaze, eyes and expression), body pose and person
segmentation, on MediaPipe models that run in an isolated sidecar environment
(:mod:`vidscope.analyzers.people.runtime`)."""
