"""Brute-force ABX reference: every triplet, textbook DTW loops, scipy ``cdist``.

Deliberately naive (one Python loop per cell, per pair, per triplet) and written
from the published definitions, independently of the package's vectorised code.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial.distance import cdist


def frame_cost(x, y, distance):
    if distance == "cosine":
        return cdist(x, y, "cosine")
    if distance == "angular":
        cos = 1.0 - cdist(x, y, "cosine")
        return np.arccos(np.clip(cos, -1, 1)) / math.pi
    if distance == "euclidean":
        return cdist(x, y, "euclidean")
    if distance == "kl":
        eps = np.finfo(np.float64).eps

        def prob(v):
            v = v / v.sum()
            v = v + eps
            return v / v.sum()

        def skl(u, v):
            p, q = prob(u), prob(v)
            return 0.5 * np.sum(p * np.log(p / q)) + 0.5 * np.sum(q * np.log(q / p))

        return cdist(x, y, skl)
    raise ValueError(distance)


def dtw(x, y, distance, normalization):
    """Textbook DTW; path length by fastabx's backtracking rule."""
    d = frame_cost(x, y, distance)
    n, m = d.shape
    c = np.zeros((n, m))
    for i in range(n):
        for j in range(m):
            if i == 0 and j == 0:
                c[i, j] = d[i, j]
            elif i == 0:
                c[i, j] = d[i, j] + c[i, j - 1]
            elif j == 0:
                c[i, j] = d[i, j] + c[i - 1, j]
            else:
                c[i, j] = d[i, j] + min(c[i - 1, j], c[i - 1, j - 1], c[i, j - 1])
    if normalization == "max_len":
        return c[-1, -1] / max(n, m)
    if normalization == "none":
        return c[-1, -1]
    i, j, length = n - 1, m - 1, 1
    while i > 0 and j > 0:
        up, left, diag = c[i - 1, j], c[i, j - 1], c[i - 1, j - 1]
        if diag <= left and diag <= up:
            i, j = i - 1, j - 1
        elif left <= up:
            j -= 1
        else:
            i -= 1
        length += 1
    length += i + j
    return c[-1, -1] / length


def brute_force_abx(features, labels_on, labels_by, labels_across, distance,
                    normalization):
    """Every across-speaker triplet by loops; the cell-averaged error and deltas."""
    n = len(features)
    deltas = {}
    cells = {}
    for a in range(n):
        for b in range(n):
            for x in range(n):
                if (x == a or labels_on[a] == labels_on[b]
                        or labels_on[a] != labels_on[x]):
                    continue
                if not (labels_by[a] == labels_by[b] == labels_by[x]):
                    continue
                if labels_across is not None and not (
                        labels_across[a] == labels_across[b] != labels_across[x]):
                    continue
                delta = (dtw(features[x], features[b], distance, normalization)
                         - dtw(features[x], features[a], distance, normalization))
                deltas[(a, b, x)] = delta
                key = (labels_on[a], labels_on[b], labels_by[a],
                       labels_across[a] if labels_across is not None else "",
                       labels_across[x] if labels_across is not None else "")
                cells.setdefault(key, []).append(
                    1.0 if delta < 0 else 0.5 if delta == 0 else 0.0)
    cell_err = {k: np.mean(v) for k, v in cells.items()}
    ctx = {}
    for (oa, ob, by, _, _), e in cell_err.items():
        ctx.setdefault((oa, ob, by), []).append(e)
    contrast = {}
    for (oa, ob, _), es in ctx.items():
        contrast.setdefault((oa, ob), []).append(np.mean(es))
    error = float(np.mean([np.mean(v) for v in contrast.values()]))
    return error, deltas
