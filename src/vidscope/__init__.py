"""vidscope: decode a video once, run many analyzers over it, get one time-aligned result.

>>> import vidscope
>>> result = vidscope.analyze("clip.mp4", analyzers=["shots"])
>>> result.track("shots")[0]["end"]
"""

from vidscope._version import __version__
from vidscope.api import analyze
from vidscope.engine.engine import Engine
from vidscope.timeline.result import Result

__all__ = ["Engine", "Result", "__version__", "analyze"]
