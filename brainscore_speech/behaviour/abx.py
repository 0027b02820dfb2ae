"""ABX discrimination scores of frame representations (per layer).

For a triplet (TGT, OTH, X), ``delta = d(OTH, X) - d(TGT, X)`` with ``d`` the DTW
distance of :mod:`~brainscore_speech.behaviour.dtw`; the representation answers
correctly when ``delta > 0``. Two summaries are reported:

``accuracy``
    The mean of ``delta > 0`` over the triplets (Millet & Dunbar's "ABX
    accuracy" on fixed triplets; a tie counts as wrong).
``error``
    The ZeroSpeech ABX error: per cell (``on`` of TGT and OTH, ``by``, ``across``
    of TGT/OTH and of X) the mean of ``[delta < 0] + 0.5 [delta == 0]``, averaged
    over the ``across`` cells, then over ``by``, then over the ``(on_tgt, on_oth)``
    contrasts (fastabx's ``collapse`` in that order).

Each distinct (X, reference) pair is warped once, however many triplets share it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..exceptions import DataError
from .dtw import pairwise_dtw, resolve_convention
from .items import Items, item_labels

__all__ = ["AbxScore", "slice_frames", "item_features", "abx_deltas", "abx_error",
           "held_out_best_layer", "score_abx"]


@dataclass(frozen=True)
class AbxScore:
    """ABX result of one representation on one task.

    Parameters
    ----------
    layer : str
    error : float
        ZeroSpeech ABX error in [0, 1] (cell-averaged, ties count 0.5).
    accuracy : float
        Mean of ``delta > 0`` over triplets (Millet & Dunbar).
    n_triplets : int
    distance, normalization, convention : str
        See :func:`~brainscore_speech.behaviour.dtw.resolve_convention`.
    deltas : DataFrame
        One row per triplet: ``triplet_id``, ``tgt_item``, ``oth_item``,
        ``x_item``, ``on_tgt``, ``on_oth``, ``by``, ``across_ab``, ``across_x``,
        ``d_tgt_x``, ``d_oth_x``, ``delta``.
    cells : DataFrame
        Per-cell error and triplet count.
    """

    layer: str
    error: float
    accuracy: float
    n_triplets: int
    distance: str
    normalization: str
    convention: str
    deltas: pd.DataFrame = field(repr=False)
    cells: pd.DataFrame = field(repr=False)

    def __repr__(self) -> str:
        return (f"<AbxScore {self.layer!r}: error {self.error:.4f}, accuracy "
                f"{self.accuracy:.4f} on {self.n_triplets} triplets, "
                f"{self.convention} ({self.distance}, {self.normalization})>")


def slice_frames(data: np.ndarray, times_s: np.ndarray, onset_s: float,
                 offset_s: float) -> np.ndarray:
    """Frames whose time lies in ``[onset_s, offset_s]`` (ABXpy / fastabx rule).

    Parameters
    ----------
    data : array of shape (n_frames, n_units)
    times_s : array of shape (n_frames,)
        Frame times in seconds (the layer's exact times, see
        :mod:`brainscore_speech.features.frames`).
    onset_s, offset_s : float

    Returns
    -------
    frames : array of shape (n_selected, n_units)
    """
    keep = (times_s >= onset_s - 1e-9) & (times_s <= offset_s + 1e-9)
    return data[keep]


def item_features(items: Items, load: Callable[[str], tuple[np.ndarray, np.ndarray]],
                  *, layer: str = "features", whole_file: bool = False
                  ) -> list[np.ndarray]:
    """Frame sequence of every item, sliced from its file's features.

    Parameters
    ----------
    items : Items
    load : callable
        ``load(file) -> (data (n_frames, n_units), times_s (n_frames,))``; called
        once per file.
    layer : str, default="features"
        Name used in error messages.
    whole_file : bool, default=False
        Use every frame of the file (items extracted one per file).

    Returns
    -------
    features : list of arrays of shape (n_frames_k, n_units), float64

    Raises
    ------
    DataError
        An item that contains no frame of ``layer`` (shorter than its hop).
    """
    out: list[np.ndarray] = []
    cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    t = items.table
    for row, (name, file, on, off) in enumerate(zip(t.index, t["file"], t["onset"],
                                                    t["offset"], strict=True)):
        if file not in cache:
            cache = {file: load(file)}  # items are usually grouped by file
        data, times = cache[file]
        frames = data if whole_file else slice_frames(data, times, on, off)
        if len(frames) == 0:
            hop = float(np.median(np.diff(times))) if len(times) > 1 else float("nan")
            raise DataError(
                f"{items.path}, line {items._line_of(row)}: item {name!r} "
                f"[{on:.4f}, {off:.4f}] s of {file!r} contains no frame of layer "
                f"{layer!r} (frame hop {hop * 1000:.1f} ms).")
        out.append(np.asarray(frames, dtype=np.float64))
    return out


def abx_deltas(features: Sequence[np.ndarray], tgt: np.ndarray, oth: np.ndarray,
               x: np.ndarray, *, distance: str = "cosine",
               normalization: str | None = None, batch_size: int = 2048
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """DTW distances and delta of many triplets.

    Parameters
    ----------
    features : sequence of arrays of shape (n_frames_k, n_units)
    tgt, oth, x : array of int of shape (n_triplets,)
        Item indices into ``features``.
    distance, normalization
        See :func:`~brainscore_speech.behaviour.dtw.resolve_convention`.
    batch_size : int, default=2048
        Pairs per vectorised DTW batch.

    Returns
    -------
    d_tgt_x, d_oth_x, delta : arrays of shape (n_triplets,)
        ``delta = d_oth_x - d_tgt_x`` (> 0: correct).
    """
    tgt, oth, x = (np.asarray(v, dtype=np.int64) for v in (tgt, oth, x))
    n = len(features)
    pairs = np.concatenate([np.stack([x, tgt], 1), np.stack([x, oth], 1)])
    keys = pairs[:, 0] * n + pairs[:, 1]
    uniq, inverse = np.unique(keys, return_inverse=True)
    upairs = np.stack([uniq // n, uniq % n], 1)
    dist = pairwise_dtw(features, upairs, distance=distance,
                        normalization=normalization, batch_size=batch_size)
    d = dist[inverse]
    d_tgt, d_oth = d[:len(x)], d[len(x):]
    return d_tgt, d_oth, d_oth - d_tgt


def abx_error(deltas: pd.DataFrame) -> tuple[float, pd.DataFrame]:
    """ZeroSpeech ABX error from per-triplet deltas (see the module docstring).

    Parameters
    ----------
    deltas : DataFrame
        Columns ``on_tgt``, ``on_oth``, ``by``, ``across_ab``, ``across_x``,
        ``delta``.

    Returns
    -------
    error : float
    cells : DataFrame
        One row per cell with ``error`` and ``n_triplets``.
    """
    d = deltas["delta"].to_numpy()
    wrong = (d < 0).astype(float) + 0.5 * (d == 0)
    keys = list(_CELL_KEYS)
    cells = (deltas[keys].assign(error=wrong).groupby(keys, sort=True)
             .agg(error=("error", "mean"), n_triplets=("error", "size"))
             .reset_index())
    return _collapse(cells), cells


_CELL_KEYS = ("on_tgt", "on_oth", "by", "across_ab", "across_x")


def _collapse(cells: pd.DataFrame, groups: list[str] | None = None):
    """Cell errors -> mean over ``across`` cells, then ``by``, then contrasts.

    A float, or with ``groups`` a Series of one error per group.
    """
    g = list(groups or [])
    by_ctx = cells.groupby([*g, "on_tgt", "on_oth", "by"])["error"].mean()
    contrast = by_ctx.groupby(level=[*g, "on_tgt", "on_oth"]).mean()
    return contrast.groupby(level=g).mean() if g else float(contrast.mean())


def held_out_best_layer(deltas: pd.DataFrame, *, group: str = "by"
                        ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """ABX error of the best layer, chosen on other data than it is scored on.

    The layer with the lowest error on a task is an optimistic estimate of that
    error: the same triplets choose it and score it, and a model with more layers
    gets more draws. Here every value of ``group`` (by default each ``by`` cell, a
    phonetic context) is held out in turn: the layer is chosen on the triplets of
    the other values and its error is taken on the held-out ones. The held-out
    errors are averaged with equal weights, as :func:`abx_error` averages the
    ``by`` cells.

    Parameters
    ----------
    deltas : DataFrame
        Per-triplet deltas of several layers (``abx_deltas.tsv``): columns
        ``layer``, ``delta``, ``on_tgt``, ``on_oth``, ``by``, ``across_ab``,
        ``across_x``, and optionally ``model`` (each model is treated apart).
    group : str, default="by"
        The column whose values are held out (at least two values).

    Returns
    -------
    summary : DataFrame
        One row per model: ``model``, ``error`` (mean held-out error), ``n_folds``,
        ``layers`` (the layers chosen, comma-separated, most often chosen first).
    folds : DataFrame
        One row per model and held-out value: ``model``, ``held_out``, ``layer``
        (chosen on the others), ``error`` (on the held-out triplets),
        ``n_triplets``.

    Raises
    ------
    ValueError
        A required column is missing, or ``group`` has fewer than two values.
    """
    need = {"layer", "delta", "on_tgt", "on_oth", "by", "across_ab", "across_x", group}
    missing = sorted(need - set(deltas.columns))
    if missing:
        raise ValueError(f"'deltas' lacks the column(s) {missing}; expected the "
                         "columns of abx_deltas.tsv.")
    frame = deltas if "model" in deltas else deltas.assign(model="model")
    rows = []
    for model, d in frame.groupby("model", sort=True):
        values = pd.unique(d[group])
        if len(values) < 2:
            raise ValueError(f"'{group}' has {len(values)} value(s) for model "
                             f"{model!r}; holding one out needs at least two.")
        # a cell lies inside one value of a cell key: errors of any subset of
        # values then come from the cells alone (else: recomputed per subset)
        cells = (pd.concat([abx_error(g)[1].assign(layer=lay)
                            for lay, g in d.groupby("layer")], ignore_index=True)
                 if group in _CELL_KEYS else None)
        for value in values:
            inside = d[group] == value
            if cells is None:
                train = {lay: abx_error(g)[0] for lay, g in
                         d[~inside].groupby("layer")}
            else:
                train = _collapse(cells[cells[group] != value], ["layer"]).to_dict()
            layer = min(train, key=lambda k: (train[k], str(k)))
            test = d[inside & (d["layer"] == layer)]
            rows.append({"model": model, "held_out": value, "layer": layer,
                         "error": abx_error(test)[0], "n_triplets": len(test)})
    folds = pd.DataFrame(rows)
    summary = (folds.groupby("model", sort=True)
               .agg(error=("error", "mean"), n_folds=("error", "size"),
                    layers=("layer", lambda s: ",".join(s.value_counts().index)))
               .reset_index())
    return summary, folds


def score_abx(features: Sequence[np.ndarray], items: Items, triplets: pd.DataFrame,
              *, on: str = "phone", by: Sequence[str] | str | None = ("context",),
              across: str | None = "speaker", distance: str = "cosine",
              normalization: str | None = None, layer: str = "features",
              batch_size: int = 2048) -> AbxScore:
    """ABX error, accuracy and per-triplet deltas of one representation.

    Parameters
    ----------
    features : sequence of arrays of shape (n_frames_k, n_units)
        One sequence per item of ``items`` (see :func:`item_features`).
    items : Items
    triplets : DataFrame
        Columns ``tgt``, ``oth``, ``x`` (item positions) and ``triplet_id``, from
        :func:`~brainscore_speech.behaviour.items.make_triplets` or
        :func:`~brainscore_speech.behaviour.items.read_triplets`.
    on, by, across : str
        Item columns that label the cells (as in ``make_triplets``).
    distance, normalization
        See :func:`~brainscore_speech.behaviour.dtw.resolve_convention`.
    layer : str, default="features"
    batch_size : int, default=2048

    Returns
    -------
    score : AbxScore
    """
    distance, normalization, convention = resolve_convention(distance, normalization)
    if len(features) != len(items):
        raise ValueError(f"'features' has {len(features)} sequences but there are "
                         f"{len(items)} items.")
    tgt, oth, x = (triplets[c].to_numpy() for c in ("tgt", "oth", "x"))
    d_tgt, d_oth, delta = abx_deltas(features, tgt, oth, x, distance=distance,
                                     normalization=normalization,
                                     batch_size=batch_size)
    lab = item_labels(items, on, by, across)
    names = np.asarray(items.names, dtype=object)
    table = pd.DataFrame({
        "triplet_id": triplets["triplet_id"].astype(str).to_numpy(),
        "tgt_item": names[tgt], "oth_item": names[oth], "x_item": names[x],
        "on_tgt": lab["on"].to_numpy()[tgt], "on_oth": lab["on"].to_numpy()[oth],
        "by": lab["by"].to_numpy()[x], "across_ab": lab["across"].to_numpy()[tgt],
        "across_x": lab["across"].to_numpy()[x],
        "d_tgt_x": d_tgt, "d_oth_x": d_oth, "delta": delta})
    error, cells = abx_error(table)
    return AbxScore(layer=layer, error=error, accuracy=float(np.mean(delta > 0)),
                    n_triplets=len(table), distance=distance,
                    normalization=normalization, convention=convention,
                    deltas=table, cells=cells)
