"""One home for file names and on-disk formats (BIDS-derivatives style).

Every file the toolkit writes gets its name from a builder here (entities in,
path out), and the GIFTI / TSV writers live here so that one format has one
writer. :func:`cached` is the resume helper of the jobs' finished-step records.

Names follow BIDS: ``key-value`` entities joined by ``_`` in a fixed order, then a
suffix and an extension (``sub-01_task-listen_space-fsaverage5_hemi-L_model-x_
layer-transf0_stat-r_statmap.func.gii``). Entity values are alphanumeric
(:func:`safe_entity`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._io import atomic_path, params_hash, read_json, to_jsonable, write_json

__all__ = [
    "safe_entity", "bids_name",
    # score
    "score_prefix", "score_layerscores", "score_table", "score_provenance",
    "score_checksums", "score_map", "score_maps", "score_layer_cache",
    "derivatives_description",
    # group
    "GROUP_PROVENANCE", "GROUP_CHECKSUMS", "GROUP_SUMMARY", "group_file",
    "group_hierarchymap", "group_brainscore", "group_brainscore_cluster",
    "group_contrast", "group_bestregime", "group_bydepth", "group_layerprofile",
    "group_roiprofile", "group_roibestlayer", "group_roiorder", "group_statmap",
    "group_mask", "group_models",
    # activations, simulate, figures, abx, demo
    "activation_file", "activation_index", "activation_checksums",
    "study_part", "fmriprep_dir", "bids_func", "stimuli_dir",
    "sim_stimulus", "bids_participants", "sim_bold", "sim_bold_sidecar",
    "sim_confounds", "sim_events", "sim_raw_sidecar",
    "sim_truth", "sim_truth_map", "sim_truth_json",
    "figure_file", "figure_view", "report_file", "abx_file", "humans_file",
    "abx_layer_cache", "humans_model_cache", "stage_marker",
    # checkpoints, targets, corpora, items, demo
    "CHECKPOINT_META", "HF_CONFIG", "HF_WEIGHTS", "HF_PREPROCESSOR",
    "CHECKPOINT_MODEL_FILES", "CHECKPOINT_ENTRIES", "checkpoint_meta",
    "checkpoint_model_file", "checkpoint_weights", "checkpoint_metrics",
    "checkpoint_state", "checkpoint_best", "checkpoint_sibling", "targets_file",
    "corpus_audio", "corpus_clip", "corpus_description", "corpus_manifest",
    "abx_items", "abx_item_audio", "cache_dir", "abx_activations", "DEMO_PARTS",
    "demo_part", "demo_file",
    # writers and caching
    "cached_files", "container_sidecar", "write_activation_attrs",
    "add_activation_layer",
    "write_gifti", "write_tsv", "Cached", "cached",
]


# ---------------------------------------------------------------------- names
def safe_entity(value: Any) -> str:
    """BIDS entity values are alphanumeric: drop everything else (``"x"`` if empty)."""
    return "".join(ch for ch in str(value) if ch.isalnum()) or "x"


def bids_name(entities: Sequence[tuple[str, Any]], suffix: str | None,
              ext: str) -> str:
    """``key-value`` entities (None values dropped), then ``_suffix`` and ``.ext``.

    Values are used as given (call :func:`safe_entity` where a value may hold
    other characters).
    """
    parts = [f"{k}-{v}" for k, v in entities if v is not None]
    if suffix:
        parts.append(suffix)
    return "_".join(parts) + (f".{ext}" if ext else "")


# ---------------------------------------------------------------------- score
def score_prefix(subject: str, task: str | None, space: str) -> str:
    """``sub-<S>[_task-<T>]_space-<space>`` (the model is added per file)."""
    return bids_name([("sub", subject), ("task", task or None), ("space", space)],
                     None, "")


def _score_base(subject: str, task: str | None, space: str, model: str,
                hemi: str | None = None) -> str:
    h = f"_hemi-{hemi}" if hemi else ""
    return f"{score_prefix(subject, task, space)}{h}_model-{safe_entity(model)}"


def _sub_dir(out: str | os.PathLike, subject: str) -> Path:
    return Path(out) / f"sub-{subject}"


def score_layerscores(out, subject: str, task: str | None, space: str,
                      model: str) -> Path:
    """``OUT/sub-<S>/<prefix>_model-<M>_layerscores.npz`` (:class:`LayerScores`)."""
    return _sub_dir(out, subject) / \
        f"{_score_base(subject, task, space, model)}_layerscores.npz"


def score_table(out, subject: str, task: str | None, space: str, model: str) -> Path:
    """``OUT/sub-<S>/<prefix>_model-<M>_scores.tsv``."""
    return _sub_dir(out, subject) / \
        f"{_score_base(subject, task, space, model)}_scores.tsv"


def score_provenance(out, subject: str, task: str | None, space: str,
                     model: str) -> Path:
    """``OUT/sub-<S>/<prefix>_model-<M>_provenance.json`` (the job's manifest)."""
    return _sub_dir(out, subject) / \
        f"{_score_base(subject, task, space, model)}_provenance.json"


def score_checksums(out, subject: str, task: str | None, space: str,
                    model: str) -> Path:
    """``OUT/sub-<S>/<prefix>_model-<M>_checksums.json`` (``verify``'s record)."""
    return _sub_dir(out, subject) / \
        f"{_score_base(subject, task, space, model)}_checksums.json"


def score_map(out, subject: str, task: str | None, space: str, model: str,
              layer: str | None, hemi: str | None) -> Path:
    """A per-layer r map (``layer``) or the best-layer map (``layer=None``).

    ``..._hemi-<H>_model-<M>_layer-<L>_stat-r_statmap.func.gii`` on surfaces
    (``hemi`` given), ``..._model-<M>_desc-hierarchy_statmap.nii.gz`` in volumes.
    """
    ext = "func.gii" if hemi else "nii.gz"
    base = _score_base(subject, task, space, model, hemi)
    tail = ("desc-hierarchy_statmap" if layer is None
            else f"layer-{safe_entity(layer)}_stat-r_statmap")
    return _sub_dir(out, subject) / f"{base}_{tail}.{ext}"


def score_maps(out, subject: str, task: str | None, space: str, model: str,
               layers: Sequence[str], hemis: Sequence[str] | None
               ) -> dict[str, Path]:
    """``{"<layer>/<hemi>": path, ..., "hierarchy/<hemi>": path}`` (hemi ``all``
    for volumes), in the order the score job writes them."""
    maps = {}
    for name in [*layers, "hierarchy"]:
        for hemi in (hemis or [None]):
            maps[f"{name}/{hemi or 'all'}"] = score_map(
                out, subject, task, space, model,
                None if name == "hierarchy" else name, hemi)
    return maps


def score_layer_cache(out, subject: str, task: str | None, space: str, model: str,
                      layer: str, key: str) -> Path:
    """``OUT/sub-<S>/.cache/<prefix>_model-<M>_layer-<L>_key-<K>.npz``."""
    return cache_dir(_sub_dir(out, subject)) / (
        f"{_score_base(subject, task, space, model)}_layer-{safe_entity(layer)}"
        f"_key-{key}.npz")


def derivatives_description(out) -> Path:
    """``OUT/dataset_description.json`` of a (derivatives) dataset folder."""
    return Path(out) / "dataset_description.json"


# ---------------------------------------------------------------------- group
GROUP_PROVENANCE = "group_provenance.json"
GROUP_CHECKSUMS = "group_checksums.json"
GROUP_SUMMARY = "group_summary.tsv"


def group_file(out, name: str) -> Path:
    """``OUT/<name>`` for the fixed group names (:data:`GROUP_PROVENANCE`, ...)."""
    return Path(out) / name


def group_hierarchymap(out, model: str) -> Path:
    """``OUT/model-<M>_hierarchymap.npz`` (:class:`HierarchyMap`)."""
    return Path(out) / f"model-{model}_hierarchymap.npz"


def group_brainscore(out, model: str) -> Path:
    """``OUT/model-<M>_desc-brainscore_groupmap.npz`` (:class:`GroupMap`)."""
    return Path(out) / f"model-{model}_desc-brainscore_groupmap.npz"


def group_brainscore_cluster(out, model: str) -> Path:
    """``OUT/model-<M>_desc-brainscorecluster_groupmap.npz``."""
    return Path(out) / f"model-{model}_desc-brainscorecluster_groupmap.npz"


def group_contrast(out, name: str) -> Path:
    """``OUT/contrast-<name>_groupmap.npz``."""
    return Path(out) / f"contrast-{name}_groupmap.npz"


def group_bestregime(out) -> Path:
    """``OUT/desc-bestregime_groupmap.npz``."""
    return Path(out) / "desc-bestregime_groupmap.npz"


def group_bydepth(out) -> Path:
    """``OUT/model-bydepth_hierarchymap.npz`` (``--layer-axis depth``)."""
    return Path(out) / "model-bydepth_hierarchymap.npz"


def group_layerprofile(out, model: str) -> Path:
    """``OUT/model-<M>_layerprofile.tsv``."""
    return Path(out) / f"model-{model}_layerprofile.tsv"


def group_roiprofile(out, model: str) -> Path:
    """``OUT/model-<M>_roiprofile.tsv``."""
    return Path(out) / f"model-{model}_roiprofile.tsv"


def group_roibestlayer(out, model: str) -> Path:
    """``OUT/model-<M>_roibestlayer.tsv``."""
    return Path(out) / f"model-{model}_roibestlayer.tsv"


def group_roiorder(out, model: str) -> Path:
    """``OUT/model-<M>_roiorder.json``."""
    return Path(out) / f"model-{model}_roiorder.json"


def group_statmap(out, space: str, stem: str, hemi: str | None = None) -> Path:
    """``OUT/space-<S>_hemi-<H>_<stem>_statmap.func.gii`` (surface, ``hemi`` given)
    or ``OUT/space-<S>_<stem>_statmap.nii.gz`` (volume).

    ``stem`` is the map's own entities: ``model-<M>_desc-brainscore``,
    ``contrast-<name>``, ``desc-bestregime``, ...
    """
    if hemi:
        return Path(out) / f"space-{space}_hemi-{hemi}_{stem}_statmap.func.gii"
    return Path(out) / f"space-{space}_{stem}_statmap.nii.gz"


def group_mask(out, space: str) -> Path:
    """``OUT/space-<S>_desc-brain_mask.nii.gz`` (volume groups' common mask)."""
    return Path(out) / f"space-{space}_desc-brain_mask.nii.gz"


_GROUP_KINDS = {"hierarchy": ("model-", "_hierarchymap.npz"),
                "brainscore": ("model-", "_desc-brainscore_groupmap.npz"),
                "contrasts": ("contrast-", "_groupmap.npz")}


def group_models(out, kind: str) -> dict[str, Path]:
    """The group files of one kind in ``out``: ``{model or contrast name: path}``.

    ``kind`` is ``"hierarchy"`` (:func:`group_hierarchymap`), ``"brainscore"``
    (:func:`group_brainscore`) or ``"contrasts"`` (:func:`group_contrast`).
    """
    head, tail = _GROUP_KINDS[kind]
    return {p.name[len(head):-len(tail)]: p
            for p in sorted(Path(out).glob(f"{head}*{tail}"))}


# ---------------------------------------------------------------- activations
def activation_file(act_dir, stimulus: str) -> Path:
    """``ACT/<stimulus>.h5`` (:class:`StimulusActivations`)."""
    return Path(act_dir) / f"{stimulus}.h5"


def activation_index(act_dir) -> Path:
    """``ACT/activations.json`` (index of stimuli and model)."""
    return Path(act_dir) / "activations.json"


def activation_checksums(act_dir) -> Path:
    """``ACT/activations_checksums.json``."""
    return Path(act_dir) / "activations_checksums.json"


# ------------------------------------------------------------------- simulate
def _run_base(subject: str, task: str, run: Any) -> str:
    return f"sub-{subject}_task-{task}_run-{run}"


def sim_bold(deriv_func, subject: str, task: str, run: Any, space: str,
             hemi: str) -> Path:
    """fMRIPrep surface BOLD ``..._run-<r>_space-<S>_hemi-<H>_bold.func.gii``."""
    return Path(deriv_func) / f"{_run_base(subject, task, run)}_space-{space}" \
                              f"_hemi-{hemi}_bold.func.gii"


def sim_bold_sidecar(deriv_func, subject: str, task: str, run: Any, space: str,
                     hemi: str) -> Path:
    """fMRIPrep's sidecar of :func:`sim_bold` (``..._bold.json``)."""
    return Path(deriv_func) / f"{_run_base(subject, task, run)}_space-{space}" \
                              f"_hemi-{hemi}_bold.json"


def sim_confounds(deriv_func, subject: str, task: str, run: Any, ext: str) -> Path:
    """``..._run-<r>_desc-confounds_timeseries.{tsv,json}``."""
    return Path(deriv_func) / \
        f"{_run_base(subject, task, run)}_desc-confounds_timeseries.{ext}"


def sim_events(func, subject: str, task: str, run: Any) -> Path:
    """Raw BIDS ``..._run-<r>_events.tsv``."""
    return Path(func) / f"{_run_base(subject, task, run)}_events.tsv"


def sim_raw_sidecar(func, subject: str, task: str, run: Any) -> Path:
    """Raw BIDS ``..._run-<r>_bold.json``."""
    return Path(func) / f"{_run_base(subject, task, run)}_bold.json"


def study_part(study, part: str, name: str | None = None) -> Path:
    """A simulated study's ``STUDY/bids``, ``STUDY/truth`` or
    ``STUDY/activations/<name>`` (the planted features of model ``name``)."""
    if part not in ("bids", "truth", "activations"):
        raise ValueError(f"part must be 'bids', 'truth' or 'activations'; got {part!r}")
    if (part == "activations") != (name is not None):
        raise ValueError("a model name is needed for 'activations' and only there")
    folder = Path(study) / part
    return folder if name is None else folder / name


def fmriprep_dir(bids) -> Path:
    """``BIDS/derivatives/fmriprep/`` (where ``score`` looks for BOLD by default)."""
    return Path(bids) / "derivatives" / "fmriprep"


def bids_func(root, subject: str) -> Path:
    """``ROOT/sub-<S>/func/`` (raw BIDS or fMRIPrep derivatives)."""
    return Path(root) / f"sub-{subject}" / "func"


def stimuli_dir(bids) -> Path:
    """``BIDS/stimuli/``."""
    return Path(bids) / "stimuli"


def sim_stimulus(bids, name: str) -> Path:
    """``BIDS/stimuli/<name>.wav``."""
    return stimuli_dir(bids) / f"{name}.wav"


def bids_participants(bids) -> Path:
    """``BIDS/participants.tsv``."""
    return Path(bids) / "participants.tsv"


def sim_truth(truth_dir, subject: str) -> Path:
    """``TRUTH/sub-<S>_truth.npz``."""
    return Path(truth_dir) / f"sub-{subject}_truth.npz"


def sim_truth_json(truth_dir) -> Path:
    """``TRUTH/truth.json``."""
    return Path(truth_dir) / "truth.json"


def sim_truth_map(truth_dir, hemi: str, desc: str) -> Path:
    """``TRUTH/truth_hemi-<H>_desc-<D>.func.gii``."""
    return Path(truth_dir) / f"truth_hemi-{hemi}_desc-{desc}.func.gii"


# -------------------------------------------------------- figures, abx, demo
def figure_file(out, stem: str) -> Path:
    """``FIGS/<stem>.png`` (``model-<M>_desc-brainscore``, ``contrast-<name>``...)."""
    return Path(out) / f"{stem}.png"


def figure_view(out, stem: str) -> Path:
    """``FIGS/<stem>_view.html`` (interactive offline surface view)."""
    return Path(out) / f"{stem}_view.html"


def report_file(out, name: str = "report.html") -> Path:
    """``OUT/report.html``."""
    return Path(out) / name


def abx_file(out, name: str) -> Path:
    """``OUT/abx_<name>`` (``scores.tsv``, ``deltas.tsv``, ``profile.png``,
    ``provenance.json``)."""
    return Path(out) / f"abx_{name}"


def humans_file(out, name: str) -> Path:
    """``OUT/humans_<name>`` (``summary.tsv``, ``bootstrap.tsv``, ``contrasts.tsv``,
    ``provenance.json``, ``agreement.png``)."""
    return Path(out) / f"humans_{name}"


def abx_layer_cache(cache_dir, layer: str, key: str, ext: str) -> Path:
    """``OUT/.cache/abx-<layer>-<key>.<ext>`` (one finished ABX layer)."""
    return Path(cache_dir) / f"abx-{layer}-{key}.{ext}"


def humans_model_cache(cache_dir, key: str, part: str) -> Path:
    """``OUT/.cache/<key>-<part>.tsv`` (one finished model of ``abx-humans``)."""
    return Path(cache_dir) / f"{key}-{part}.tsv"


def stage_marker(folder, stage: str | None = None) -> Path:
    """A finished-stage record: ``FOLDER/.done.json`` or ``FOLDER/.<stage>.done.json``.
    """
    return Path(folder) / (f".{stage}.done.json" if stage else ".done.json")


def container_sidecar(npz_path) -> Path:
    """The JSON sidecar beside a container's ``.npz`` (same stem, ``.json``)."""
    return Path(npz_path).with_suffix(".json")


# ------------------------------------------------- checkpoints and targets
#: The toolkit's record in a checkpoint folder (regime, config, provenance).
CHECKPOINT_META = "brainscore_speech.json"
#: The Hugging Face files of a checkpoint (names fixed by ``save_pretrained``).
HF_CONFIG = "config.json"
HF_WEIGHTS = "model.safetensors"
HF_PREPROCESSOR = "preprocessor_config.json"
CHECKPOINT_MODEL_FILES = (HF_CONFIG, HF_WEIGHTS, HF_PREPROCESSOR)
_STATE_DIR, _STATE_FILE = "train_state", "state.pt"
_METRICS, _BEST = "metrics.jsonl", "best"
#: Every entry a checkpoint folder may hold (files and folders).
CHECKPOINT_ENTRIES = frozenset({CHECKPOINT_META, *CHECKPOINT_MODEL_FILES,
                                _STATE_DIR, _METRICS, _BEST})


def checkpoint_meta(ckpt) -> Path:
    """``CKPT/brainscore_speech.json``."""
    return Path(ckpt) / CHECKPOINT_META


def checkpoint_model_file(ckpt, name: str) -> Path:
    """``CKPT/<name>``, one of :data:`CHECKPOINT_MODEL_FILES`."""
    if name not in CHECKPOINT_MODEL_FILES:
        raise ValueError(f"name must be one of {CHECKPOINT_MODEL_FILES}; got {name!r}")
    return Path(ckpt) / name


def checkpoint_weights(ckpt) -> Path:
    """``CKPT/model.safetensors``."""
    return Path(ckpt) / HF_WEIGHTS


def checkpoint_metrics(ckpt) -> Path:
    """``CKPT/metrics.jsonl`` (one JSON record per logged update)."""
    return Path(ckpt) / _METRICS


def checkpoint_state(ckpt) -> Path:
    """``CKPT/train_state/state.pt`` (optimiser, scheduler, RNG and data order)."""
    return Path(ckpt) / _STATE_DIR / _STATE_FILE


def checkpoint_best(ckpt) -> Path:
    """``CKPT/best/``: the best-validation weights (hard links, same file names)."""
    return Path(ckpt) / _BEST


def checkpoint_sibling(ckpt, tag: str) -> Path:
    """``PARENT/.<name>.<tag>``: a checkpoint's temp or swapped-out folder."""
    ckpt = Path(ckpt)
    return ckpt.parent / f".{ckpt.name}.{tag}"


def targets_file(folder, part: str) -> Path:
    """``TARGETS/targets.json``, ``labels.npz`` or ``kmeans.npz`` (HuBERT targets)."""
    names = {"meta": "targets.json", "labels": "labels.npz", "kmeans": "kmeans.npz"}
    if part not in names:
        raise ValueError(f"part must be one of {sorted(names)}; got {part!r}")
    return Path(folder) / names[part]


# ------------------------------------------------------ corpora and ABX items
def corpus_audio(folder, stem: str | None = None) -> Path:
    """``FOLDER/audio/`` or ``FOLDER/audio/<stem>.wav`` (a synthesised corpus or
    ABX item set)."""
    audio = Path(folder) / "audio"
    return audio if stem is None else audio / f"{stem}.wav"


def corpus_clip(audio_dir, prefix: str, index: int) -> Path:
    """``AUDIO/<prefix>_<index:05d>.wav`` (``en_00000.wav``, ``sound_00003.wav``)."""
    return Path(audio_dir) / f"{prefix}_{int(index):05d}.wav"


def corpus_description(audio_dir, prefix: str) -> Path:
    """``AUDIO/<prefix>_corpus.json`` (a synthesised corpus' parameters and clips)."""
    return Path(audio_dir) / f"{prefix}_corpus.json"


def corpus_manifest(folder) -> Path:
    """``CORPUS/manifest.tsv`` (the training manifest of a corpus folder)."""
    return Path(folder) / "manifest.tsv"


def abx_items(folder) -> Path:
    """``ITEMS/items.item`` (ZeroSpeech item file of a synthesised ABX set)."""
    return Path(folder) / "items.item"


def abx_item_audio(out) -> Path:
    """``OUT/item_audio/``: each item cut out of its file (``abx --context item``)."""
    return Path(out) / "item_audio"


def cache_dir(folder) -> Path:
    """``FOLDER/.cache/``: the finished pieces of a resumable job."""
    return Path(folder) / ".cache"


def abx_activations(out, baseline: str | None = None) -> Path:
    """``OUT/activations/`` (a model's) or ``OUT/activations_<baseline>/``."""
    name = "activations" if baseline is None else f"activations_{baseline}"
    return Path(out) / name


# ----------------------------------------------------------------------- demo
#: The demo's top-level folders, one per stage.
DEMO_PARTS = ("corpora", "targets", "models", "study", "activations", "derivatives",
              "group", "figures", "behaviour")


def demo_part(out, part: str, name: str | None = None) -> Path:
    """``OUT/<part>/`` or ``OUT/<part>/<name>`` of a demo (:data:`DEMO_PARTS`)."""
    if part not in DEMO_PARTS:
        raise ValueError(f"part must be one of {DEMO_PARTS}; got {part!r}")
    folder = Path(out) / part
    return folder if name is None else folder / name


def demo_file(out, name: str) -> Path:
    """``OUT/demo_<name>.json`` (``config``, ``timings``)."""
    if name not in ("config", "timings"):
        raise ValueError(f"name must be 'config' or 'timings'; got {name!r}")
    return Path(out) / f"demo_{name}.json"


# -------------------------------------------------------------------- writers
def write_activation_attrs(h5, *, stimulus: str, model_id: str,
                           layer_order: Sequence[str], duration_s: float,
                           model_meta: Mapping[str, Any], provenance: Mapping[str, Any],
                           layer_info: Mapping[str, Any] | None) -> None:
    """The attributes of an activation HDF5 file (``ACT/<stimulus>.h5``).

    The one definition of the layout that :meth:`StimulusActivations.save` and
    ``extract`` (which streams frames in) write: attributes ``stimulus``,
    ``model_id``, ``layer_order`` (JSON), ``duration_s``, ``model_meta``,
    ``provenance`` and (when given) ``layer_info`` (JSON), then one group per layer
    under ``layers/`` (:func:`add_activation_layer`).
    """
    h5.attrs["stimulus"] = stimulus
    h5.attrs["model_id"] = model_id
    h5.attrs["layer_order"] = json.dumps(list(layer_order))
    h5.attrs["duration_s"] = duration_s
    h5.attrs["model_meta"] = json.dumps(to_jsonable(model_meta))
    h5.attrs["provenance"] = json.dumps(to_jsonable(provenance))
    if layer_info is not None:
        h5.attrs["layer_info"] = json.dumps(to_jsonable(layer_info))


def add_activation_layer(layers_group, name: str, times: np.ndarray, *,
                         data: np.ndarray | None = None,
                         shape: tuple[int, int] | None = None, dtype: str = "float32"):
    """``layers/<name>/data`` (frames x units; given, or empty of ``shape`` to be
    filled) and ``layers/<name>/times`` (float64 s). Returns the data dataset."""
    g = layers_group.create_group(name)
    if data is not None:
        ds = g.create_dataset("data", data=np.asarray(data, dtype=dtype))
    else:
        ds = g.create_dataset("data", shape=shape, dtype=dtype)
    g.create_dataset("times", data=np.asarray(times, dtype="float64"))
    return ds


def write_gifti(path: str | os.PathLike, data: np.ndarray, *,
                intent: str = "NIFTI_INTENT_NONE",
                array_meta: Mapping[str, str] | None = None,
                image_meta: Mapping[str, str] | None = None) -> Path:
    """Write a GIFTI file (atomically): one float32 data array per row of ``data``.

    Parameters
    ----------
    path : path
    data : array of shape (n_vertices,) or (n_arrays, n_vertices)
        A 1-D array is written as one data array.
    intent : str, default="NIFTI_INTENT_NONE"
    array_meta, image_meta : dict, optional
        Metadata of every data array / of the image.

    Returns
    -------
    Path
    """
    import nibabel as nib

    rows = np.asarray(data)
    rows = rows[None, :] if rows.ndim == 1 else rows
    kw = {} if array_meta is None else {"meta": dict(array_meta)}
    darrays = [nib.gifti.GiftiDataArray(np.ascontiguousarray(row, dtype=np.float32),
                                        intent=intent, datatype="NIFTI_TYPE_FLOAT32",
                                        **kw)
               for row in rows]
    img_kw = {} if image_meta is None else {
        "meta": nib.gifti.GiftiMetaData(dict(image_meta))}
    img = nib.gifti.GiftiImage(darrays=darrays, **img_kw)
    path = Path(path)
    with atomic_path(path) as tmp:
        nib.save(img, str(tmp))
    return path


def write_tsv(path: str | os.PathLike, table: Any, *,
              float_format: str | None = None) -> Path:
    """Write a table (DataFrame or dict of columns) as BIDS TSV (``n/a``), atomically.
    """
    import pandas as pd

    df = table if isinstance(table, pd.DataFrame) else pd.DataFrame(table)
    path = Path(path)
    kw = {} if float_format is None else {"float_format": float_format}
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=False, na_rep="n/a", **kw)
    return path


# -------------------------------------------------------------------- caching
@dataclass(frozen=True)
class Cached:
    """A step's finished-work record: key of (step, params, inputs) and its file.

    ``fresh(outputs)`` says whether the record exists, holds this key and every
    output exists (then the step is skipped); ``record(content)`` writes it
    (atomically) once the outputs are in place. A corrupt record counts as absent
    (the step is redone), or, with ``strict``, raises the one-line ``DataError``.
    """

    step: str
    key: str | None
    path: Path
    key_field: str = "params_hash"
    strict: bool = False
    reader: Callable[[Path], dict] | None = None

    def read(self) -> dict | None:
        """The record (None when absent or, unless ``strict``, unreadable)."""
        if not self.path.is_file():
            return None
        try:
            rec = (self.reader or read_json)(self.path)
        except Exception:  # a corrupt record means: redo the step
            if self.strict:
                raise
            return None
        return rec if isinstance(rec, dict) else None

    def fresh(self, outputs: Sequence[str | os.PathLike] = ()) -> bool:
        if self.key is None:  # the inputs cannot be identified: always redo
            return False
        rec = self.read()
        return (rec is not None and rec.get(self.key_field) == self.key
                and all(Path(p).is_file() for p in outputs))

    def record(self, content: Mapping[str, Any]) -> Path:
        """Write ``content`` with the key (under ``key_field``) as the record."""
        write_json(self.path, {self.key_field: self.key, **content})
        return self.path


def cached(step: str, params: Any, inputs: Any = None, *,
           record: str | os.PathLike, key_field: str = "params_hash",
           strict: bool = False, reader: Callable[[Path], dict] | None = None,
           key: str | None | bool = False) -> Cached:
    """The resume record of ``step`` at ``record`` for these params and inputs.

    The key is :func:`~brainscore_speech._io.params_hash` of ``params`` (and of
    ``{"params": params, "inputs": inputs}`` when ``inputs`` is given, e.g. input
    file hashes), so a changed parameter or input re-runs the step. ``key=None``
    (inputs that cannot be identified, e.g. an in-memory model) never skips.
    ``reader`` reads the record from a file that is not a JSON record (e.g. the
    provenance inside an output HDF5); ``strict`` raises on an unreadable record.

    Examples
    --------
    >>> c = cached("figures", {"dpi": 300}, record=out / ".done.json")
    >>> if not c.fresh():
    ...     make_figures(...)
    ...     c.record({"params": {"dpi": 300}})
    """
    if key is False:
        key = params_hash(params if inputs is None else {"params": params,
                                                         "inputs": inputs})
    return Cached(step=step, key=key, path=Path(record), key_field=key_field,
                  strict=strict, reader=reader)


def cached_files(step: str, key: str, paths: Sequence[str | os.PathLike]) -> Cached:
    """A content-addressed result: ``key`` is part of the files' names (e.g.
    :func:`abx_layer_cache`), so the step is fresh when every file exists.

    Use as ``c = cached_files(step, key, paths); if c.fresh(paths): ...``.
    """
    paths = [Path(p) for p in paths]
    return Cached(step=step, key=key, path=paths[0], key_field="key",
                  reader=lambda _path: {"key": key})
