"""Frame-wise distances and batched dynamic time warping (numpy, vectorised).

Two published conventions are implemented, and the name of the one in use is
recorded in every output:

``"millet-dunbar"`` (Millet & Dunbar, CogSci 2020 / ACL 2022)
    Frame cost ``1 - cos(x, y)`` (scipy ``cdist(..., "cosine")``; the symmetrised
    KL divergence for posteriorgrams), DTW total cost divided by
    ``max(len_x, len_y)``.
``"zerospeech"`` (ZeroSpeech / Libri-Light ABX, fastabx)
    Frame cost ``arccos(cos(x, y)) / pi`` (the angular distance), DTW total cost
    divided by the length of the optimal path (backtracked with fastabx's
    tie-breaking: diagonal, then ``j - 1``, then ``i - 1``).

The DTW is the textbook recurrence ``C[i, j] = d[i, j] + min(C[i-1, j],
C[i-1, j-1], C[i, j-1])`` with ``C[0, 0] = d[0, 0]``. It is evaluated for a whole
batch of sequence pairs at once, one anti-diagonal at a time (``n + m - 1`` numpy
steps per batch instead of ``n * m`` Python steps per pair). Pairs of different
lengths share a batch by zero-padding: the DTW of a prefix only depends on the
prefix, so the cost of a pair is read at ``(len_x - 1, len_y - 1)``.

Note: the ``dtw.py`` shipped with the Millet & Dunbar code (a modified
``pierre-rouanet/dtw``) clamps the look-ahead index at the last row and column,
which deviates from this recurrence on the last row/column of some pairs; this
module implements the textbook recurrence both conventions are defined by.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

from .._validation import check_option

__all__ = [
    "CONVENTIONS",
    "DISTANCES",
    "NORMALIZATIONS",
    "resolve_convention",
    "frame_distances",
    "dtw_batch",
    "pairwise_dtw",
]

DISTANCES = ("cosine", "angular", "kl", "euclidean")
NORMALIZATIONS = ("max_len", "path_len", "none")
#: default DTW normalisation of each frame distance (its published convention)
_DEFAULT_NORM = {"cosine": "max_len", "kl": "max_len", "euclidean": "max_len",
                 "angular": "path_len"}
CONVENTIONS = {
    ("cosine", "max_len"): "millet-dunbar",
    ("kl", "max_len"): "millet-dunbar",
    ("angular", "path_len"): "zerospeech",
}
_KL_EPS = float(np.finfo(np.float64).eps)


def resolve_convention(distance: str, normalization: str | None = None
                       ) -> tuple[str, str, str]:
    """Validate a distance / normalisation pair and name its convention.

    Parameters
    ----------
    distance : {"cosine", "angular", "kl", "euclidean"}
    normalization : {"max_len", "path_len", "none"}, optional
        Default: the one published with ``distance`` ("max_len" for cosine and
        KL (Millet & Dunbar), "path_len" for angular (ZeroSpeech)).

    Returns
    -------
    distance, normalization, convention : str
        ``convention`` is "millet-dunbar", "zerospeech" or "custom" (a mix that
        matches neither published convention).
    """
    distance = check_option("distance", distance, DISTANCES)
    if normalization is None:
        normalization = _DEFAULT_NORM[distance]
    normalization = check_option("normalization", normalization, NORMALIZATIONS)
    return distance, normalization, CONVENTIONS.get((distance, normalization),
                                                    "custom")


def _unit(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0)


def _prob(x: np.ndarray) -> np.ndarray:
    # Millet & Dunbar's thresholded KL: normalise rows, add eps, renormalise
    x = x / x.sum(axis=-1, keepdims=True)
    x = x + _KL_EPS
    return x / x.sum(axis=-1, keepdims=True)


def frame_distances(x: np.ndarray, y: np.ndarray, distance: str = "cosine"
                    ) -> np.ndarray:
    """Frame-by-frame distances between batches of sequences.

    Parameters
    ----------
    x : array of shape (batch, n, n_units) or (n, n_units)
    y : array of shape (batch, m, n_units) or (m, n_units)
    distance : {"cosine", "angular", "kl", "euclidean"}, default="cosine"
        "cosine" is ``1 - cos`` (scipy ``cdist`` "cosine"), "angular"
        ``arccos(cos) / pi`` (fastabx), "kl" the symmetrised KL divergence of
        row-normalised non-negative frames (Millet & Dunbar, eps-thresholded),
        "euclidean" the L2 distance. A zero frame has cosine 0 to every frame.

    Returns
    -------
    d : array of shape (batch, n, m) or (n, m), float64
    """
    distance = check_option("distance", distance, DISTANCES)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if distance in ("cosine", "angular"):
        cos = np.matmul(_unit(x), np.swapaxes(_unit(y), -1, -2))
        if distance == "cosine":
            return 1.0 - cos
        return np.arccos(np.clip(cos, -1.0, 1.0)) / math.pi
    if distance == "euclidean":
        sq = ((x * x).sum(-1)[..., :, None] + (y * y).sum(-1)[..., None, :]
              - 2.0 * np.matmul(x, np.swapaxes(y, -1, -2)))
        return np.sqrt(np.maximum(sq, 0.0))
    p, q = _prob(x), _prob(y)
    lp, lq = np.log(p), np.log(q)
    pp = (p * lp).sum(-1)[..., :, None]
    qq = (q * lq).sum(-1)[..., None, :]
    kl_pq = pp - np.matmul(p, np.swapaxes(lq, -1, -2))
    kl_qp = qq - np.swapaxes(np.matmul(q, np.swapaxes(lp, -1, -2)), -1, -2)
    return 0.5 * kl_pq + 0.5 * kl_qp


def dtw_batch(d: np.ndarray, len_x: Sequence[int] | np.ndarray,
              len_y: Sequence[int] | np.ndarray, *,
              normalization: Literal["max_len", "path_len", "none"] = "max_len"
              ) -> np.ndarray:
    """DTW cost of a batch of (padded) frame-distance matrices.

    Parameters
    ----------
    d : array of shape (batch, n_max, m_max)
        Frame distances; only ``d[b, :len_x[b], :len_y[b]]`` is used.
    len_x, len_y : array of int of shape (batch,)
        True lengths (>= 1) of the two sequences of each pair.
    normalization : {"max_len", "path_len", "none"}, default="max_len"
        Divide the total cost by ``max(len_x, len_y)`` (Millet & Dunbar), by the
        number of cells on the optimal path (ZeroSpeech / fastabx), or not at all.

    Returns
    -------
    cost : array of shape (batch,), float64
    """
    normalization = check_option("normalization", normalization, NORMALIZATIONS)
    d = np.asarray(d, dtype=np.float64)
    if d.ndim != 3:
        raise ValueError(f"'d' must have shape (batch, n, m), got {d.shape}.")
    lx = np.asarray(len_x, dtype=np.int64)
    ly = np.asarray(len_y, dtype=np.int64)
    b, n, m = d.shape
    if lx.shape != (b,) or ly.shape != (b,):
        raise ValueError(f"'len_x' and 'len_y' must have shape ({b},), got "
                         f"{lx.shape} and {ly.shape}.")
    if b == 0:
        return np.zeros(0)
    if lx.min() < 1 or ly.min() < 1 or lx.max() > n or ly.max() > m:
        raise ValueError(f"Sequence lengths must lie in [1, {n}] and [1, {m}]; got "
                         f"len_x in [{lx.min()}, {lx.max()}], len_y in "
                         f"[{ly.min()}, {ly.max()}].")
    track = normalization == "path_len"
    cost = np.empty((b, n, m))
    plen = np.empty((b, n, m), dtype=np.int64) if track else None
    cost[:, :, 0] = np.cumsum(d[:, :, 0], axis=1)
    cost[:, 0, :] = np.cumsum(d[:, 0, :], axis=1)
    if track:
        plen[:, :, 0] = np.arange(1, n + 1)
        plen[:, 0, :] = np.arange(1, m + 1)
    for k in range(2, n + m - 1):  # anti-diagonal i + j = k, interior cells only
        i = np.arange(max(1, k - m + 1), min(k, n))
        if i.size == 0:
            continue
        j = k - i
        up = cost[:, i - 1, j]
        left = cost[:, i, j - 1]
        diag = cost[:, i - 1, j - 1]
        best = np.minimum(np.minimum(up, left), diag)
        cost[:, i, j] = d[:, i, j] + best
        if track:
            # fastabx tie-breaking: diagonal, then left (j - 1), then up (i - 1)
            take_diag = (diag <= left) & (diag <= up)
            take_left = ~take_diag & (left <= up)
            prev = np.where(take_diag, plen[:, i - 1, j - 1],
                            np.where(take_left, plen[:, i, j - 1], plen[:, i - 1, j]))
            plen[:, i, j] = prev + 1
    idx = np.arange(b)
    total = cost[idx, lx - 1, ly - 1]
    if normalization == "max_len":
        return total / np.maximum(lx, ly)
    if normalization == "path_len":
        return total / plen[idx, lx - 1, ly - 1]
    return total


def _prepare(features: Sequence[np.ndarray], distance: str) -> list[np.ndarray]:
    """Per-item arrays the frame distance needs, computed once per item."""
    out = []
    for f in features:
        f = np.asarray(f, dtype=np.float64)
        if distance in ("cosine", "angular"):
            out.append(_unit(f))
        elif distance == "kl":
            p = _prob(f)
            lp = np.log(p)
            out.append(np.concatenate([p, lp, (p * lp).sum(-1, keepdims=True)], -1))
        else:
            out.append(np.concatenate([f, (f * f).sum(-1, keepdims=True)], -1))
    return out


def _prepared_distances(x: np.ndarray, y: np.ndarray, distance: str) -> np.ndarray:
    """:func:`frame_distances` on arrays from :func:`_prepare` (batch-first)."""
    yt = np.swapaxes(y, -1, -2)
    if distance == "cosine":
        return 1.0 - np.matmul(x, yt)
    if distance == "angular":
        return np.arccos(np.clip(np.matmul(x, yt), -1.0, 1.0)) / math.pi
    if distance == "kl":
        d = (x.shape[-1] - 1) // 2
        p, lp, pp = x[..., :d], x[..., d:2 * d], x[..., -1]
        q, lq, qq = y[..., :d], y[..., d:2 * d], y[..., -1]
        kl_pq = pp[..., :, None] - np.matmul(p, np.swapaxes(lq, -1, -2))
        kl_qp = qq[..., None, :] - np.matmul(lp, np.swapaxes(q, -1, -2))
        return 0.5 * kl_pq + 0.5 * kl_qp
    xs, ys = x[..., :-1], y[..., :-1]
    sq = (x[..., -1][..., :, None] + y[..., -1][..., None, :]
          - 2.0 * np.matmul(xs, np.swapaxes(ys, -1, -2)))
    return np.sqrt(np.maximum(sq, 0.0))


def _pad_items(prepared: Sequence[np.ndarray], length: int) -> np.ndarray:
    # padded frames are never read by the DTW of the true prefix; copies of the
    # item's first frame keep every distance finite there
    out = np.empty((len(prepared), length, prepared[0].shape[1]))
    for k, s in enumerate(prepared):
        out[k, :len(s)] = s
        out[k, len(s):] = s[0]
    return out


def pairwise_dtw(features: Sequence[np.ndarray], pairs: np.ndarray, *,
                 distance: str = "cosine", normalization: str | None = None,
                 batch_size: int = 2048, max_cells: int = 8_000_000) -> np.ndarray:
    """DTW distance of many pairs of sequences, batched by size class.

    Pairs are sorted by their lengths and cut into batches of at most
    ``batch_size`` pairs and ``max_cells`` padded matrix cells, so each batch pads
    little and runs as one vectorised :func:`dtw_batch`.

    Parameters
    ----------
    features : sequence of arrays of shape (n_frames_k, n_units)
        One frame sequence per item.
    pairs : array of int of shape (n_pairs, 2)
        ``(x, y)`` indices into ``features``.
    distance, normalization
        See :func:`resolve_convention`.
    batch_size : int, default=2048
    max_cells : int, default=8_000_000
        Bound on ``batch * n_max * m_max`` (memory ~ 3 x 8 bytes per cell).

    Returns
    -------
    dist : array of shape (n_pairs,), float64
    """
    distance, normalization, _ = resolve_convention(distance, normalization)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    out = np.empty(len(pairs))
    if not len(pairs):
        return out
    lens = np.array([len(f) for f in features], dtype=np.int64)
    used = np.unique(pairs)
    prepared = _prepare([features[k] for k in used], distance)
    # all used items padded once into one array when it is small enough,
    # so each batch is gathered by fancy indexing instead of a Python loop
    lmax, width = int(lens[used].max()), prepared[0].shape[1]
    table = (_pad_items(prepared, lmax) if len(used) * lmax * width <= 16_000_000
             else None)
    where = np.full(len(features), -1, dtype=np.int64)
    where[used] = np.arange(len(used))
    lx, ly = lens[pairs[:, 0]], lens[pairs[:, 1]]
    # pairs grouped by their first item, then by the length of the second: a
    # batch then holds few distinct items, whose frame distances come from one
    # matrix product between their frames (each frame pair computed once)
    order = np.lexsort((ly, pairs[:, 0]))
    start = 0
    while start < len(order):
        stop = min(start + batch_size, len(order))
        while True:
            sel = order[start:stop]
            nx, ny = int(lx[sel].max()), int(ly[sel].max())
            ux, inv_x = np.unique(pairs[sel, 0], return_inverse=True)
            uy, inv_y = np.unique(pairs[sel, 1], return_inverse=True)
            gram = int(lens[ux].sum()) * int(lens[uy].sum())
            padded = len(sel) * nx * ny
            if stop - start == 1 or min(gram, padded) <= max_cells:
                break
            stop = start + max(1, (stop - start) // 2)
        if gram <= 4 * padded:
            fx = np.concatenate([prepared[k] for k in where[ux]])
            fy = np.concatenate([prepared[k] for k in where[uy]])
            g = _prepared_distances(fx, fy, distance)
            offx = np.concatenate([[0], np.cumsum(lens[ux])[:-1]])
            offy = np.concatenate([[0], np.cumsum(lens[uy])[:-1]])
            # rows / columns past a sequence's end repeat its last frame (unused)
            ri = offx[inv_x][:, None] + np.minimum(np.arange(nx)[None, :],
                                                   lx[sel][:, None] - 1)
            cj = offy[inv_y][:, None] + np.minimum(np.arange(ny)[None, :],
                                                   ly[sel][:, None] - 1)
            d = g[ri[:, :, None], cj[:, None, :]]
        else:
            ix, iy = where[pairs[sel, 0]], where[pairs[sel, 1]]
            if table is not None:
                xs, ys = table[ix, :nx], table[iy, :ny]
            else:
                xs = _pad_items([prepared[k] for k in ix], nx)
                ys = _pad_items([prepared[k] for k in iy], ny)
            d = _prepared_distances(xs, ys, distance)
        out[sel] = dtw_batch(d, lx[sel], ly[sel], normalization=normalization)
        start = stop
    return out
