"""Audio input: any common format and sample rate -> 16 kHz mono float32."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..exceptions import DataError

__all__ = ["AUDIO_EXTENSIONS", "TARGET_SFREQ", "load_audio", "audio_info", "find_audio"]

TARGET_SFREQ = 16_000
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".aiff", ".aif", ".mp3")


def audio_info(path: str | os.PathLike) -> tuple[int, int, int]:
    """``(n_samples, sfreq, n_channels)`` of an audio file, without decoding it."""
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Audio file not found: {path}")
    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError) as err:
        raise DataError(f"Cannot read audio file {path}: {err}") from None
    return int(info.frames), int(info.samplerate), int(info.channels)


def load_audio(path: str | os.PathLike, *, sfreq: int = TARGET_SFREQ) -> np.ndarray:
    """Read an audio file as mono float32 at ``sfreq`` Hz.

    Stereo is averaged to mono; resampling uses soxr (high quality, anti-aliased).

    Parameters
    ----------
    path : path-like
        A wav, flac, ogg/opus, aiff (or anything libsndfile reads).
    sfreq : int, default=16000
        Target sample rate in Hz.

    Returns
    -------
    waveform : array of shape (n_samples,), float32

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    DataError
        When the file cannot be decoded or holds no samples.
    """
    import soundfile as sf
    import soxr

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Audio file not found: {path}")
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as err:
        raise DataError(f"Cannot read audio file {path}: {err}") from None
    if data.shape[0] == 0:
        raise DataError(f"Audio file {path} is empty (0 samples).")
    # a mono file's column is already contiguous: no copy (long audiobooks)
    mono = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1, dtype=np.float32)
    if sr != sfreq:
        mono = soxr.resample(mono, sr, sfreq, quality="HQ").astype(np.float32)
    return np.ascontiguousarray(mono, dtype=np.float32)


def find_audio(source: str | os.PathLike | list) -> list[Path]:
    """List audio files: a directory (recursively, sorted), a file, or a text list.

    A ``.txt`` / ``.lst`` file is read as one path per line (relative paths are
    taken relative to the list's folder); a list of paths is returned as given.
    """
    if isinstance(source, (list, tuple)):
        return [Path(p) for p in source]
    source = Path(source)
    if source.is_dir():
        files = sorted(p for p in source.rglob("*")
                       if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file())
        if not files:
            raise FileNotFoundError(
                f"No audio files ({', '.join(AUDIO_EXTENSIONS)}) found in {source}."
            )
        return files
    if source.is_file() and source.suffix.lower() in (".txt", ".lst"):
        out = []
        for line in source.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                p = Path(line)
                out.append(p if p.is_absolute() else source.parent / p)
        return out
    if source.is_file():
        return [source]
    raise FileNotFoundError(f"Stimuli not found: {source}")
