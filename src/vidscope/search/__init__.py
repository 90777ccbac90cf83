"""Search across analysed videos: an embedded index of result bundles and ranked moments.

``index`` keeps one SQLite FTS5 file of every text-bearing record and labelled span of many
bundles; ``query`` reads the small query language; ``lookup`` answers a query with
:class:`~vidscope.search.lookup.Hit` moments.
"""

from vidscope.search.index import SearchIndex, index_path
from vidscope.search.lookup import Hit, search
from vidscope.search.query import parse_query

__all__ = ["Hit", "SearchIndex", "index_path", "parse_query", "search"]
