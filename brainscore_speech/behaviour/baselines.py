"""MFCC baseline representation for the ABX stage (numpy / scipy only).

Kaldi-like defaults, as in the Millet & Dunbar baselines: 25 ms Hamming windows
every 10 ms, pre-emphasis 0.97, 512-point FFT power spectrum, 23 triangular
mel filters (20 Hz .. Nyquist, HTK mel scale), log energies, orthonormal DCT-II
keeping 13 coefficients, first and second derivatives (regression over +-2
frames), then per-file mean-variance normalisation (the published features used
a 300 ms sliding window instead). Frame ``i`` is centred at
``(160 i + 200) / 16000`` s.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .. import layout
from .._io import file_hash, make_provenance
from .._logging import progress
from ..containers import StimulusActivations, read_activation_meta

__all__ = ["mel_filterbank", "compute_mfcc", "extract_mfcc"]

_WIN, _HOP, _NFFT = 400, 160, 512


def _hz_to_mel(f):
    return 1127.0 * np.log1p(np.asarray(f, dtype=np.float64) / 700.0)


def _mel_to_hz(m):
    return 700.0 * np.expm1(np.asarray(m, dtype=np.float64) / 1127.0)


def mel_filterbank(n_mels: int = 23, *, n_fft: int = _NFFT, sfreq: int = 16000,
                   fmin: float = 20.0, fmax: float | None = None) -> np.ndarray:
    """Triangular mel filters (HTK mel scale), shape (n_mels, n_fft // 2 + 1).

    Filter ``k`` rises linearly (in mel) from centre ``k - 1`` to ``k`` and falls
    to ``k + 1``; centres are equally spaced in mel between ``fmin`` and ``fmax``.

    Parameters
    ----------
    n_mels : int, default=23
        Number of filters.
    n_fft : int, default=512
        FFT size (``n_fft // 2 + 1`` frequency bins).
    sfreq : int, default=16000
        Sampling rate (Hz).
    fmin : float, default=20.0
        Lowest edge (Hz).
    fmax : float, optional
        Highest edge (Hz); default ``sfreq / 2``.

    Returns
    -------
    ndarray of shape (n_mels, n_fft // 2 + 1)
        Filter weights.
    """
    fmax = sfreq / 2 if fmax is None else fmax
    mels = np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2)
    bins_mel = _hz_to_mel(np.arange(n_fft // 2 + 1) * sfreq / n_fft)
    lo, mid, hi = mels[:-2, None], mels[1:-1, None], mels[2:, None]
    up = (bins_mel[None, :] - lo) / (mid - lo)
    down = (hi - bins_mel[None, :]) / (hi - mid)
    return np.maximum(0.0, np.minimum(up, down))


def _deltas(x: np.ndarray, width: int = 2) -> np.ndarray:
    pad = np.pad(x, ((width, width), (0, 0)), mode="edge")
    n = len(x)
    num = sum(k * (pad[width + k: n + width + k] - pad[width - k: n + width - k])
              for k in range(1, width + 1))
    return num / (2.0 * sum(k * k for k in range(1, width + 1)))


def compute_mfcc(wave: np.ndarray, *, sfreq: int = 16000, n_mfcc: int = 13,
                 n_mels: int = 23, deltas: bool = True, cmvn: bool = True
                 ) -> tuple[np.ndarray, np.ndarray]:
    """MFCCs of a waveform (see the module docstring for the recipe).

    Parameters
    ----------
    wave : array of shape (n_samples,)
        Mono waveform at ``sfreq`` (16 kHz expected).
    sfreq : int, default=16000
    n_mfcc : int, default=13
    n_mels : int, default=23
    deltas : bool, default=True
        Append first and second derivatives (3 x ``n_mfcc`` columns).
    cmvn : bool, default=True
        Mean-variance normalise each column over the file.

    Returns
    -------
    features : array of shape (n_frames, n_mfcc * (3 if deltas else 1)), float32
    times_s : array of shape (n_frames,)
        Centre of each 25 ms window, in seconds.
    """
    from scipy.fft import dct

    x = np.asarray(wave, dtype=np.float64)
    if x.ndim != 1 or len(x) < _WIN:
        raise ValueError(f"'wave' must be 1-D with at least {_WIN} samples "
                         f"(25 ms at 16 kHz), got shape {x.shape}.")
    n_frames = (len(x) - _WIN) // _HOP + 1
    idx = np.arange(_WIN)[None, :] + _HOP * np.arange(n_frames)[:, None]
    frames = x[idx]
    frames = frames - frames.mean(axis=1, keepdims=True)  # Kaldi removes DC
    frames = np.concatenate([frames[:, :1] * (1 - 0.97),
                             frames[:, 1:] - 0.97 * frames[:, :-1]], axis=1)
    frames *= np.hamming(_WIN)[None, :]
    power = np.abs(np.fft.rfft(frames, n=_NFFT, axis=1)) ** 2
    energies = power @ mel_filterbank(n_mels, sfreq=sfreq).T
    logmel = np.log(np.maximum(energies, np.finfo(np.float64).eps))
    ceps = dct(logmel, type=2, norm="ortho", axis=1)[:, :n_mfcc]
    feats = ceps
    if deltas:
        d1 = _deltas(ceps)
        feats = np.concatenate([ceps, d1, _deltas(d1)], axis=1)
    if cmvn:
        sd = feats.std(axis=0)
        feats = (feats - feats.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    times = (np.arange(n_frames) * _HOP + _WIN / 2) / sfreq
    return feats.astype(np.float32), times


def extract_mfcc(audio_files: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
                 *, skip_existing: bool = True) -> list[Path]:
    """Write the MFCCs of every audio file as an activation file (layer ``mfcc``).

    Parameters
    ----------
    audio_files : sequence of path-like
    out_dir : path-like
        Receives ``<stem>.h5`` files (``model_id`` "mfcc"), written atomically; a
        file whose recorded audio hash matches is skipped.
    skip_existing : bool, default=True

    Returns
    -------
    paths : list of Path
    """
    from ..data.audio import load_audio

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for f in progress(list(audio_files), desc="mfcc", unit="file"):
        f = Path(f)
        dest = layout.activation_file(out, f.stem)
        paths.append(dest)
        sha = file_hash(f)
        if skip_existing and dest.is_file():
            try:
                if read_activation_meta(dest)["provenance"]["inputs"]["audio"][
                        "sha256"] == sha:
                    continue
            except (KeyError, TypeError, OSError, ValueError):
                pass
        wave = load_audio(f)
        feats, times = compute_mfcc(wave)
        prov = make_provenance("mfcc", params={"n_mfcc": 13, "n_mels": 23,
                                               "deltas": True, "cmvn": "file"},
                               inputs={"audio": {"path": str(f), "sha256": sha}})
        StimulusActivations(
            stimulus=f.stem, layers={"mfcc": feats}, frame_times_s={"mfcc": times},
            model_id="mfcc", layer_order=("mfcc",), duration_s=len(wave) / 16000,
            model_meta={"regime": "baseline"}, provenance=prov).save(dest)
    return paths
