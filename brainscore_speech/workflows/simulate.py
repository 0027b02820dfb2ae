"""Simulate a BIDS + fMRIPrep study whose BOLD is planted from known features.

The simulated brain listens to speech (espeak-ng voices when
``brainscore_speech.data.synth`` can synthesize, else the procedural fallback
:func:`make_procedural_speech`). From each stimulus' log-spectrogram four
*stage features* are computed, with increasing temporal integration:

========  ========  =========  =====================================
stage     window    frame hop  what
========  ========  =========  =====================================
stage1    25 ms     10 ms      spectral detail (fast changes)
stage2    200 ms    50 ms      syllable-rate envelope
stage3    1 s       100 ms     word scale
stage4    4 s       250 ms     phrase scale
========  ========  =========  =====================================

Stage k is ``|P_k (S_w - S_4w)|``: the log-spectrogram ``S`` smoothed over the
stage window minus the same smoothed over four times that window (a temporal
band-pass), projected on a stage-specific random matrix ``P_k`` and rectified.
Different bands, projections and the rectification make the stages
distinguishable by construction (FINDINGS.md section 9).

Each cortical vertex of the real fsaverage5 mesh (bundled with nilearn) within
``radius_mm`` of Heschl's gyrus (geodesic distance along the pial mesh edges)
is driven by one stage through the Glover HRF: stage = distance bin, so early
stages sit around Heschl's gyrus and late ones further along the STS and
towards the IFG. The planted correlation ``r`` falls with distance; the noise
is AR(1); drift (linear + slow cosines), motion-like and CSF/WM series are
added to the BOLD and written to the confounds table (so cleaning removes
them). Vertices outside the region are pure noise. The stage features are
saved in the activation format ``extract`` writes (``model_id="stages"``), and
the truth (stage per vertex, planted r) is saved per subject.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import layout
from .._io import (
    atomic_path,
    check_output_dir,
    make_provenance,
    remove_stale_temps,
    write_json,
)
from .._layers import relative_depths
from .._logging import logger, verbose
from .._validation import check_option, check_random_state
from ..containers import StimulusActivations
from ..data._generative import (
    _describe_generator,
    _describe_truth_maps,
    _hrf_jitter,
    _mesh_adjacencies,
    _realistic_signal,
    _roll_units,
    _slice_timing,
    smooth_mesh_noise,
)
from ..exceptions import UsageError
from ..spaces import HEMIS, concat_hemis, hemi_slices, split_hemis

__all__ = [
    "GENERATORS",
    "MODES",
    "STAGES",
    "SimulatedStudy",
    "compute_stage_features",
    "make_procedural_speech",
    "simulate_study",
    "log_spectrogram",
]

SFREQ = 16000
#: (name, integration window in s, frame hop in s) of the planted stages.
STAGES: tuple[tuple[str, float, float], ...] = (
    ("stage1", 0.025, 0.010),
    ("stage2", 0.200, 0.050),
    ("stage3", 1.000, 0.100),
    ("stage4", 4.000, 0.250),
)
_SPEC_HOP_S = 0.010
#: Generative models of :func:`simulate_study` and what they plant.
GENERATORS = ("legacy", "realistic")
MODES = ("hierarchy", "null", "contrast")
_N_BANDS = 40
#: Heschl's gyrus anchors in fsaverage (MNI305) coordinates, mm.
_HG_ANCHORS = {"L": (-43.0, -22.0, 7.0), "R": (45.0, -20.0, 7.0)}
_VOWELS = ((730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480),
           (660, 1720, 2410), (490, 1350, 1690), (640, 1190, 2390), (440, 1020, 2240))


@dataclass(frozen=True)
class SimulatedStudy:
    """Paths of a simulated study.

    Parameters
    ----------
    root : Path
        ``OUT``.
    bids_root : Path
        ``OUT/bids``.
    activations : Path
        ``OUT/activations/stages`` (or ``OUT/activations/<model>`` with ``from_model``).
    truth : Path
        ``OUT/truth``.
    subjects : tuple of str
        Subject labels (``"01"``...).
    task : str
    """

    root: Path
    bids_root: Path
    activations: Path
    truth: Path
    subjects: tuple[str, ...]
    task: str


# --------------------------------------------------------------------------- #
# Stimuli
# --------------------------------------------------------------------------- #
def make_procedural_speech(duration_s: float, *, sfreq: int = SFREQ,
                           random_state: Any = None) -> np.ndarray:
    """Speech-like audio without a synthesizer (the documented fallback).

    Syllables of 120-280 ms (about 4-5 per second) are harmonic series on a
    drifting f0 (90-220 Hz) shaped by one of eight vowel formant triplets, with
    a raised-cosine envelope and an optional noise-burst consonant onset; 2-5
    syllables make a word, words are separated by 50-150 ms and 3-8 words make a
    phrase followed by a 300-800 ms pause.

    Parameters
    ----------
    duration_s : float
        Length in seconds.
    sfreq : int, default=16000
        Sampling rate in Hz.
    random_state : int, Generator or None

    Returns
    -------
    array of shape (round(duration_s * sfreq),), float32 in [-1, 1]
    """
    rng = check_random_state(random_state)
    n = int(round(duration_s * sfreq))
    out = np.zeros(n, dtype=np.float64)
    pos = int(0.2 * sfreq)
    harm = np.arange(1, 41)[:, None]
    while pos < n:
        for _ in range(rng.integers(3, 9)):           # words in the phrase
            for _ in range(rng.integers(2, 6)):       # syllables in the word
                length = int(rng.uniform(0.12, 0.28) * sfreq)
                if pos + length >= n:
                    break
                t = np.arange(length) / sfreq
                f0 = rng.uniform(90, 220) * (1 + 0.1 * np.sin(2 * np.pi * t / t[-1]))
                phase = 2 * np.pi * np.cumsum(f0) / sfreq
                formants = np.asarray(_VOWELS[rng.integers(len(_VOWELS))], float)
                freqs = harm * f0.mean()
                gain = sum(np.exp(-0.5 * ((freqs - f) / (0.08 * f + 60)) ** 2) / (i + 1)
                           for i, f in enumerate(formants))
                gain = np.where(freqs < sfreq / 2 - 200, gain, 0)
                seg = (gain * np.sin(harm * phase[None, :])).sum(0)
                if rng.random() < 0.6:  # consonant: a short noise burst
                    k = int(rng.uniform(0.02, 0.06) * sfreq)
                    seg[:k] += rng.normal(0, 0.5, k) * np.hanning(2 * k)[:k]
                seg *= np.sin(np.pi * np.arange(length) / length) ** 0.5
                out[pos:pos + length] += seg * rng.uniform(0.5, 1.0)
                pos += length
            pos += int(rng.uniform(0.05, 0.15) * sfreq)
        pos += int(rng.uniform(0.3, 0.8) * sfreq)
    peak = np.abs(out).max()
    return (out / peak * 0.9 if peak > 0 else out).astype(np.float32)


def _speech_audio(duration_s: float, language: str, rng: np.random.Generator,
                  ) -> tuple[np.ndarray, str]:
    """espeak speech looped to ``duration_s`` when available, else procedural."""
    n = int(round(duration_s * SFREQ))
    try:
        from ..data import synth  # built by another stage; optional
        if synth.speech_available():
            texts = list(synth.SAMPLE_TEXTS[language])
            pieces, total = [], 0
            order = rng.permutation(len(texts))
            i = 0
            while total < n:
                wav = np.asarray(synth.synthesize_speech(texts[order[i % len(texts)]],
                                                         language, sfreq=SFREQ))
                pause = np.zeros(int(rng.uniform(0.2, 0.8) * SFREQ), np.float32)
                pieces += [wav.astype(np.float32), pause]
                total += wav.size + pause.size
                i += 1
                if i % len(texts) == 0:
                    order = rng.permutation(len(texts))
            audio = np.concatenate(pieces)[:n]
            peak = np.abs(audio).max()
            return (audio / peak * 0.9 if peak > 0 else audio).astype(np.float32), \
                "espeak-ng"
    except (ImportError, AttributeError, KeyError, OSError, RuntimeError) as err:
        logger.info("Speech synthesis unavailable (%s); using procedural speech.", err)
    return make_procedural_speech(duration_s, random_state=rng), "procedural"


# --------------------------------------------------------------------------- #
# Stage features
# --------------------------------------------------------------------------- #
def log_spectrogram(audio: np.ndarray, *, sfreq: int = SFREQ) -> tuple[np.ndarray,
                                                                      np.ndarray]:
    """Log power in 40 log-spaced bands (100-7000 Hz), 25 ms window, 10 ms hop.

    Parameters
    ----------
    audio : array of shape (n_samples,)
    sfreq : int, default=16000

    Returns
    -------
    spec : array of shape (n_frames, 40), float64
    times_s : array of shape (n_frames,)
        Window centres in seconds.
    """
    win, hop = int(0.025 * sfreq), int(_SPEC_HOP_S * sfreq)
    audio = np.asarray(audio, dtype=np.float64)
    if audio.size < win:
        audio = np.pad(audio, (0, win - audio.size))
    n_frames = 1 + (audio.size - win) // hop
    idx = np.arange(win)[None, :] + hop * np.arange(n_frames)[:, None]
    frames = audio[idx] * np.hanning(win)[None, :]
    power = np.abs(np.fft.rfft(frames, n=512, axis=1)) ** 2
    freqs = np.fft.rfftfreq(512, 1 / sfreq)
    edges = np.geomspace(100, 7000, _N_BANDS + 1)
    centre = np.sqrt(edges[:-1] * edges[1:])
    width = np.diff(np.log(edges))[0]
    fb = np.exp(-0.5 * ((np.log(np.maximum(freqs, 1))[None, :] - np.log(centre)[:,
                                                                                None])
                        / width) ** 2)
    spec = np.log(power @ fb.T + 1e-8)
    times = (np.arange(n_frames) * hop + win / 2) / sfreq
    return spec, times


def _smooth(x: np.ndarray, n: int) -> np.ndarray:
    """Centred moving average over ``n`` frames along axis 0 (edge-padded)."""
    if n <= 1:
        return x
    c = np.cumsum(np.pad(x, ((n // 2 + 1, n - n // 2 - 1), (0, 0)), mode="edge"),
                  axis=0)
    return (c[n:] - c[:-n]) / n


def compute_stage_features(spec: np.ndarray, *, n_units: int = 16,
                           random_state: Any = 0, stats: tuple | None = None
                           ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Stage features of one stimulus from its log-spectrogram.

    Parameters
    ----------
    spec : array of shape (n_frames, n_bands)
        Output of :func:`log_spectrogram` (10 ms frames).
    n_units : int, default=16
        Units per stage.
    random_state : int, Generator or None
        Seeds the projection matrices; use the same value for every stimulus.
    stats : tuple of (mean, std) arrays of shape (n_bands,), optional
        Band normalisation shared across stimuli (default: this stimulus').

    Returns
    -------
    features : dict of str to array of shape (n_frames_k, n_units), float32
    frame_times_s : dict of str to array of shape (n_frames_k,)
    """
    rng = check_random_state(random_state)
    mean, std = stats if stats is not None else (spec.mean(0), spec.std(0) + 1e-8)
    z = (spec - mean) / std
    base_t = (np.arange(z.shape[0]) * _SPEC_HOP_S + 0.0125)
    feats, times = {}, {}
    for name, window_s, hop_s in STAGES:
        proj = rng.normal(size=(z.shape[1], n_units)) / math.sqrt(z.shape[1])
        w = max(1, int(round(window_s / _SPEC_HOP_S)))
        band = _smooth(z, w) - _smooth(z, 4 * w)
        h = np.abs(band @ proj)
        step = max(1, int(round(hop_s / _SPEC_HOP_S)))
        n_out = h.shape[0] // step
        pooled = h[: n_out * step].reshape(n_out, step, -1).mean(1)
        t = base_t[: n_out * step].reshape(n_out, step).mean(1)
        feats[name] = pooled.astype(np.float32)
        times[name] = t
    return feats, times


def _glover_regressors(features: np.ndarray, times: np.ndarray, n_scans: int,
                       tr_s: float, onset_s: float) -> np.ndarray:
    """Glover-HRF convolution at the feature rate, sampled at scan times."""
    from nilearn.glm.first_level import glover_hrf
    from scipy.signal import fftconvolve

    dt = float(np.median(np.diff(times)))
    kernel = glover_hrf(t_r=dt, oversampling=1, time_length=32.0)
    # Per-dimension min-max scaling over the run, as the alignment stage does
    # (METHODS 5): the response includes the sound-onset transient.
    lo, hi = features.min(0), features.max(0)
    x = (features - lo) / np.where(hi > lo, hi - lo, 1.0)
    conv = fftconvolve(x, kernel[:, None], axes=0)[: x.shape[0]]
    scan_t = np.arange(n_scans) * tr_s - onset_s
    out = np.stack([np.interp(scan_t, times, conv[:, j], left=0.0, right=conv[-1, j])
                    for j in range(conv.shape[1])], axis=1)
    return out


# --------------------------------------------------------------------------- #
# Cortex
# --------------------------------------------------------------------------- #
def _mesh_distances(radius_mm: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Geodesic-ish distance (mm, along pial edges) from Heschl's gyrus, per hemi."""
    from nilearn.datasets import load_fsaverage
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra

    mesh = load_fsaverage("fsaverage5")["pial"]
    out = {}
    for hemi, part in (("L", "left"), ("R", "right")):
        coords = np.asarray(mesh.parts[part].coordinates, dtype=np.float64)
        faces = np.asarray(mesh.parts[part].faces)
        i = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2]])
        j = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0]])
        w = np.linalg.norm(coords[i] - coords[j], axis=1)
        graph = coo_matrix((w, (i, j)), shape=(len(coords),) * 2).tocsr()
        anchor = int(np.argmin(np.linalg.norm(coords - np.asarray(_HG_ANCHORS[hemi]),
                                              axis=1)))
        dist = dijkstra(graph, directed=False, indices=anchor, limit=radius_mm * 1.5)
        out[hemi] = (dist, coords)
    return out


def _ar1(rng: np.random.Generator, n: int, n_targets: int, phi: float) -> np.ndarray:
    from scipy.signal import lfilter

    e = rng.standard_normal((n, n_targets)).astype(np.float32)
    x = lfilter([math.sqrt(1 - phi ** 2)], [1, -phi], e, axis=0)
    return x.astype(np.float32)


def _cosines(n_scans: int, tr_s: float, cutoff_s: float = 128.0) -> np.ndarray:
    """fMRIPrep-style DCT high-pass basis (no constant), shape (n_scans, K)."""
    k = int(math.floor(2 * n_scans * tr_s / cutoff_s))
    t = np.arange(n_scans)
    basis = [math.sqrt(2.0 / n_scans) * np.cos(np.pi * (t + 0.5) * i / n_scans)
             for i in range(1, k + 1)]
    return np.stack(basis, 1) if basis else np.zeros((n_scans, 0))


def _write_gifti(path: Path, data: np.ndarray, tr_s: float) -> None:
    meta = {"TimeStep": f"{tr_s * 1000:.6f}"}
    layout.write_gifti(path, data, array_meta=meta, image_meta=meta)


def _write_tsv(path: Path, columns: dict[str, np.ndarray]) -> None:
    layout.write_tsv(path, columns, float_format="%.6g")



# --------------------------------------------------------------------------- #
# The study
# --------------------------------------------------------------------------- #
@verbose
def simulate_study(out: str | os.PathLike, *, n_subjects: int = 3, n_runs: int = 4,
                   tr_s: float = 2.0, space: str = "fsaverage5", seed: int = 0,
                   scans_per_run: int | Sequence[int] = 100, language: str = "en",
                   task: str = "listen", from_model: str | os.PathLike | None = None,
                   n_units: int = 16, radius_mm: float = 60.0,
                   r_range: tuple[float, float] = (0.65, 0.3), noise_ar: float = 0.3,
                   padding_end_s: float = 8.0, generator: str = "realistic",
                   mode: str = "hierarchy", repeat_story: bool = False,
                   story_locked: float = 0.0,
                   verbose: bool | int | str | None = None) -> SimulatedStudy:
    """Write a simulated BIDS + fMRIPrep study with planted stage features.

    Parameters
    ----------
    out : path
        Output folder (created). Layout in ARCHITECTURE.md ("Simulated study").
    n_subjects : int, default=3
    n_runs : int, default=4
        Runs per subject; run ``r`` plays stimulus ``story<r>`` to everyone.
    tr_s : float, default=2.0
        Repetition time in seconds.
    space : {"fsaverage5"}
        Surface space (the fsaverage5 mesh bundled with nilearn).
    seed : int, default=0
        Seeds every random choice (stimuli, projections, weights, noise).
    scans_per_run : int or sequence of int, default=100
        Scans of each run; the audio lasts ``scans * tr_s - padding_end_s``.
    language : {"en", "fr", "cmn", "zh"}, default="en"
        Language of the synthesized speech and of the participants.
    task : str, default="listen"
        BIDS task label.
    from_model : path, optional
        Plant BOLD from this checkpoint's layers (via
        ``brainscore_speech.features``) instead of the stage features.
    n_units : int, default=16
        Units per stage.
    radius_mm : float, default=60.0
        Geodesic radius of the speech region around Heschl's gyrus.
    r_range : (float, float), default=(0.65, 0.3)
        Planted correlation at the anchor and at ``radius_mm``.
    noise_ar : float, default=0.3
        AR(1) coefficient of the noise.
    padding_end_s : float, default=8.0
        Scans after the audio offset, in seconds (the HRF tail decays there).
    generator : {"realistic", "legacy"}, default="realistic"
        ``"legacy"``: the analysis' own assumptions (Glover HRF at the feature
        rate after per-run min-max scaling, scans at the start of each TR,
        independent AR(1) noise per vertex). ``"realistic"``: a generative model
        the analysis does not share (:mod:`brainscore_speech.data._generative`):
        inverse-logit HRF with spatially smooth per-vertex lag (SD 0.6 s) and
        width (SD 12 %) jitter, features scaled over the whole study (not per
        run), interleaved slice timing corrected to the middle of the
        acquisition (raw ``SliceTiming``; fMRIPrep sidecars with
        ``SliceTimingCorrected`` and ``StartTime``), AR(1) noise with phi in
        [0.3, 0.5] smoothed over the mesh plus shared slow components, and each
        run's response convolved on its own so the tail decays in the run's
        final silence.
    mode : {"hierarchy", "null", "contrast"}, default="hierarchy"
        ``"hierarchy"``: the speech region is driven by the stages (stage =
        distance bin). ``"null"``: no vertex is driven (a global null for every
        map). ``"contrast"``: each stage's units are split into shared
        units S (the first half) and private units P (the second half, shifted
        by a quarter of the story); a second model, ``partial``, has S plus
        units unrelated to S and P (shifted by half the story). In the
        left-hemisphere annulus between 25 % and 75 % of ``radius_mm`` the BOLD
        is driven by P (``stages`` > ``partial`` there), elsewhere by S (the two
        models are equal: each has S plus 8 unrelated units). ``realistic``
        generator only for ``"null"``/``"contrast"``.
    repeat_story : bool, default=False
        The last run replays the first run's story (as Narratives' pieman
        run-1/run-2), so ``score`` must keep it out of training when testing
        on it.
    story_locked : float, default=0.0
        ``realistic`` only: fraction of the planted signal's variance that is a
        response locked to each story but not a function of the features (a
        random HRF-filtered series per story, identical across presentations).
        With ``mode="null"``, any value > 0 gives the speech region a purely
        story-locked response (truth ``story_region``, ``story_r``) while no
        feature drives anything: a null that naive splits over a repeated
        story would turn into "brain scores".
    verbose : bool, int, str or None

    Returns
    -------
    SimulatedStudy

    Raises
    ------
    ValueError
        Bad counts, TR, space, language, generator or mode.
    """
    scans = _check_simulate_args(
        space=space, generator=generator, mode=mode, story_locked=story_locked,
        from_model=from_model, language=language, n_subjects=n_subjects,
        n_runs=n_runs, tr_s=tr_s, scans_per_run=scans_per_run,
        repeat_story=repeat_story, padding_end_s=padding_end_s)
    out = check_output_dir(out, what="output folder")
    bids = layout.study_part(out, "bids")
    # a killed run's half-written files (the study is rewritten whole), in the
    # three trees the simulator writes (nothing is written in OUT itself)
    for tree in (bids, layout.study_part(out, "truth"),
                 layout.study_part(out, "activations", "stages").parent):
        remove_stale_temps(tree, recursive=True)
    st = _StudyPlan(out=out, bids=bids, deriv=layout.fmriprep_dir(bids),
                    truth_dir=layout.study_part(out, "truth"),
                    act_dir=layout.study_part(out, "activations", "stages"),
                    model_id="stages", n_subjects=n_subjects, n_runs=n_runs, tr_s=tr_s,
                    space=space, seed=seed, scans=scans, language=language, task=task,
                    from_model=from_model, n_units=n_units, radius_mm=radius_mm,
                    r_range=r_range, noise_ar=noise_ar, generator=generator, mode=mode,
                    repeat_story=repeat_story, story_locked=story_locked)
    rng = np.random.default_rng(seed)
    _write_stimuli(st, rng, padding_end_s)
    n_keep = _plant_features(st, rng)
    _legacy_regressors(st)
    _plant_cortex(st, n_keep)
    _write_headers(st)
    for sub_i, sub in enumerate(st.subjects):
        _simulate_subject(st, sub_i, sub)
    _write_truth(st)
    return SimulatedStudy(root=out, bids_root=st.bids, activations=st.act_dir,
                          truth=st.truth_dir, subjects=st.subjects, task=task)


@dataclass
class _StudyPlan:
    """What the simulator's steps share: the arguments, then what each step adds."""

    out: Any = None
    bids: Any = None
    deriv: Any = None
    truth_dir: Any = None
    act_dir: Any = None
    model_id: Any = None
    n_subjects: Any = None
    n_runs: Any = None
    tr_s: Any = None
    space: Any = None
    seed: Any = None
    scans: Any = None
    language: Any = None
    task: Any = None
    from_model: Any = None
    n_units: Any = None
    radius_mm: Any = None
    r_range: Any = None
    noise_ar: Any = None
    generator: Any = None
    mode: Any = None
    repeat_story: Any = None
    story_locked: Any = None
    stims: Any = None
    audio_kind: Any = None
    run_stims: Any = None
    layer_feats: Any = None
    layer_names: Any = None
    layer_info: Any = None
    regs: Any = None
    n_total: Any = None
    bounds: Any = None
    dist: Any = None
    hemi_sizes: Any = None
    n_targets: Any = None
    in_region: Any = None
    story_region: Any = None
    gen_region: Any = None
    stage: Any = None
    gen_stage: Any = None
    r_base: Any = None
    contrast: Any = None
    units: Any = None
    slice_times: Any = None
    tzero: Any = None
    adjacencies: Any = None
    hrf_lag: Any = None
    hrf_width: Any = None
    subjects: Any = None
    planted_kind: Any = None


def _check_simulate_args(*, space, generator, mode, story_locked, from_model,
                         language, n_subjects, n_runs, tr_s, scans_per_run,
                         repeat_story, padding_end_s) -> list[int]:
    """Validate :func:`simulate_study`'s arguments (before anything is written)."""
    check_option("space", space, ["fsaverage5"])
    check_option("generator", generator, GENERATORS)
    check_option("mode", mode, MODES)
    if generator == "legacy" and (mode != "hierarchy" or story_locked):
        raise ValueError(f"mode={mode!r} and story_locked need generator='realistic', "
                         f"got generator='legacy'.")
    if from_model is not None and mode == "contrast":
        raise ValueError("mode='contrast' plants the 'stages' features; it cannot be "
                         "combined with 'from_model'.")
    if not 0.0 <= story_locked < 1.0:
        raise ValueError(f"'story_locked' must be in [0, 1), got {story_locked!r}.")
    check_option("language", language, ["en", "fr", "cmn", "zh"])
    for name, value in (("n_subjects", n_subjects), ("n_runs", n_runs)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise UsageError(f"{name!r} must be a positive integer, got {value!r}.")
    if n_runs < 2:
        raise UsageError(f"'n_runs' must be at least 2 (leave-one-run-out CV), got "
                         f"{n_runs}.")
    if not tr_s > 0:
        raise UsageError(f"'tr_s' must be positive, got {tr_s}.")
    scans = [int(scans_per_run)] * n_runs if np.ndim(scans_per_run) == 0 else \
        [int(s) for s in scans_per_run]
    if len(scans) != n_runs:
        raise UsageError(f"'scans_per_run' must have {n_runs} entries (one per run), "
                         f"got {len(scans)}.")
    if repeat_story and scans[-1] != scans[0]:
        raise ValueError(f"'repeat_story' replays run 1's story in run {n_runs}: both "
                         f"need the same 'scans_per_run', got {scans[0]} and "
                         f"{scans[-1]}.")
    min_scans = int(math.ceil((padding_end_s + 20.0) / tr_s))
    if min(scans) < min_scans:
        raise UsageError(f"'scans_per_run' must be at least {min_scans} at TR {tr_s} s "
                         f"(20 s of audio + {padding_end_s} s padding), got "
                         f"{min(scans)}.")
    if from_model is not None:  # checked before anything is written
        from ..features.hub import parse_model_spec

        try:
            spec = parse_model_spec(from_model)
        except FileNotFoundError:
            spec = {"kind": "local", "path": Path(from_model)}
        fm = spec.get("path")
        if spec["kind"] == "local" and not (fm / layout.HF_CONFIG).is_file():
            raise FileNotFoundError(
                f"'from_model' must be a checkpoint folder (config.json + weights), "
                f"a hub id (org/name[@revision]) or a registry name, got {fm}"
                + (": not found." if not fm.exists() else ": it has no config.json."))
    return scans


def _write_stimuli(st: _StudyPlan, rng: np.random.Generator,
                   padding_end_s: float) -> None:
    """Synthesise one story per run (``BIDS/stimuli``)."""
    n_runs, scans, tr_s, repeat_story, bids = (st.n_runs, st.scans, st.tr_s,
                                               st.repeat_story, st.bids)
    lang = "cmn" if st.language == "zh" else st.language
    stims, audio_kind = {}, set()
    n_stories = n_runs - 1 if repeat_story else n_runs
    run_stims = [f"story{r:02d}" for r in range(1, n_stories + 1)]
    if repeat_story:
        run_stims.append(run_stims[0])
    for r in range(1, n_stories + 1):
        duration = scans[r - 1] * tr_s - padding_end_s
        wav, kind = _speech_audio(duration, lang, rng)
        audio_kind.add(kind)
        stims[f"story{r:02d}"] = wav
    import soundfile as sf

    for name, wav in stims.items():
        with atomic_path(layout.sim_stimulus(bids, name)) as tmp:
            sf.write(str(tmp), wav, SFREQ, subtype="PCM_16", format="WAV")
    st.stims, st.audio_kind, st.run_stims = stims, audio_kind, run_stims


def _plant_features(st: _StudyPlan, rng: np.random.Generator) -> int:
    """Stage (or model) features of every story, written as activations.

    Returns the number of shared units (``mode="contrast"``).
    """
    (out, bids, act_dir, model_id, seed, language, from_model, n_units, mode,
     stims, audio_kind) = (
        st.out, st.bids, st.act_dir, st.model_id, st.seed, st.language,
        st.from_model, st.n_units, st.mode, st.stims, st.audio_kind)
    specs = {name: log_spectrogram(wav) for name, wav in stims.items()}
    allspec = np.concatenate([s for s, _ in specs.values()])
    stats = (allspec.mean(0), allspec.std(0) + 1e-8)
    proj_seed = int(rng.integers(2**31))
    layer_feats: dict[str, tuple[dict, dict]] = {}
    for name in stims:
        layer_feats[name] = compute_stage_features(specs[name][0], n_units=n_units,
                                                   random_state=proj_seed, stats=stats)
    layer_names = [s[0] for s in STAGES]
    meta = {"regime": "simulated", "language": language, "preset": "stages",
            "seed": seed, "audio": sorted(audio_kind)}
    layer_info = relative_depths(layer_names)  # one layer axis (see _layers.py)
    if from_model is not None:
        layer_feats, layer_names, model_id, meta = _model_layers(
            from_model, layout.stimuli_dir(bids), stims)
        act_dir = layout.study_part(out, "activations", model_id)
        layer_info = meta.pop("_layer_info")
    n_keep = n_units // 2
    partial_feats = None
    if mode == "contrast":
        # stages = shared units S (0..n_keep) + private units P (the rest, shifted
        # by a quarter story); partial = S + units unrelated to S and P. Vertices
        # driven by S score equally with both; those driven by P need 'stages'.
        partial_feats = _roll_units(layer_feats, layer_names, n_keep, 0.5)
        layer_feats = _roll_units(layer_feats, layer_names, n_keep, 0.25)
    for name, (feats, times) in layer_feats.items():
        StimulusActivations(
            stimulus=name, layers=feats, frame_times_s=times, model_id=model_id,
            layer_order=tuple(layer_names), duration_s=stims[name].size / SFREQ,
            model_meta=meta,
            provenance=make_provenance("simulate", params={"seed": seed,
                                                           "n_units": n_units}),
            layer_info=layer_info,
        ).save(layout.activation_file(act_dir, name))
    write_json(layout.activation_index(act_dir),
               {"model_id": model_id, "stimuli": sorted(stims), "layers": layer_names})
    if partial_feats is not None:
        part_dir = layout.study_part(out, "activations", "partial")
        part_meta = {**meta, "preset": "partial", "regime": "simulated-partial"}
        for name, (feats, times) in partial_feats.items():
            StimulusActivations(
                stimulus=name, layers=feats, frame_times_s=times, model_id="partial",
                layer_order=tuple(layer_names), duration_s=stims[name].size / SFREQ,
                model_meta=part_meta,
                provenance=make_provenance("simulate", params={"seed": seed,
                                                               "n_units": n_units}),
                layer_info=layer_info,
            ).save(layout.activation_file(part_dir, name))
        write_json(layout.activation_index(part_dir),
                   {"model_id": "partial", "stimuli": sorted(stims),
                    "layers": layer_names})
    st.layer_feats, st.layer_names, st.layer_info = layer_feats, layer_names, layer_info
    st.model_id, st.act_dir = model_id, act_dir
    return n_keep


def _legacy_regressors(st: _StudyPlan) -> None:
    """``generator="legacy"``: HRF regressors per layer and run, z-scored."""
    (n_runs, tr_s, scans, generator, run_stims, layer_feats, layer_names) = (
        st.n_runs, st.tr_s, st.scans, st.generator, st.run_stims,
        st.layer_feats, st.layer_names)
    # HRF regressors per layer and run, z-scored over the concatenation.
    regs = {}
    for layer in (layer_names if generator == "legacy" else []):
        blocks = [_glover_regressors(layer_feats[run_stims[r - 1]][0][layer],
                                     layer_feats[run_stims[r - 1]][1][layer],
                                     scans[r - 1], tr_s, 0.0)
                  for r in range(1, n_runs + 1)]
        x = np.concatenate(blocks)
        x = (x - x.mean(0)) / (x.std(0) + 1e-8)
        regs[layer] = x.astype(np.float32)
    st.regs = regs
    st.n_total = sum(scans)
    st.bounds = np.cumsum([0] + scans)


def _plant_cortex(st: _StudyPlan, n_keep: int) -> None:
    """Stage per vertex from the distance to Heschl's gyrus; HRF jitter, slices."""
    (radius_mm, r_range, mode, story_locked, layer_feats, layer_names) = (
        st.radius_mm, st.r_range, st.mode, st.story_locked, st.layer_feats,
        st.layer_names)
    dists = _mesh_distances(radius_mm)
    dist, hemi_sizes = concat_hemis({h: dists[h][0] for h in HEMIS})
    n_targets = dist.size
    in_region = dist < radius_mm
    # null: nothing is driven by features; with story_locked the speech region
    # still carries a story-locked response that no feature explains
    story_region = np.zeros(n_targets, dtype=bool)
    if mode == "null":
        if story_locked:
            story_region = in_region.copy()
        in_region[:] = False
    gen_region = in_region | story_region
    n_layers = len(layer_names)
    stage = np.full(n_targets, -1, dtype=np.int64)
    stage[gen_region] = np.minimum((dist[gen_region] / radius_mm * n_layers)
                                   .astype(int), n_layers - 1)
    gen_stage = stage.copy()
    stage[~in_region] = -1
    r_base = np.zeros(n_targets)
    r_base[gen_region] = r_range[0] + (r_range[1] - r_range[0]) * dist[gen_region] / \
        radius_mm
    contrast = np.zeros(n_targets, dtype=bool)
    if mode == "contrast":
        left = np.arange(n_targets) < hemi_sizes["L"]
        contrast = left & in_region & (dist >= 0.25 * radius_mm) & \
            (dist < 0.75 * radius_mm)
    n_feat_units = max(f.shape[1] for f in next(iter(layer_feats.values()))[0].values())
    units = np.ones((n_feat_units, n_targets), dtype=np.float32)
    if mode == "contrast":
        units[n_keep:, ~contrast] = 0.0   # shared units only: models equal
        units[:n_keep, contrast] = 0.0    # units 'partial' lacks: stages > partial
    st.dist, st.hemi_sizes, st.n_targets, st.in_region = dist, hemi_sizes, n_targets, \
        in_region
    st.story_region, st.gen_region, st.stage, st.gen_stage = story_region, \
        gen_region, stage, gen_stage
    st.r_base, st.contrast, st.units = r_base, contrast, units
    slice_times, tzero = _slice_timing(st.tr_s)
    if st.generator == "realistic":
        st.adjacencies = _mesh_adjacencies()
        hrf_lag, hrf_width = _hrf_jitter(st.seed, st.adjacencies)
    else:
        tzero, slice_times = 0.0, None
        hrf_lag = hrf_width = np.zeros(n_targets)
    st.slice_times, st.tzero, st.hrf_lag, st.hrf_width = slice_times, tzero, hrf_lag, \
        hrf_width


def _write_headers(st: _StudyPlan) -> None:
    """Dataset descriptions and participants (shared by every subject)."""
    (bids, deriv, n_subjects, language) = (
        st.bids, st.deriv, st.n_subjects, st.language)
    write_json(layout.derivatives_description(bids),
               {"Name": "brainscore_speech simulated study", "BIDSVersion": "1.8.0",
                "DatasetType": "raw", "GeneratedBy": [{"Name": "brainscore_speech"}]})
    write_json(layout.derivatives_description(deriv),
               {"Name": "fMRIPrep-like derivatives (simulated)", "BIDSVersion": "1.8.0",
                "DatasetType": "derivative",
                "GeneratedBy": [{"Name": "brainscore_speech simulate"}]})
    subjects = tuple(f"{i:02d}" for i in range(1, n_subjects + 1))
    _write_tsv(layout.bids_participants(bids),
               {"participant_id": [f"sub-{s}" for s in subjects],
                "language": [language] * n_subjects})
    st.subjects = subjects
    st.planted_kind = ("model layers" if st.from_model is not None
                       else "stage features")


def _simulate_subject(st: _StudyPlan, sub_i: int, sub: str) -> None:
    """One participant: planted signal + noise, every run's files, the truth."""
    srng, r_true, signal, clean_bold, amp, noise_phi = _subject_bold(st, sub_i)
    run_r = _write_subject_runs(st, sub, srng, signal, clean_bold, amp)
    _write_subject_truth(st, sub, run_r, r_true, amp, noise_phi)


def _subject_bold(st: _StudyPlan, sub_i: int):
    """Planted signal and noise of one participant (all runs concatenated)."""
    (tr_s, seed, scans, noise_ar, generator, mode, story_locked, run_stims,
     layer_feats, layer_names, regs, n_total, n_targets, in_region, gen_region,
     stage, gen_stage, r_base, units, tzero, adjacencies, hrf_lag, hrf_width) = (
        st.tr_s, st.seed, st.scans, st.noise_ar, st.generator, st.mode,
        st.story_locked, st.run_stims, st.layer_feats, st.layer_names, st.regs,
        st.n_total, st.n_targets, st.in_region, st.gen_region, st.stage,
        st.gen_stage, st.r_base, st.units, st.tzero, st.adjacencies,
        st.hrf_lag, st.hrf_width)
    srng = np.random.default_rng([seed, sub_i + 1])
    r_true = np.clip(r_base + srng.normal(0, 0.03, n_targets) * gen_region, 0,
                     0.95)
    r_true[~gen_region] = 0.0
    signal = np.zeros((n_total, n_targets), dtype=np.float32)
    for li, layer in enumerate(layer_names if generator == "legacy" else []):
        idx = np.flatnonzero(stage == li)
        if idx.size == 0:
            continue
        w = srng.standard_normal((regs[layer].shape[1], idx.size)).astype(np.float32)
        s = regs[layer] @ w
        signal[:, idx] = (s - s.mean(0)) / (s.std(0) + 1e-8)
    if generator == "realistic":
        signal = _realistic_signal(
            srng, layer_feats=layer_feats, layer_names=layer_names,
            run_stims=run_stims, scans=scans, tr_s=tr_s, tzero=tzero,
            stage=gen_stage, units=units * in_region, lag=hrf_lag, width=hrf_width,
            story_locked=1.0 if mode == "null" else story_locked, seed=seed)
        noise, noise_phi = smooth_mesh_noise(
            srng, n_total, [adjacencies["L"], adjacencies["R"]])
    else:
        noise = _ar1(srng, n_total, n_targets, noise_ar)
        noise_phi = np.full(n_targets, noise_ar, dtype=np.float32)
    noise = (noise - noise.mean(0)) / noise.std(0)
    amp = (r_true / np.sqrt(np.maximum(1 - r_true ** 2, 1e-6))).astype(np.float32)
    clean_bold = signal * amp + noise
    return srng, r_true, signal, clean_bold, amp, noise_phi


def _write_subject_runs(st: _StudyPlan, sub: str, srng, signal, clean_bold,
                        amp) -> list[np.ndarray]:
    """Events, sidecars, confounds and BOLD of every run; the planted r per run."""
    (bids, deriv, n_runs, tr_s, space, scans, task, stims, run_stims, bounds,
     hemi_sizes, n_targets, slice_times, tzero) = (
        st.bids, st.deriv, st.n_runs, st.tr_s, st.space, st.scans, st.task,
        st.stims, st.run_stims, st.bounds, st.hemi_sizes, st.n_targets,
        st.slice_times, st.tzero)
    run_r = []
    func, dfunc = layout.bids_func(bids, sub), layout.bids_func(deriv, sub)
    for r in range(1, n_runs + 1):
        n = scans[r - 1]
        stim = run_stims[r - 1]
        _write_tsv(layout.sim_events(func, sub, task, r),
                   {"onset": [0.0], "duration": [round(stims[stim].size / SFREQ, 3)],
                    "trial_type": ["story"],
                    "stim_file": [layout.sim_stimulus(bids, stim).name]})
        raw_side = {"TaskName": task, "RepetitionTime": tr_s, "Simulated": True}
        if slice_times is not None:
            raw_side["SliceTiming"] = slice_times
        write_json(layout.sim_raw_sidecar(func, sub, task, r), raw_side)
        y = clean_bold[bounds[r - 1]:bounds[r]]
        # nuisance: motion-like random walks, CSF/WM, drift, baseline
        motion = np.cumsum(srng.normal(0, 0.05, (n, 6)), axis=0)
        motion -= motion.mean(0)
        csf = _ar1(srng, n, 1, 0.8)[:, 0]
        wm = _ar1(srng, n, 1, 0.8)[:, 0]
        cos = _cosines(n, tr_s)
        nuis = np.column_stack([motion, csf, wm])
        load = srng.normal(0, 0.4, (nuis.shape[1], n_targets)).astype(np.float32)
        trend = np.linspace(-1, 1, n)[:, None] * srng.normal(0, 0.5, n_targets)
        drift = cos[:, :2] @ srng.normal(0, 1.0, (min(2, cos.shape[1]), n_targets)) \
            if cos.shape[1] else 0.0
        bold = (100.0 + y + nuis @ load + trend + drift).astype(np.float32)
        # Planted r of this run: correlation of the planted (noise-free)
        # signal with the BOLD after the cleaning `load_bold` applies by
        # default (constant, trend, motion, CSF/WM and cosines regressed
        # out), i.e. the r of the true encoding model in this pipeline.
        design = np.column_stack([np.ones(n), np.linspace(-1, 1, n), nuis, cos])
        q, _ = np.linalg.qr(design)
        ps = signal[bounds[r - 1]:bounds[r]] * amp
        ps = ps - ps.mean(0)
        pb = y - q @ (q.T @ y)
        with np.errstate(invalid="ignore", divide="ignore"):
            rr = (ps * pb).sum(0) / np.sqrt((ps ** 2).sum(0) * (pb ** 2).sum(0))
        run_r.append(np.nan_to_num(rr))
        gs = bold.mean(1)
        conf = {"global_signal": gs, "csf": csf, "white_matter": wm,
                "trans_x": motion[:, 0], "trans_y": motion[:, 1],
                "trans_z": motion[:, 2], "rot_x": motion[:, 3],
                "rot_y": motion[:, 4], "rot_z": motion[:, 5],
                "framewise_displacement": np.r_[np.nan, np.abs(
                    np.diff(motion, axis=0)).sum(1)]}
        for k in range(cos.shape[1]):
            conf[f"cosine{k:02d}"] = cos[:, k]
        _write_tsv(layout.sim_confounds(dfunc, sub, task, r, "tsv"), conf)
        write_json(layout.sim_confounds(dfunc, sub, task, r, "json"),
                   {k: {"Description": "simulated"} for k in conf})
        for hemi, part in split_hemis(bold, hemi_sizes, axis=1).items():
            _write_gifti(layout.sim_bold(dfunc, sub, task, r, space, hemi),
                         part, tr_s)
            # fMRIPrep's sidecar: the time within the TR the scans represent
            write_json(layout.sim_bold_sidecar(dfunc, sub, task, r, space, hemi),
                       {"RepetitionTime": tr_s, "TaskName": task,
                        "SliceTimingCorrected": slice_times is not None,
                        "StartTime": tzero})
    return run_r


def _write_subject_truth(st: _StudyPlan, sub: str, run_r, r_true, amp,
                         noise_phi) -> None:
    """``TRUTH/sub-<S>_truth.npz``."""
    (truth_dir, n_runs, dist, hemi_sizes, n_targets, in_region, story_region,
     stage, contrast, hrf_lag, hrf_width, planted_kind) = (
        st.truth_dir, st.n_runs, st.dist, st.hemi_sizes, st.n_targets,
        st.in_region, st.story_region, st.stage, st.contrast, st.hrf_lag,
        st.hrf_width, st.planted_kind)
    emp_r = np.where(in_region, np.mean(run_r, axis=0), 0.0)
    story_r = np.where(story_region, np.mean(run_r, axis=0), 0.0)
    with atomic_path(layout.sim_truth(truth_dir, sub)) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, stage=stage, planted_r=emp_r.astype(np.float32),
                     nominal_r=r_true.astype(np.float32),
                     snr=(amp ** 2).astype(np.float32),
                     distance_mm=np.nan_to_num(dist, posinf=-1).astype(np.float32),
                     hemi_L=hemi_sizes["L"], hemi_R=hemi_sizes["R"],
                     driven=stage >= 0, contrast=contrast,
                     hrf_lag_s=hrf_lag.astype(np.float32),
                     hrf_width=hrf_width.astype(np.float32),
                     noise_ar=noise_phi.astype(np.float32),
                     story_region=story_region,
                     story_r=story_r.astype(np.float32))
    logger.info("Simulated sub-%s: %d runs, %d vertices (%d driven by %s)", sub,
                n_runs, n_targets, int(in_region.sum()), planted_kind)


def _write_truth(st: _StudyPlan) -> None:
    """``TRUTH/truth.json`` and the truth maps."""
    (truth_dir, model_id, n_subjects, n_runs, tr_s, space, seed, scans,
     language, task, from_model, n_units, radius_mm, r_range, noise_ar,
     generator, mode, repeat_story, story_locked, audio_kind, run_stims,
     layer_names, hemi_sizes, n_targets, stage, contrast, slice_times, tzero) = (
        st.truth_dir, st.model_id, st.n_subjects, st.n_runs, st.tr_s, st.space,
        st.seed, st.scans, st.language, st.task, st.from_model, st.n_units,
        st.radius_mm, st.r_range, st.noise_ar, st.generator, st.mode,
        st.repeat_story, st.story_locked, st.audio_kind, st.run_stims,
        st.layer_names, st.hemi_sizes, st.n_targets, st.stage, st.contrast,
        st.slice_times, st.tzero)
    write_json(layout.sim_truth_json(truth_dir), {
        "layers": layer_names, "model_id": model_id, "task": task, "space": space,
        "tr_s": tr_s, "scans_per_run": scans, "seed": seed, "language": language,
        "hemi_sizes": hemi_sizes, "radius_mm": radius_mm, "r_range": list(r_range),
        "noise_ar": noise_ar, "n_units": n_units, "audio": sorted(audio_kind),
        "stage_definition": "stage index (0-based into 'layers') per vertex; -1 = pure "
                            "noise. Files sub-<label>_truth.npz: stage, planted_r "
                            "(correlation of the noise-free planted signal with the "
                            "BOLD after load_bold's default cleaning, mean over runs: "
                            "the r of the true encoding model), nominal_r (design "
                            "value before "
                            "cleaning), snr, distance_mm.",
        "generator": generator, "mode": mode, "run_stimuli": run_stims,
        "repeat_story": bool(repeat_story), "story_locked": story_locked,
        "slice_timing": {"SliceTiming": slice_times, "StartTime": tzero},
        "generative_model": _describe_generator(generator),
        "maps": _describe_truth_maps(mode, model_id, contrast.any()),
        "truth_maps": {k: [layout.sim_truth_map(".", h, k).name for h in HEMIS]
                       for k in ("stage", "driven", "contrast")},
        "provenance": make_provenance("simulate", params={
            "n_subjects": n_subjects, "n_runs": n_runs, "tr_s": tr_s, "seed": seed,
            "scans_per_run": scans, "language": language, "generator": generator,
            "mode": mode, "repeat_story": bool(repeat_story),
            "story_locked": story_locked,
            "from_model": str(from_model) if from_model else None}, seed=seed)})
    for hemi, sl in hemi_slices(hemi_sizes, n_targets).items():
        for key, values in (("stage", stage), ("driven", stage >= 0),
                            ("contrast", contrast)):
            _write_gifti(layout.sim_truth_map(truth_dir, hemi, key),
                         np.asarray(values[sl], dtype=np.float32)[None, :], tr_s)
    for hemi, sl in hemi_slices(hemi_sizes, n_targets).items():
        for key, values in (("stage", stage), ("driven", stage >= 0),
                            ("contrast", contrast)):
            _write_gifti(layout.sim_truth_map(truth_dir, hemi, key),
                         np.asarray(values[sl], dtype=np.float32)[None, :], tr_s)


def _model_layers(checkpoint: str | os.PathLike, stimuli_dir: Path,
                  stims: dict[str, np.ndarray]):
    """Every layer of a checkpoint on each stimulus (``brainscore_speech.features``)."""
    try:
        from ..features import extract_activations, load_speech_model
    except ImportError as err:
        raise RuntimeError(
            f"'from_model' needs brainscore_speech.features (torch, transformers): "
            f"{err}") from None
    # Load (and hash) the checkpoint once; each stimulus is read back from the
    # written WAV so the activations equal those `extract` gives on the study.
    model = load_speech_model(checkpoint)
    result = {}
    names, model_id, meta = None, None, None
    for name in stims:
        acts = extract_activations(model, stimuli_dir / f"{name}.wav")
        names = list(acts.layer_order)
        model_id, meta = acts.model_id, dict(acts.model_meta)
        meta["_layer_info"] = dict(acts.layer_info)  # popped by simulate_study
        result[name] = (dict(acts.layers), dict(acts.frame_times_s))
    return result, names, model_id, meta
