"""Hidden-unit targets for HuBERT / WavLM pretraining (fairseq ``examples/hubert``).

Iteration 1 clusters MFCC features, iteration 2 clusters a transformer layer of the
iteration-1 model (METHODS §15). Both use one scikit-learn ``MiniBatchKMeans``
fitted on (a fraction of) the training utterances and applied unchanged to the
validation utterances (a separate validation codebook makes validation loss
meaningless, fairseq#5453).

Frame geometry. Every label belongs to one model frame: frame ``i`` of an utterance
covers samples ``[320 i, 320 i + 400)`` at 16 kHz, the receptive field of the conv
feature encoder (hop 20 ms, window 25 ms), so the label rate is the model's 50 Hz
frame rate and ``n_frames = (n_samples - 400) // 320 + 1``. The reference recipe
computes MFCC at 100 Hz with ``label_rate=100`` and lets the model take every
second label; computing the MFCC directly on the 50 Hz grid gives the labels of the
model's own frames (no half-frame offset, no rate mismatch, fairseq#5097).

MFCC (:func:`compute_mfcc`): Kaldi's recipe as in ``torchaudio.compliance.kaldi.mfcc``
with the defaults the reference uses (``use_energy=False``): DC removal, pre-emphasis
0.97, Povey window, 512-point FFT, 23 triangular mel bins on Kaldi's mel scale
(20 Hz to Nyquist), log, orthonormal DCT-II, 13 coefficients, cepstral lifter 22;
then ``compute_deltas`` (window 5) twice: 39 dimensions.

On-disk layout of a targets directory (``TARGETS/``)::

    targets.json    kind (mfcc | layer), iteration, label_rate, n_clusters,
                    feature_dim, feature spec, k-means settings, utterances
                    (path, n_samples, n_frames, split), codebook usage, provenance
    labels.npz      labels (int16, all utterances concatenated), offsets
    kmeans.npz      cluster_centers (n_clusters, feature_dim), feature_dim, kind
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import layout
from .._io import (
    atomic_path,
    file_hash,
    make_provenance,
    read_json,
    remove_stale_temps,
    write_json,
)
from .._logging import logger, progress, verbose
from .._validation import check_random_state
from ..data.audio import TARGET_SFREQ, load_audio
from ..exceptions import DataError

__all__ = [
    "FRAME_HOP", "FRAME_LENGTH", "LABEL_RATE", "KMEANS_DEFAULTS", "Targets",
    "build_targets", "codebook_usage", "compute_deltas", "compute_mfcc",
    "fit_kmeans", "frame_count", "layer_features", "load_targets", "pnmi",
    "predict_units",
]

FRAME_HOP = 320  # samples at 16 kHz (20 ms): the conv encoder's total stride
FRAME_LENGTH = 400  # samples (25 ms): its receptive field
LABEL_RATE = TARGET_SFREQ / FRAME_HOP  # 50.0 Hz

#: ``MiniBatchKMeans`` settings of fairseq ``learn_kmeans.py`` (METHODS §15), every
#: one spelled out: scikit-learn's own defaults differ (``n_init="auto"``,
#: ``reassignment_ratio=0.01``, ``max_no_improvement=10``, ``batch_size=1024``).
KMEANS_DEFAULTS: dict[str, Any] = {
    "init": "k-means++", "n_init": 20, "max_iter": 100, "batch_size": 10000,
    "tol": 0.0, "max_no_improvement": 100, "reassignment_ratio": 0.0,
    "init_size": None, "compute_labels": False,
}


def frame_count(n_samples: int) -> int:
    """Model frames (= labels) of ``n_samples`` of 16 kHz audio (0 if too short)."""
    return max(0, (int(n_samples) - FRAME_LENGTH) // FRAME_HOP + 1)


# ----------------------------------------------------------------------- MFCC
def _mel(f):
    return 1127.0 * np.log(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def _mel_banks(n_mels: int, n_fft: int, sfreq: float, low: float, high: float
               ) -> np.ndarray:
    """Kaldi triangular mel filters, shape (n_mels, n_fft // 2 + 1)."""
    n_bins = n_fft // 2
    freqs = np.arange(n_bins) * sfreq / n_fft
    mel = _mel(freqs)
    edges = np.linspace(_mel(low), _mel(high), n_mels + 2)
    left, centre, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (mel[None] - left) / (centre - left)
    down = (right - mel[None]) / (right - centre)
    banks = np.maximum(0.0, np.minimum(up, down))
    return np.concatenate([banks, np.zeros((n_mels, 1))], axis=1)  # Nyquist bin: 0


def compute_deltas(features: np.ndarray, *, win_length: int = 5) -> np.ndarray:
    """Regression deltas over time (``torchaudio.functional.compute_deltas``).

    Parameters
    ----------
    features : ndarray of shape (n_frames, n_dims)
    win_length : int, default=5
        Odd window; ``d_t = sum_k k (c_{t+k} - c_{t-k}) / (2 sum_k k^2)`` with the
        edges replicated.

    Returns
    -------
    ndarray of shape (n_frames, n_dims)
    """
    n = (win_length - 1) // 2
    padded = np.pad(features, ((n, n), (0, 0)), mode="edge")
    t = len(features)
    out = np.zeros_like(features, dtype=np.float64)
    for k in range(1, n + 1):
        out += k * (padded[n + k: n + k + t] - padded[n - k: n - k + t])
    return out / (2.0 * sum(k * k for k in range(1, n + 1)))


def compute_mfcc(wav: np.ndarray, *, sfreq: int = TARGET_SFREQ, n_mfcc: int = 13,
                 n_mels: int = 23, lifter: float = 22.0, preemphasis: float = 0.97,
                 low_hz: float = 20.0, deltas: bool = True) -> np.ndarray:
    """MFCC (+ delta + delta-delta) on the model's 50 Hz frame grid.

    Parameters
    ----------
    wav : ndarray of shape (n_samples,)
        Mono waveform at ``sfreq`` (float, as read by soundfile: [-1, 1]).
    sfreq : int, default=16000
        Only 16 kHz is supported (the frame grid is the model's).
    n_mfcc, n_mels : int
        Cepstral coefficients kept (13) and mel bins (23, Kaldi).
    lifter, preemphasis, low_hz : float
        Kaldi ``cepstral_lifter``, ``preemphasis_coefficient``, ``low_freq``.
    deltas : bool, default=True
        Append delta and delta-delta (39 dimensions).

    Returns
    -------
    ndarray of shape (n_frames, 39) (or (n_frames, 13)), float32
        ``n_frames = frame_count(n_samples)``: frame ``i`` covers samples
        ``[320 i, 320 i + 400)``.
    """
    if sfreq != TARGET_SFREQ:
        raise ValueError(f"'sfreq' must be {TARGET_SFREQ} Hz (the model's frame grid), "
                         f"got {sfreq}.")
    wav = np.asarray(wav, dtype=np.float64)
    n = frame_count(len(wav))
    if n == 0:
        raise ValueError(f"Audio of {len(wav)} samples is shorter than one frame "
                         f"({FRAME_LENGTH} samples).")
    idx = np.arange(FRAME_LENGTH)[None] + FRAME_HOP * np.arange(n)[:, None]
    frames = wav[idx]
    frames = frames - frames.mean(axis=1, keepdims=True)
    frames = np.concatenate([frames[:, :1] * (1 - preemphasis),
                             frames[:, 1:] - preemphasis * frames[:, :-1]], axis=1)
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(FRAME_LENGTH)
                                 / (FRAME_LENGTH - 1))) ** 0.85
    n_fft = 512
    power = np.abs(np.fft.rfft(frames * window, n=n_fft, axis=1)) ** 2
    banks = _mel_banks(n_mels, n_fft, sfreq, low_hz, sfreq / 2)
    logmel = np.log(np.maximum(power @ banks.T, np.finfo(np.float32).eps))
    from scipy.fft import dct

    ceps = dct(logmel, type=2, norm="ortho", axis=1)[:, :n_mfcc]
    ceps *= 1.0 + 0.5 * lifter * np.sin(np.pi * np.arange(n_mfcc) / lifter)
    if deltas:
        d1 = compute_deltas(ceps)
        ceps = np.concatenate([ceps, d1, compute_deltas(d1)], axis=1)
    return ceps.astype(np.float32)


# ------------------------------------------------------------- layer features
def _load_iteration1_model(path: Path):
    """(base model in eval mode, do_normalize) of an iteration-1 checkpoint."""
    from transformers import AutoConfig, AutoModel

    config_file = layout.checkpoint_model_file(path, layout.HF_CONFIG)
    if not path.is_dir() or not config_file.is_file():
        raise FileNotFoundError(
            f"Iteration 2 needs an iteration-1 model: {path} is not a checkpoint "
            "directory (no config.json). Train one with `brainscore-speech train "
            "--objective hubert --targets MFCC_TARGETS` first.")
    meta_path = layout.checkpoint_meta(path)
    if meta_path.is_file():
        objective = read_json(meta_path).get("objective") or "wav2vec2"
        if objective not in ("hubert", "wavlm"):
            raise DataError(
                f"Iteration 2 needs an iteration-1 HuBERT/WavLM model, but {meta_path} "
                f"records objective {objective!r}.")
    config = AutoConfig.from_pretrained(path, local_files_only=True)
    if config.model_type not in ("hubert", "wavlm", "wav2vec2"):
        raise DataError(f"{config_file}: model type {config.model_type!r} is "
                        "not a speech model (hubert, wavlm or wav2vec2).")
    from transformers.utils import logging as hf_logging

    old = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the masked-prediction head is expected extra
    try:
        model = AutoModel.from_pretrained(path, local_files_only=True,
                                          attn_implementation="eager").eval()
    finally:
        hf_logging.set_verbosity(old)
    do_normalize = getattr(config, "feat_extract_norm", "group") == "layer"
    prep = layout.checkpoint_model_file(path, layout.HF_PREPROCESSOR)
    if prep.is_file():
        do_normalize = bool(read_json(prep).get("do_normalize", do_normalize))
    return model, do_normalize


def _layer_index(config, layer: str) -> int:
    names = ["encoder_input"] + [f"transf{i}" for i in range(config.num_hidden_layers)]
    if layer not in names:
        from .._validation import check_option

        check_option("layer", layer, names)
    return names.index(layer)


def layer_features(model, wav: np.ndarray, *, layer: str, do_normalize: bool
                   ) -> np.ndarray:
    """One layer's output for a whole utterance (HF ``hidden_states``).

    Parameters
    ----------
    model : HubertModel, WavLMModel or Wav2Vec2Model
        In eval mode.
    wav : ndarray of shape (n_samples,)
    layer : str
        ``encoder_input`` (``hidden_states[0]``) or ``transf{i}``
        (``hidden_states[i + 1]``, the output of block i + 1; HF convention,
        used both to fit and to apply the codebook).
    do_normalize : bool
        Z-score the utterance first (as in the model's training).

    Returns
    -------
    ndarray of shape (n_frames, hidden_size), float32
    """
    import torch

    k = _layer_index(model.config, layer)
    x = np.asarray(wav, dtype=np.float32)
    if do_normalize:
        x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
    with torch.inference_mode():
        out = model(torch.from_numpy(x)[None], output_hidden_states=True)
    return out.hidden_states[k][0].float().numpy()


# -------------------------------------------------------------------- k-means
def fit_kmeans(features: Sequence[np.ndarray], n_clusters: int, *,
               fraction: float = 0.1, random_state: int | None = 0,
               **kmeans: Any) -> np.ndarray:
    """Fit the codebook with fairseq ``learn_kmeans.py``'s recipe.

    Parameters
    ----------
    features : sequence of ndarray, each (n_frames, n_dims)
        One array per training utterance.
    n_clusters : int
        100 for MFCC (iteration 1), 500 for layer features (iteration 2).
    fraction : float, default=0.1
        Fraction of **utterances** drawn (without replacement, at least one) for
        the fit (fairseq ``--percent``; the paper used 10 %).
    random_state : int or None
        Seeds the utterance draw and the k-means.
    **kmeans
        Overrides of :data:`KMEANS_DEFAULTS`.

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_dims), float32
    """
    from sklearn.cluster import MiniBatchKMeans

    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"'fraction' must be in (0, 1], got {fraction}.")
    unknown = set(kmeans) - set(KMEANS_DEFAULTS)
    if unknown:
        raise ValueError(f"Unknown k-means setting(s) {sorted(unknown)}; valid: "
                         f"{sorted(KMEANS_DEFAULTS)}.")
    rng = check_random_state(random_state)
    n_pick = max(1, int(np.ceil(len(features) * fraction)))
    picks = np.sort(rng.choice(len(features), n_pick, replace=False))
    data = np.concatenate([features[i] for i in picks]).astype(np.float32)
    if len(data) < n_clusters:
        raise ValueError(f"Only {len(data)} frames for {n_clusters} clusters; use "
                         "more audio, a larger 'fraction' or fewer clusters.")
    settings = {**KMEANS_DEFAULTS, **kmeans}
    seed = None if random_state is None else int(rng.integers(2**31 - 1))
    km = MiniBatchKMeans(n_clusters=n_clusters, random_state=seed, **settings)
    km.fit(data)
    logger.info("k-means: %d clusters on %d frames of %d/%d utterances",
                n_clusters, len(data), n_pick, len(features))
    return km.cluster_centers_.astype(np.float32)


def predict_units(features: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Nearest centre (squared Euclidean) of every frame, int16, shape (n_frames,)."""
    from sklearn.metrics import pairwise_distances_argmin

    return pairwise_distances_argmin(np.asarray(features, np.float32),
                                     np.asarray(centers, np.float32)).astype(np.int16)


def codebook_usage(labels: np.ndarray, n_clusters: int) -> dict[str, float]:
    """Perplexity of the unit distribution and clusters never used.

    Parameters
    ----------
    labels : ndarray of int
        Unit labels.
    n_clusters : int
        Codebook size.

    Returns
    -------
    dict
        ``perplexity`` (exp of the entropy, in [1, n_clusters]), ``n_unused``,
        ``max_share`` (frequency of the most common unit: the accuracy of always
        predicting it, the chance level of a masked-prediction model).
    """
    counts = np.bincount(np.asarray(labels, np.int64), minlength=n_clusters)
    p = counts / max(1, counts.sum())
    nz = p[p > 0]
    return {"perplexity": float(np.exp(-(nz * np.log(nz)).sum())),
            "n_unused": int((counts == 0).sum()), "max_share": float(p.max())}


def pnmi(phones: Sequence, units: np.ndarray) -> float:
    """Phone-normalised mutual information ``I(phone; unit) / H(phone)``.

    Parameters
    ----------
    phones : sequence of hashable, length n_frames
        Phone label of every frame (HuBERT paper §IV-D).
    units : ndarray of int, shape (n_frames,)

    Returns
    -------
    float in [0, 1]
        1 when the units determine the phone.
    """
    phones = np.asarray(phones)
    units = np.asarray(units)
    if len(phones) != len(units) or len(units) == 0:
        raise ValueError(f"phones and units must have the same non-zero length; got "
                         f"{len(phones)} and {len(units)}.")
    _, ph = np.unique(phones, return_inverse=True)
    _, un = np.unique(units, return_inverse=True)
    joint = np.zeros((ph.max() + 1, un.max() + 1))
    np.add.at(joint, (ph, un), 1.0)
    joint /= joint.sum()
    pp, pu = joint.sum(1), joint.sum(0)
    nz = joint > 0
    mi = float((joint[nz] * np.log(joint[nz] / np.outer(pp, pu)[nz])).sum())
    h = float(-(pp[pp > 0] * np.log(pp[pp > 0])).sum())
    return mi / h if h > 0 else 0.0


# ------------------------------------------------------------------- targets
@dataclass(frozen=True)
class Targets:
    """Hidden-unit labels of a set of utterances (a targets directory).

    Parameters
    ----------
    path : Path
    meta : dict
        ``targets.json``.
    labels : dict of str -> ndarray of int16
        Absolute audio path -> one label per model frame.
    """

    path: Path
    meta: dict
    labels: dict[str, np.ndarray] = field(repr=False)

    @property
    def n_clusters(self) -> int:
        """Codebook size."""
        return int(self.meta["n_clusters"])

    @property
    def label_rate(self) -> float:
        """Labels per second (Hz)."""
        return float(self.meta["label_rate"])

    def __repr__(self) -> str:
        return (f"<Targets {self.meta.get('kind')} iteration "
                f"{self.meta.get('iteration')} K={self.n_clusters} "
                f"{len(self.labels)} utterances at {self.path}>")

    def for_corpus(self, corpus, *, frame_rate: float) -> list[np.ndarray]:
        """Labels of every utterance of ``corpus`` (its entry order), validated.

        Parameters
        ----------
        corpus : Corpus
        frame_rate : float
            The model's frame rate (Hz); must equal the label rate.

        Raises
        ------
        DataError
            Label-rate mismatch, an utterance without labels, or labels whose count
            does not match the utterance's frames (each names the file).
        """
        labels_file = layout.targets_file(self.path, "labels")
        if abs(self.label_rate - frame_rate) > 1e-6:
            raise DataError(
                f"Targets {layout.targets_file(self.path, 'meta')} have label rate "
                f"{self.label_rate:g} Hz but the model's frames are at {frame_rate:g} "
                "Hz; rebuild them with `brainscore-speech targets` (50 Hz).")
        out = []
        for e in corpus.entries:
            key = str(Path(e.path).resolve())
            lab = self.labels.get(key)
            if lab is None:
                raise DataError(
                    f"Targets {labels_file} have no labels for {e.path} (manifest "
                    f"{e.manifest} line {e.line}); rebuild them for this corpus.")
            want = frame_count(e.n_samples)
            if len(lab) != want:
                raise DataError(
                    f"Targets {labels_file}: {e.path} has {len(lab)} labels, expected "
                    f"{want} ({e.n_samples} samples at {self.label_rate:g} Hz); wrong "
                    "label rate or length.")
            out.append(lab)
        return out


def load_targets(path: str | os.PathLike) -> Targets:
    """Read a targets directory written by :func:`build_targets`.

    Parameters
    ----------
    path : str or os.PathLike
        The targets directory.

    Returns
    -------
    Targets

    Raises
    ------
    FileNotFoundError
        ``targets.json`` or ``labels.npz`` is missing.
    DataError
        Malformed content (named).
    """
    path = Path(path)
    meta_path = layout.targets_file(path, "meta")
    labels_path = layout.targets_file(path, "labels")
    for p in (meta_path, labels_path):
        if not p.is_file():
            raise FileNotFoundError(f"Not a targets directory: {p} is missing (build "
                                    "it with `brainscore-speech targets`).")
    meta = read_json(meta_path)
    for key in ("label_rate", "n_clusters", "utterances"):
        if key not in meta:
            raise DataError(f"{meta_path} lacks {key!r}; not written by "
                            "`brainscore-speech targets`.")
    with np.load(labels_path, allow_pickle=False) as z:
        if "labels" not in z or "offsets" not in z:
            raise DataError(f"{labels_path} must hold 'labels' and 'offsets'; got "
                            f"{sorted(z.files)}.")
        flat, offsets = z["labels"], z["offsets"]
    utts = meta["utterances"]
    if len(offsets) != len(utts) + 1 or offsets[-1] != len(flat):
        raise DataError(f"{labels_path}: offsets ({len(offsets)}) do not match the "
                        f"{len(utts)} utterances of {meta_path}.")
    if len(flat) and (flat.min() < 0 or flat.max() >= int(meta["n_clusters"])):
        raise DataError(f"{labels_path}: labels outside [0, {meta['n_clusters']}).")
    labels = {u["path"]: flat[offsets[i]:offsets[i + 1]] for i, u in enumerate(utts)}
    return Targets(path=path, meta=meta, labels=labels)


def _load_kmeans(path: Path, feature_dim: int, what: str) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(f"K-means file not found: {path}")
    with np.load(path, allow_pickle=False) as z:
        if "cluster_centers" not in z:
            raise DataError(f"K-means file {path} has no 'cluster_centers' array.")
        centers = z["cluster_centers"].astype(np.float32)
    if centers.ndim != 2 or centers.shape[1] != feature_dim:
        raise DataError(
            f"K-means file {path} is for {centers.shape[-1]}-dimensional features, but "
            f"{what} are {feature_dim}-dimensional.")
    return centers


def _target_features(entries, kind: str, model, layer, do_norm) -> list[np.ndarray]:
    """Features of every manifest entry: MFCCs, or a layer of ``model``."""
    feats = []
    for e, _ in progress(entries, desc=f"targets: {kind} features"):
        try:
            wav = load_audio(e.path)
        except (OSError, DataError) as err:
            raise DataError(f"Manifest {e.manifest} line {e.line}: cannot read "
                            f"{e.path}: {err}") from None
        if frame_count(len(wav)) != frame_count(e.n_samples):
            raise DataError(f"Manifest {e.manifest} line {e.line}: {e.path} has "
                            f"{len(wav)} samples, the manifest says {e.n_samples}.")
        if frame_count(len(wav)) == 0:
            feats.append(np.zeros((0, 39 if model is None else
                                   model.config.hidden_size), np.float32))
            continue
        f = (compute_mfcc(wav) if model is None else
             layer_features(model, wav, layer=layer, do_normalize=do_norm))
        feats.append(f)
    return feats


@verbose
def build_targets(corpus: Sequence[str | os.PathLike], out: str | os.PathLike, *,
                  valid_corpus: Sequence[str | os.PathLike] = (),
                  from_model: str | os.PathLike | None = None,
                  layer: str | None = None, n_clusters: int | None = None,
                  fraction: float = 0.1, kmeans_file: str | os.PathLike | None = None,
                  seed: int = 0, kmeans: dict[str, Any] | None = None,
                  verbose=None) -> Targets:
    """Compute features, fit one codebook on the training corpus, label everything.

    Parameters
    ----------
    corpus : sequence of path-like
        Training manifests: the codebook is fitted on (a fraction of) these.
    out : path-like
        Targets directory (written atomically file by file; ``targets.json`` last).
    valid_corpus : sequence of path-like
        Validation manifests: labelled with the training codebook.
    from_model : path-like, optional
        Iteration 2: the iteration-1 checkpoint whose ``layer`` is clustered.
        None: iteration 1, MFCC + delta + delta-delta (39 dims).
    layer : str, optional
        ``transf{i}`` (HF ``hidden_states[i + 1]``); default the middle block
        (``transf5`` of 12, as the paper's layer 6).
    n_clusters : int, optional
        Default 100 for MFCC and 500 for a layer (the paper's).
    fraction : float, default=0.1
        Fraction of training utterances used to fit the codebook.
    kmeans_file : path-like, optional
        Reuse the centres of an existing ``kmeans.npz`` instead of fitting.
    seed : int, default=0
    kmeans : dict, optional
        Overrides of :data:`KMEANS_DEFAULTS`.
    verbose : bool | int | str | None

    Returns
    -------
    Targets

    Raises
    ------
    FileNotFoundError
        Iteration 2 without an iteration-1 model directory; a missing k-means file.
    DataError
        A k-means file for another feature dimension (named).
    """
    from .dataset import read_manifest

    out = Path(out)
    if not corpus:
        raise ValueError("At least one training manifest is needed ('corpus').")
    entries = [(e, "train") for m in corpus for e in read_manifest(m)]
    entries += [(e, "valid") for m in valid_corpus for e in read_manifest(m)]
    model, do_norm = None, None
    if from_model is not None:
        model, do_norm = _load_iteration1_model(Path(from_model))
        layer = layer or f"transf{max(0, model.config.num_hidden_layers // 2 - 1)}"
        _layer_index(model.config, layer)
        kind, iteration = "layer", 2
        n_clusters = n_clusters or 500
        spec = {"model": str(Path(from_model).resolve()), "layer": layer,
                "do_normalize": do_norm,
                "model_hash": file_hash(layout.checkpoint_weights(from_model))
                if layout.checkpoint_weights(from_model).is_file() else None}
        what = f"layer {layer} of {from_model}"
    else:
        if layer is not None:
            raise ValueError("'layer' needs 'from_model' (iteration 2); iteration 1 "
                             "clusters MFCC features.")
        kind, iteration = "mfcc", 1
        n_clusters = n_clusters or 100
        spec = {"n_mfcc": 13, "n_mels": 23, "deltas": True, "lifter": 22.0,
                "preemphasis": 0.97, "frame_length": FRAME_LENGTH,
                "frame_hop": FRAME_HOP}
        what = "MFCC features"
    feats = _target_features(entries, kind, model, layer, do_norm)
    dim = int(feats[0].shape[1])
    train_feats = [f for f, (_, split) in zip(feats, entries)
                   if split == "train" and len(f)]
    settings = {**KMEANS_DEFAULTS, **(kmeans or {})}
    if kmeans_file is not None:
        centers = _load_kmeans(Path(kmeans_file), dim, what)
        n_clusters = len(centers)
        fitted_on = str(Path(kmeans_file).resolve())
    else:
        centers = fit_kmeans(train_feats, n_clusters, fraction=fraction,
                             random_state=seed, **(kmeans or {}))
        fitted_on = "train"
    labels = [predict_units(f, centers) if len(f) else np.zeros(0, np.int16)
              for f in feats]
    usage = {}
    for split in ("train", "valid"):
        lab = [x for x, (_, s) in zip(labels, entries) if s == split]
        if lab:
            usage[split] = codebook_usage(np.concatenate(lab), n_clusters)
    utts = [{"path": str(Path(e.path).resolve()), "n_samples": int(e.n_samples),
             "n_frames": int(len(lab)), "split": split}
            for (e, split), lab in zip(entries, labels)]
    offsets = np.concatenate([[0], np.cumsum([len(x) for x in labels])])
    offsets = offsets.astype(np.int64)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out, names=[layout.targets_file(out, k).name
                                   for k in ("kmeans", "labels", "meta")])
    with atomic_path(layout.targets_file(out, "kmeans")) as tmp:
        np.savez(tmp, cluster_centers=centers, feature_dim=np.int64(dim),
                 kind=np.str_(kind))
    with atomic_path(layout.targets_file(out, "labels")) as tmp:
        np.savez(tmp, labels=np.concatenate(labels).astype(np.int16), offsets=offsets)
    params = {"kind": kind, "iteration": iteration, "n_clusters": n_clusters,
              "fraction": fraction, "seed": seed, "feature": spec,
              "kmeans": {k: v for k, v in settings.items()}, "fitted_on": fitted_on}
    inputs = {f"corpus{i}": str(m) for i, m in enumerate(corpus)}
    inputs.update({f"valid{i}": str(m) for i, m in enumerate(valid_corpus)})
    meta = {**params, "label_rate": LABEL_RATE, "feature_dim": dim,
            "usage": usage, "utterances": utts,
            "labels_hash": file_hash(layout.targets_file(out, "labels")),
            "provenance": make_provenance("targets", params=params, inputs=inputs,
                                          seed=seed)}
    write_json(layout.targets_file(out, "meta"), meta)
    tr = usage.get("train", {})
    logger.info("Targets (%s, K=%d): %d utterances, train perplexity %.1f, %d unused "
                "clusters", kind, n_clusters, len(utts), tr.get("perplexity", 0.0),
                tr.get("n_unused", 0))
    return load_targets(out)
