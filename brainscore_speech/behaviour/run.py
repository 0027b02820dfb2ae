"""The ``abx`` stage: model (or MFCC) activations -> per-layer ABX deltas and errors.

Output folder ``OUT``::

    OUT/abx_deltas.tsv       tidy, one row per (layer, triplet): model, layer,
                             triplet_id, tgt_item, oth_item, x_item, on_tgt, on_oth,
                             by, across_ab, across_x, d_tgt_x, d_oth_x, delta
    OUT/abx_scores.tsv       one row per layer: error, accuracy, n_triplets,
                             distance, normalization, convention, task
    OUT/abx_provenance.json  inputs + hashes, parameters, versions
    OUT/activations/         the extracted activations (``extract`` layout)
    OUT/.cache/              one file per finished layer (a killed run resumes)

Every file is written atomically.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .. import layout as L
from .._io import (
    atomic_path,
    make_provenance,
    params_hash,
    remove_stale_temps,
    safe_join,
    write_json,
)
from .._logging import logger, progress, verbose
from .._validation import check_option
from ..containers import read_activation_layer, read_activation_meta
from ..exceptions import DataError
from .abx import item_features, score_abx
from .dtw import resolve_convention
from .items import (
    TRIPLET_COLUMNS,
    Items,
    item_labels,
    make_triplets,
    read_items,
    read_triplets,
)

__all__ = ["run_abx", "run_abx_humans", "load_abx_deltas", "DELTA_COLUMNS"]

DELTA_COLUMNS = ("model", "layer", "triplet_id", "tgt_item", "oth_item", "x_item",
                 "on_tgt", "on_oth", "by", "across_ab", "across_x", "d_tgt_x",
                 "d_oth_x", "delta")
CONTEXTS = ("file", "item")


def _audio_index(audio: str | os.PathLike) -> dict[str, Path]:
    from ..data.audio import find_audio

    files = find_audio(audio)
    index: dict[str, Path] = {}
    for f in files:
        index.setdefault(f.stem, f)
    return index


def _missing_file_error(items: Items, triplets: pd.DataFrame | None,
                        triplets_path: str | None, missing: str, where: str
                        ) -> DataError:
    t = items.table
    if triplets is not None:
        files = t["file"].to_numpy()
        for col, key in zip(TRIPLET_COLUMNS, ("tgt", "oth", "x"), strict=True):
            hit = np.flatnonzero(files[triplets[key].to_numpy()] == missing)
            if hit.size:
                r = hit[0]
                return DataError(
                    f"{triplets_path}, line {int(triplets['line'].iloc[r])}: column "
                    f"{col!r} names item {items.names[triplets[key].iloc[r]]!r}, "
                    f"whose file {missing!r} is not in {where}.")
    row = int(np.flatnonzero(t["file"].to_numpy() == missing)[0])
    return DataError(f"{items.path}, line {items._line_of(row)}: item "
                     f"{items.names[row]!r} names file {missing!r}, which is not in "
                     f"{where}.")


def _write_item_audio(items: Items, audio_index: dict[str, Path], folder: Path
                      ) -> tuple[Items, list[Path]]:
    """One wav per item (the item alone, as in the ACL 2022 code)."""
    import soundfile as sf

    from ..data.audio import load_audio

    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(folder)  # a killed run's half-written cut
    t = items.table
    paths, cache = [], {}
    for name, rec in t.iterrows():
        dest = safe_join(folder, f"{name}.wav", what=f"item name in {items.path}")
        paths.append(dest)
        if dest.is_file():
            continue
        if rec["file"] not in cache:
            cache = {rec["file"]: load_audio(audio_index[rec["file"]])}
        wave = cache[rec["file"]]
        seg = wave[int(round(rec["onset"] * 16000)): int(round(rec["offset"] * 16000))]
        with atomic_path(dest) as tmp:
            sf.write(str(tmp), seg, 16000, format="WAV")
    table = t.copy()
    table["file"] = [str(n) for n in t.index]
    table["offset"] = t["offset"] - t["onset"]
    table["onset"] = 0.0
    return Items(table=table, path=items.path, meta=items.meta), paths


def load_abx_deltas(path: str | os.PathLike) -> pd.DataFrame:
    """Read ``abx_deltas.tsv`` (a file or the ``abx`` output folder).

    Parameters
    ----------
    path : str or os.PathLike
        ``abx_deltas.tsv`` or the folder holding it.

    Returns
    -------
    DataFrame
        One row per model, layer and triplet (see ``DELTA_COLUMNS``).

    Raises
    ------
    DataError
        Missing columns.
    """
    path = Path(path)
    if path.is_dir():
        path = L.abx_file(path, "deltas.tsv")
    if not path.is_file():
        raise FileNotFoundError(f"ABX deltas not found: {path}")
    df = pd.read_csv(path, sep="\t", dtype={"triplet_id": str, "tgt_item": str,
                                            "oth_item": str, "x_item": str})
    missing = [c for c in ("model", "layer", "triplet_id", "delta")
               if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; expected "
                        f"{list(DELTA_COLUMNS)}.")
    return df


@verbose
def run_abx(
    items: str | os.PathLike, out_dir: str | os.PathLike, *, model=None,
    audio: str | os.PathLike | None = None,
    activations: str | os.PathLike | None = None, baseline: str | None = None,
    triplets: str | os.PathLike | None = None, layers: Sequence[str] | None = None,
    on: str = "phone", by: Sequence[str] | str | None = ("context",),
    across: str | None = "speaker", distance: str = "cosine",
    normalization: str | None = None, context: str = "file",
    max_triplets: int | None = None, random_state: int = 0, batch_size: int = 2048,
    device: str = "cpu", window_s: float = 10.0, stride_s: float = 5.0,
    model_id: str | None = None, verbose: bool | int | str | None = None,
) -> pd.DataFrame:
    """Per-layer ABX deltas and errors of a model (or MFCCs) on an item set.

    Parameters
    ----------
    items : path-like
        Item file (see :mod:`~brainscore_speech.behaviour.items`).
    out_dir : path-like
        Output folder (see the module docstring).
    model : path-like, optional
        Checkpoint directory (any model ``extract`` accepts).
    audio : path-like, optional
        Folder (or list) of the audio files the items name (by stem); needed
        with ``model`` or ``baseline``.
    activations : path-like, optional
        An existing ``extract`` output folder instead of ``model``.
    baseline : {"mfcc"}, optional
        Use MFCCs (:func:`~brainscore_speech.behaviour.baselines.compute_mfcc`)
        instead of a model.
    triplets : path-like, optional
        Fixed triplets (Perceptimatic); default every triplet of the task.
    layers : sequence of str, optional
        Default every layer.
    on, by, across : str
        Task definition (see :func:`~brainscore_speech.behaviour.items.make_triplets`).
    distance, normalization : str
        DTW convention (see
        :func:`~brainscore_speech.behaviour.dtw.resolve_convention`).
    context : {"file", "item"}, default="file"
        Run the model on the whole file and slice the item's frames (CogSci 2020,
        ZeroSpeech), or on the item's audio alone (ACL 2022).
    max_triplets : int, optional
        Random subset of the task's triplets (ignored with ``triplets``).
    random_state : int, default=0
    batch_size : int, default=2048
        Pairs per DTW batch.
    device, window_s, stride_s, model_id
        Passed to :func:`~brainscore_speech.features.extract_stimuli`.
    verbose : bool, int, str or None

    Returns
    -------
    scores : DataFrame
        The content of ``abx_scores.tsv``.

    Raises
    ------
    DataError
        Bad items / triplets, an item outside its file, a file that is missing
        (the message names the file and line), an item with no frame.
    """
    distance, normalization, convention = resolve_convention(distance, normalization)
    context = check_option("context", context, CONTEXTS)
    _check_abx_sources(model, activations, baseline, context)
    out = Path(out_dir)
    items_obj = read_items(items)
    item_labels(items_obj, on, by, across)  # validates the label columns early
    fixed = read_triplets(triplets, items_obj) if triplets is not None else None
    trip = fixed if fixed is not None else make_triplets(
        items_obj, on=on, by=by, across=across, max_triplets=max_triplets,
        random_state=random_state)
    logger.info("ABX task: %d items, %d triplets (%s, %s)", len(items_obj), len(trip),
                convention, distance)
    needed = sorted(set(items_obj.table["file"]))
    t0 = time.perf_counter()
    act_dir, feat_items = _abx_features(
        items_obj, fixed, triplets, needed, out, model=model, audio=audio,
        activations=activations, baseline=baseline, layers=layers, device=device,
        window_s=window_s, stride_s=stride_s, model_id=model_id, context=context)
    feat_files = sorted(set(feat_items.table["file"]))
    h5 = {f: safe_join(act_dir, f"{f}.h5", what=f"item file in {items_obj.path}")
          for f in feat_files}
    metas = {f: read_activation_meta(h5[f]) for f in feat_files}
    first = metas[feat_files[0]]
    available = list(first["layer_order"])
    if layers:
        unknown = [name for name in layers if name not in available]
        if unknown:
            from .._validation import suggest

            raise ValueError(f"Unknown layer(s) {unknown} in {act_dir}; valid layers "
                             f"are {available}." + suggest(unknown[0], available))
        wanted = [name for name in available if name in set(layers)]
    else:
        wanted = available
    model_name = model_id or first["model_id"]
    task = {"on": on, "by": list([by] if isinstance(by, str) else (by or [])),
            "across": across, "context": context}
    params = {**task, "distance": distance, "normalization": normalization,
              "convention": convention, "max_triplets": max_triplets,
              "random_state": random_state, "triplets": str(triplets) if triplets
              else None}
    base_key = {"params": params,
                "items": items_obj.table.reset_index().to_dict(orient="list"),
                "triplets": trip[["tgt", "oth", "x"]].to_numpy().tolist(),
                "acts": {f: params_hash(m["provenance"]) for f, m in metas.items()}}
    cache_dir = L.cache_dir(out)
    cache_dir.mkdir(parents=True, exist_ok=True)
    for folder in (out, cache_dir):  # temps a killed run left (it resumes here)
        remove_stale_temps(folder)
    all_deltas, rows = [], []
    for layer in progress(wanted, desc="abx", unit="layer"):
        table, row = _abx_layer(layer, base_key, cache_dir, feat_items, items_obj,
                                trip, h5, task, model_name, on=on, by=by,
                                across=across, distance=distance,
                                normalization=normalization, convention=convention,
                                context=context, batch_size=batch_size)
        all_deltas.append(table)
        rows.append(row)
    scores = _write_abx_outputs(out, rows, all_deltas, items=items, triplets=triplets,
                                model=model, metas=metas, params=params,
                                wanted=wanted, model_name=model_name,
                                baseline=baseline, random_state=random_state)
    logger.info("ABX on %d layers x %d triplets in %.1f s (best %s: error %.4f)",
                len(wanted), len(trip), time.perf_counter() - t0,
                scores.loc[scores["error"].idxmin(), "layer"], scores["error"].min())
    return scores


def _check_abx_sources(model, activations, baseline, context: str) -> None:
    """Exactly one feature source; ``context="item"`` needs audio."""
    sources = [s for s in (model, activations, baseline) if s is not None]
    if len(sources) != 1:
        raise ValueError("Give exactly one of 'model', 'activations' or 'baseline' "
                         f"(got {len(sources)}).")
    if baseline is not None:
        check_option("baseline", baseline, ("mfcc",))
    if activations is not None and context == "item":
        raise ValueError("context='item' runs the model on each item's audio; it "
                         "needs 'model' or 'baseline', not 'activations'.")


def _abx_features(items_obj, fixed, triplets, needed, out: Path, *, model, audio,
                  activations, baseline, layers, device, window_s, stride_s,
                  model_id, context):
    """The activation folder of the items' files (extracted here unless given)."""
    if activations is None:
        if audio is None:
            raise ValueError("'audio' (the folder of the items' audio files) is "
                             "needed with 'model' or 'baseline'.")
        return _extract_abx_features(
            items_obj, fixed, triplets, needed, out, model=model, audio=audio,
            baseline=baseline, layers=layers, device=device, window_s=window_s,
            stride_s=stride_s, model_id=model_id, context=context)
    act_dir = Path(activations)
    durations = {}
    for f in needed:
        p = safe_join(act_dir, f"{f}.h5", what=f"item file in {items_obj.path}")
        if not p.is_file():
            raise _missing_file_error(items_obj, fixed, str(triplets), f,
                                      str(act_dir))
        durations[f] = read_activation_meta(p)["duration_s"]
    items_obj.check_durations(durations)
    feat_items = items_obj
    return act_dir, feat_items


def _extract_abx_features(items_obj, fixed, triplets, needed, out: Path, *, model,
                          audio, baseline, layers, device, window_s, stride_s,
                          model_id, context):
    """Extract the model's (or MFCC) features of the items' audio."""
    index = _audio_index(audio)
    for f in needed:
        if f not in index:
            raise _missing_file_error(items_obj, fixed, str(triplets), f,
                                      str(audio))
    from ..data.audio import audio_info

    durations = {}
    for f in needed:
        n, sr, _ = audio_info(index[f])
        durations[f] = n / sr
    items_obj.check_durations(durations)
    feat_items = items_obj
    files = [index[f] for f in needed]
    if context == "item":
        feat_items, files = _write_item_audio(items_obj, index,
                                              L.abx_item_audio(out))
    act_dir = L.abx_activations(out, baseline)
    if baseline == "mfcc":
        from .baselines import extract_mfcc

        extract_mfcc(files, act_dir)
    else:
        from ..features import extract_stimuli

        extract_stimuli(model, files, act_dir, layers=layers, device=device,
                        window_s=window_s, stride_s=stride_s, model_id=model_id,
                        mode="window")
    return act_dir, feat_items


def _abx_layer(layer, base_key, cache_dir, feat_items, items_obj, trip, h5, task,
               model_name, *, on, by, across, distance, normalization, convention,
               context, batch_size):
    """One layer's deltas table and score row (cached under ``OUT/.cache``)."""
    key = params_hash({**base_key, "layer": layer})
    cached = L.abx_layer_cache(cache_dir, layer, key[:16], "tsv")
    score_file = L.abx_layer_cache(cache_dir, layer, key[:16], "json")
    if L.cached_files("abx", key, [cached, score_file]).fresh([cached, score_file]):
        from .._io import read_json

        table = pd.read_csv(cached, sep="\t", dtype={"triplet_id": str,
                                                     "tgt_item": str,
                                                     "oth_item": str,
                                                     "x_item": str, "by": str,
                                                     "on_tgt": str, "on_oth": str,
                                                     "across_ab": str,
                                                     "across_x": str},
                            keep_default_na=False)
        row = read_json(score_file)
    else:
        feats = item_features(
            feat_items,
            lambda f, layer=layer: read_activation_layer(h5[f], layer),
            layer=layer, whole_file=context == "item")
        score = score_abx(feats, items_obj, trip, on=on, by=by, across=across,
                          distance=distance, normalization=normalization,
                          layer=layer, batch_size=batch_size)
        table = score.deltas
        table.insert(0, "layer", layer)
        table.insert(0, "model", model_name)
        row = {"model": model_name, "layer": layer, "error": score.error,
               "accuracy": score.accuracy, "n_triplets": score.n_triplets,
               "distance": distance, "normalization": normalization,
               "convention": convention, "on": on, "by": "+".join(task["by"]),
               "across": across or "", "context": context}
        with atomic_path(cached) as tmp:
            table.to_csv(tmp, sep="\t", index=False)
        write_json(score_file, row)
    return table, row


def _write_abx_outputs(out: Path, rows, all_deltas, *, items, triplets, model, metas,
                       params, wanted, model_name, baseline, random_state):
    """``abx_deltas.tsv``, ``abx_scores.tsv`` and ``abx_provenance.json``."""
    scores = pd.DataFrame(rows)
    deltas = pd.concat(all_deltas, ignore_index=True)[list(DELTA_COLUMNS)]
    with atomic_path(L.abx_file(out, "deltas.tsv")) as tmp:
        deltas.to_csv(tmp, sep="\t", index=False)
    with atomic_path(L.abx_file(out, "scores.tsv")) as tmp:
        scores.to_csv(tmp, sep="\t", index=False)
    inputs = {"items": str(items)}
    if triplets is not None:
        inputs["triplets"] = str(triplets)
    if model is not None and not isinstance(model, (str, os.PathLike)):
        inputs["model"] = type(model).__name__
    elif model is not None:
        inputs["model"] = {"path": str(model)}
    inputs["activations"] = {f: m["provenance"].get("inputs", {}).get("audio")
                             for f, m in metas.items()}
    write_json(L.abx_file(out, "provenance.json"),
               make_provenance("abx", params={**params, "layers": wanted,
                                              "model_id": model_name,
                                              "baseline": baseline},
                               inputs=inputs, seed=random_state))
    return scores


@verbose
def run_abx_humans(
    humans: str | os.PathLike, out_dir: str | os.PathLike, *,
    deltas: str | os.PathLike | None = None, models: Sequence[str] | None = None,
    layers: Sequence[str] | None = None, n_boot: int = 100, per_triplet: int = 3,
    probit_stimuli: str | None = None, native: Sequence[tuple[str, str]] = (),
    random_state: int = 0, verbose: bool | int | str | None = None,
) -> pd.DataFrame:
    """Agreement of model deltas with human answers, written to ``out_dir``.

    Parameters
    ----------
    humans : path-like
        Per-trial human answers (see
        :func:`~brainscore_speech.behaviour.humans.read_humans`).
    out_dir : path-like
        Receives ``humans_summary.tsv`` (model, metric, value, boot_mean, ci_low,
        ci_high, n_boot), ``humans_bootstrap.tsv`` (every resample),
        ``humans_contrasts.tsv`` (mean answer and delta per phone contrast) and
        ``humans_provenance.json``; finished models are cached in ``.cache/``.
    deltas : path-like, optional
        An ``abx`` output folder (or its ``abx_deltas.tsv``): each (model, layer)
        becomes a column ``<model>:<layer>``, matched on ``triplet_id`` =
        ``filename``. Without it, ``models`` names delta columns of ``humans``.
    models : sequence of str, optional
        Delta columns to evaluate (default: every ``deltas`` layer).
    layers : sequence of str, optional
        Restrict the ``deltas`` layers.
    n_boot, per_triplet, probit_stimuli, native, random_state
        See :func:`~brainscore_speech.behaviour.humans.compare_humans`.
    verbose : bool, int, str or None

    Returns
    -------
    summary : DataFrame
    """
    from .humans import attach_deltas, compare_humans, contrast_means, read_humans

    out = Path(out_dir)
    if deltas is None and not models and not native:
        raise ValueError("Give 'deltas' (an abx output) or 'models' (delta columns "
                         "of the human table).")
    native_cols = [c for pair in native for c in pair]
    df = read_humans(humans, models=[*(models or []), *native_cols]
                     if deltas is None else ())
    if deltas is not None:
        table = load_abx_deltas(deltas)
        if layers:
            table = table[table["layer"].isin(list(layers))]
            if not len(table):
                raise DataError(f"None of the layers {list(layers)} is in {deltas}.")
        names = []
        for (model, layer), g in table.groupby(["model", "layer"], sort=False):
            name = f"{model}:{layer}"
            df = attach_deltas(df, g, name=name)
            names.append(name)
        models = [m for m in (models or names) if m in names] or names
    models = list(models or [])
    params = {"n_boot": n_boot, "per_triplet": per_triplet,
              "probit_stimuli": probit_stimuli, "random_state": random_state,
              "native": [list(p) for p in native]}
    cache = L.cache_dir(out)
    cache.mkdir(parents=True, exist_ok=True)
    for folder in (out, cache):  # temps a killed run left (it resumes here)
        remove_stale_temps(folder)
    summaries, boots = [], []
    for model in progress(models, desc="humans", unit="model"):
        key = params_hash({**params, "model": model,
                           "data": pd.util.hash_pandas_object(
                               df[["filename", "individual", "binarized_answer",
                                   model]], index=False).sum().item()})[:16]
        s_path = L.humans_model_cache(cache, key, "summary")
        b_path = L.humans_model_cache(cache, key, "boot")
        if L.cached_files("abx-humans", key, [s_path, b_path]).fresh([s_path, b_path]):
            summary = pd.read_csv(s_path, sep="\t")
            boot = pd.read_csv(b_path, sep="\t")
        else:
            summary, boot = compare_humans(df, [model], n_boot=n_boot,
                                           per_triplet=per_triplet,
                                           probit_stimuli=probit_stimuli,
                                           random_state=random_state)
            with atomic_path(b_path) as tmp:
                boot.to_csv(tmp, sep="\t", index=False)
            with atomic_path(s_path) as tmp:
                summary.to_csv(tmp, sep="\t", index=False)
        summaries.append(summary)
        boots.append(boot)
    if native:
        summary, boot = compare_humans(df, [], n_boot=n_boot, per_triplet=per_triplet,
                                       native=native, random_state=random_state)
        summaries.append(summary)
        boots.append(boot)
    summary = pd.concat(summaries, ignore_index=True)
    with atomic_path(L.humans_file(out, "summary.tsv")) as tmp:
        summary.to_csv(tmp, sep="\t", index=False)
    with atomic_path(L.humans_file(out, "bootstrap.tsv")) as tmp:
        pd.concat(boots, ignore_index=True).to_csv(tmp, sep="\t", index=False)
    with atomic_path(L.humans_file(out, "contrasts.tsv")) as tmp:
        contrast_means(df, models).to_csv(tmp, sep="\t", index=False)
    inputs = {"humans": str(humans)}
    if deltas is not None:
        inputs["deltas"] = str(Path(deltas) / "abx_deltas.tsv"
                               if Path(deltas).is_dir() else deltas)
    write_json(L.humans_file(out, "provenance.json"),
               make_provenance("abx-humans", params={**params, "models": models},
                               inputs=inputs, seed=random_state))
    return summary
