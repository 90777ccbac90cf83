"""Clustering voice embeddings into speakers in bounded memory, for the ``speakers`` analyzer.

**Online.**  Each embedding joins the nearest of at most ``limit`` micro-clusters when its
cosine similarity to that centroid reaches ``join`` (well above what two voices reach), else
it starts a new one; past ``limit`` the two closest micro-clusters merge.  A micro-cluster
keeps only the sum of its vectors and a count, so memory does not grow with the media's
length; each window keeps the id of the micro-cluster it joined, and merged ids point to the
cluster that took them in.

**Final.**  At the end the micro-clusters are grouped by average-linkage agglomeration
(cosine similarity of centroids, weighted by their sizes) until the closest two groups are
less alike than ``threshold``, within ``min_speakers``..``max_speakers`` (or exactly
``num_speakers``).  Groups holding less than ``min_share`` of the windows are folded into
the group they resemble most, and so are groups of fewer than ``min_count`` windows (a
partial straddling two voices, a cough): a speaker says more than that.
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
        while cluster in self.merged:
            cluster = self.merged[cluster]
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


def group(centroids: np.ndarray, counts: np.ndarray, bounds: SpeakerBounds) -> np.ndarray:
    """Speaker index (0..n-1) of each micro-cluster: average-linkage agglomeration."""
    n = len(centroids)
    if n == 0:
        return np.zeros(0, np.int64)
    weights = counts.astype(np.float64)
    pair = (centroids @ centroids.T) * np.outer(weights, weights)
    groups: list[list[int]] = [[i] for i in range(n)]

    def linkage(a: list[int], b: list[int]) -> float:
        return float(pair[np.ix_(a, b)].sum() / (weights[a].sum() * weights[b].sum()))

    def closest() -> tuple[float, int, int]:
        best = (-np.inf, 0, 1)
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                best = max(best, (linkage(groups[i], groups[j]), i, j))
        return best

    def merge(i: int, j: int) -> None:
        groups[i] += groups.pop(j)

    target = bounds.num
    while len(groups) > 1:
        sim, i, j = closest()
        if target is not None:
            if len(groups) <= target:
                break
        elif len(groups) <= bounds.high and (sim < bounds.threshold or len(groups) <= bounds.low):
            break
        merge(i, j)
    # Fold groups too small to be a speaker into their nearest group (unless that would go
    # below the number of speakers asked for).
    floor = bounds.num if bounds.num is not None else bounds.low
    total = weights.sum()
    while len(groups) > max(floor, 1):
        sizes = [weights[g].sum() for g in groups]
        small = int(np.argmin(sizes))
        if sizes[small] >= max(bounds.min_count, bounds.min_share * total):
            break
        others = [k for k in range(len(groups)) if k != small]
        nearest = max(others, key=lambda k: linkage(groups[small], groups[k]))
        groups[nearest] += groups[small]
        del groups[small]
    labels = np.zeros(n, np.int64)
    for k, members in enumerate(groups):
        labels[members] = k
    return labels
