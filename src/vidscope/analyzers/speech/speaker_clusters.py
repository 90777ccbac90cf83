"""Clustering voice embeddings into speakers in bounded memory, for the ``speakers`` analyzer.

**Online.**  Each embedding joins the nearest of at most ``limit`` micro-clusters when its
cosine similarity to that centroid reaches ``join`` (well above what two voices reach), else
it starts a new one; past ``limit`` the two closest micro-clusters merge.  A micro-cluster
keeps only the sum of its vectors and a count, so memory does not grow with the media's
length; each window keeps the id of the micro-cluster it joined, and merged ids point to the
cluster that took them in.

**Final.**  At the end the micro-clusters are grouped by average-linkage agglomeration
(the mean cosine similarity between the windows of two groups, which their sums give) until
the closest two groups are less alike than ``threshold``, within ``min_speakers`` to
``max_speakers`` (or exactly ``num_speakers``).  Groups holding less than ``min_share`` of
the windows are folded into the group they resemble most, and so are groups of fewer than
``min_count`` windows (a partial straddling two voices, a cough): a speaker says more.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class MicroClusters:
    """At most ``limit`` running centroids of unit vectors."""

    dim: int
    limit: int = 64
    join: float = 0.86
    sums: np.ndarray = field(init=False)
    counts: np.ndarray = field(init=False)
    ids: list[int] = field(default_factory=list)
    """The id of the micro-cluster in each row of ``sums``."""
    merged: dict[int, int] = field(default_factory=dict)
    """Id of a merged-away micro-cluster -> id of the one that took it in."""
    next_id: int = 0

    def __post_init__(self) -> None:
        self.sums = np.zeros((0, self.dim), np.float64)
        self.counts = np.zeros(0, np.int64)

    def centroids(self) -> np.ndarray:
        """Unit-length centroids, one row per micro-cluster."""
        norms = np.linalg.norm(self.sums, axis=1, keepdims=True)
        return self.sums / np.maximum(norms, 1e-12)

    def add(self, vectors: np.ndarray) -> list[int]:
        """Put each unit vector in a micro-cluster; return their ids (in order)."""
        out: list[int] = []
        for v in vectors.astype(np.float64):
            sims = self.centroids() @ v if len(self.ids) else np.zeros(0)
            best = int(np.argmax(sims)) if len(sims) else -1
            if best >= 0 and sims[best] >= self.join:
                self.sums[best] += v
                self.counts[best] += 1
                out.append(self.ids[best])
                continue
            self.sums = np.vstack([self.sums, v[None]])
            self.counts = np.append(self.counts, 1)
            self.ids.append(self.next_id)
            out.append(self.next_id)
            self.next_id += 1
            if len(self.ids) > self.limit:
                self._merge_closest()
        return out

    def _merge_closest(self) -> None:
        c = self.centroids()
        sims = c @ c.T
        np.fill_diagonal(sims, -np.inf)
        a, b = divmod(int(np.argmax(sims)), len(sims))
        keep, drop = min(a, b), max(a, b)
        self.sums[keep] += self.sums[drop]
        self.counts[keep] += self.counts[drop]
        self.merged[self.ids[drop]] = self.ids[keep]
        self.sums = np.delete(self.sums, drop, axis=0)
        self.counts = np.delete(self.counts, drop)
        del self.ids[drop]

    def resolve(self, cluster: int) -> int:
        """The row of ``sums`` now holding what micro-cluster ``cluster`` took in."""
        path = []
        while cluster in self.merged:
            path.append(cluster)
            cluster = self.merged[cluster]
        for step in path:  # shortcut the chain for the next lookups
            self.merged[step] = cluster
        return self.ids.index(cluster)


@dataclass(frozen=True)
class SpeakerBounds:
    """How many speakers the grouping may find."""

    threshold: float
    num: int | None = None
    low: int = 1
    high: int = 10
    min_share: float = 0.03
    min_count: int = 2

    @property
    def floor(self) -> int:
        """Fewest groups folding may leave."""
        return max(1, self.num if self.num is not None else self.low)


class Grouping:
    """Micro-clusters (the sum of their unit vectors and their count) put into groups."""

    def __init__(self, sums: np.ndarray, counts: np.ndarray) -> None:
        self.weights = counts.astype(np.float64)
        # Sums of pairwise similarities: a group's linkage is then the mean similarity of
        # every window of one group to every window of the other, exactly as if the matrix
        # over all windows were built, and it does not drift up as groups grow.
        self.pair = sums @ sums.T
        self.groups: list[list[int]] = [[i] for i in range(len(sums))]

    def linkage(self, a: int, b: int) -> float:
        """Mean cosine similarity between the windows of groups ``a`` and ``b``."""
        ga, gb = self.groups[a], self.groups[b]
        total = self.weights[ga].sum() * self.weights[gb].sum()
        return float(self.pair[np.ix_(ga, gb)].sum() / total)

    def closest(self) -> tuple[float, int, int]:
        """The most alike pair of groups and their linkage."""
        best = (-np.inf, 0, 1)
        for i in range(len(self.groups)):
            for j in range(i + 1, len(self.groups)):
                best = max(best, (self.linkage(i, j), i, j))
        return best

    def size(self, k: int) -> float:
        return float(self.weights[self.groups[k]].sum())

    def fold(self, k: int) -> None:
        """Put group ``k`` into the group most like it."""
        others = [j for j in range(len(self.groups)) if j != k]
        nearest = max(others, key=lambda j: self.linkage(k, j))
        self.groups[nearest] += self.groups[k]
        del self.groups[k]

    def labels(self) -> np.ndarray:
        """Group index (0..n-1) of each micro-cluster."""
        out = np.zeros(len(self.weights), np.int64)
        for k, members in enumerate(self.groups):
            out[members] = k
        return out


def group(sums: np.ndarray, counts: np.ndarray, bounds: SpeakerBounds) -> Grouping:
    """Average-linkage agglomeration of micro-clusters into speakers, small groups folded."""
    g = Grouping(sums, counts)
    while len(g.groups) > 1:
        sim, i, j = g.closest()
        if bounds.num is not None:
            if len(g.groups) <= bounds.num:
                break
        elif len(g.groups) <= bounds.high and (
            sim < bounds.threshold or len(g.groups) <= bounds.low
        ):
            break
        g.groups[i] += g.groups.pop(j)
    total = g.weights.sum()
    while len(g.groups) > bounds.floor:
        small = min(range(len(g.groups)), key=g.size)
        if g.size(small) >= max(bounds.min_count, bounds.min_share * total):
            break
        g.fold(small)
    return g
