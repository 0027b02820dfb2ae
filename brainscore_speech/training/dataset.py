"""Audio corpora for pretraining: fairseq manifests, random crops, bucketed batches.

Manifest format (fairseq ``wav2vec_manifest.py``)::

    /abs/root/of/the/corpus
    relative/path/a.flac<TAB>163840
    relative/path/b.wav<TAB>52000

The first line is the root; each following line is a path relative to it (it may
not escape the root) and its length in samples **at 16 kHz**.

Batches are a pure function of ``(seed, step)``: every update draws utterances
with ``numpy.random.default_rng([seed, step])`` until ``batch_seconds`` of audio is
reached, crops each to at most ``crop_max_s`` at a random offset, sorts them by
length and packs them into micro-batches of at most ``micro_batch_seconds``
(padded size), each cropped to its shortest item (fairseq: no padding). This
makes ``--resume`` exact (the data position is the step) and lets every process
of a distributed run build the same global batch and take its share.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._io import atomic_path, check_output_file, safe_join
from .._validation import check_path
from ..data.audio import TARGET_SFREQ, audio_info, find_audio, load_audio
from ..exceptions import DataError, ManifestError
from ._preflight import min_manifest_samples, report_skipped

__all__ = ["ManifestEntry", "Corpus", "MicroBatch", "read_manifest", "write_manifest",
           "build_manifest", "load_corpus", "sample_update"]


@dataclass(frozen=True)
class ManifestEntry:
    """One manifest line: ``path`` (absolute), ``n_samples`` at 16 kHz, origin."""

    path: Path
    n_samples: int
    manifest: str
    line: int


def read_manifest(path: str | os.PathLike, *, check_files: bool = True
                  ) -> list[ManifestEntry]:
    """Parse a fairseq manifest.

    Parameters
    ----------
    path : path-like
        The ``.tsv`` manifest.
    check_files : bool
        Check that every file exists and is readable (a cheap ``stat``).

    Returns
    -------
    entries : list of ManifestEntry

    Raises
    ------
    FileNotFoundError
        The manifest itself is missing.
    ManifestError
        Bad root line, malformed line, a path escaping the root, a non-positive
        sample count, or a missing / unreadable file (each names the line).
    """
    path = check_path(path, "manifest", what="Manifest")
    lines = path.read_text().splitlines()
    if not lines or not lines[0].strip():
        raise ManifestError(f"Manifest {path} is empty; expected a root directory on "
                            "line 1, then 'relative/path<TAB>n_samples' lines.")
    root = Path(lines[0].strip())
    if not root.is_absolute():
        root = path.parent / root
    if not root.is_dir():
        raise ManifestError(f"Manifest {path} line 1: root directory "
                            f"{lines[0].strip()!r} "
                            "does not exist.")
    entries = []
    for i, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) < 2:
            raise ManifestError(f"Manifest {path} line {i}: expected "
                                f"'relative/path<TAB>n_samples', got {line!r}.")
        rel, n_text = parts[0], parts[1].strip()
        try:
            n = int(n_text)
        except ValueError:
            n = -1
        if n <= 0:
            raise ManifestError(f"Manifest {path} line {i}: n_samples must be a "
                                f"positive "
                                f"integer, got {n_text!r}.")
        try:
            full = safe_join(root, rel, what=f"Manifest {path} line {i}: path")
        except ValueError as err:
            raise ManifestError(str(err)) from None
        if check_files:
            if not full.is_file():
                raise ManifestError(f"Manifest {path} line {i}: audio file {rel!r} not "
                                    f"found under root {root}.")
            if not os.access(full, os.R_OK):
                raise ManifestError(f"Manifest {path} line {i}: audio file {full} is "
                                    "not readable (permission denied).")
        entries.append(ManifestEntry(full, n, str(path), i))
    if not entries:
        raise ManifestError(f"Manifest {path} lists no audio files (only the root "
                            f"line).")
    return entries


def write_manifest(root: str | os.PathLike, rows: Sequence[tuple[str, int]],
                   out: str | os.PathLike) -> Path:
    """Write a manifest atomically (root line, then ``relpath<TAB>n_samples``).

    Parameters
    ----------
    root : str or os.PathLike
        Folder the paths are relative to (first line).
    rows : sequence of (str, int)
        Relative path and number of samples of each file.
    out : str or os.PathLike
        The manifest to write.

    Returns
    -------
    Path
        ``out``.
    """
    out = Path(out)
    text = str(Path(root).resolve()) + "\n" + "".join(
        f"{r}\t{int(n)}\n" for r, n in rows)
    with atomic_path(out) as tmp:
        tmp.write_text(text)
    return out


def build_manifest(directory: str | os.PathLike, out: str | os.PathLike, *,
                   min_seconds: float = 0.0) -> Path:
    """Scan ``directory`` (recursively) for audio and write a manifest.

    Parameters
    ----------
    directory : path-like
    out : path-like
        Manifest to write (``.tsv``).
    min_seconds : float
        Skip files shorter than this.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    FileNotFoundError
        The directory is missing or holds no audio.
    DataError
        A file cannot be read (named).
    """
    directory = Path(directory)
    check_output_file(out, what="--out")
    check_path(directory, "directory", kind="dir", what="Corpus directory")
    min_n, rows, files = min_manifest_samples(min_seconds), [], find_audio(directory)
    for f in files:
        frames, sr, _ = audio_info(f)
        n = int(round(frames * TARGET_SFREQ / sr))
        if n >= min_n:
            rows.append((f.relative_to(directory).as_posix(), n))
    report_skipped(len(files) - len(rows), min_n, directory)
    if not rows:
        raise FileNotFoundError(f"No audio of at least {min_seconds} s in {directory}.")
    return write_manifest(directory, rows, out)


class Corpus:
    """The utterances of one or more manifests that are long enough to crop.

    Parameters
    ----------
    entries : list of ManifestEntry
    crop_min_s : float
        Shorter utterances are dropped (fairseq ``min_sample_size``).
    cache_size : int
        Decoded files kept in memory.
    """

    def __init__(self, entries: list[ManifestEntry], *, crop_min_s: float,
                 cache_size: int = 128) -> None:
        min_n = int(round(crop_min_s * TARGET_SFREQ))
        self.entries = [e for e in entries if e.n_samples >= min_n]
        if not self.entries:
            longest = max(e.n_samples for e in entries) / TARGET_SFREQ
            sources = sorted({e.manifest for e in entries})
            raise DataError(
                f"Corpus {sources} is shorter than one crop: all {len(entries)} "
                f"utterance(s) are shorter than crop_min_s={crop_min_s} s (the longest "
                f"is {longest:.2f} s). Add longer audio or lower --crop-min.")
        self.n_dropped = len(entries) - len(self.entries)
        self.lengths = np.array([e.n_samples for e in self.entries], dtype=np.int64)
        self._load = functools.lru_cache(maxsize=cache_size)(self._load_uncached)

    @property
    def hours(self) -> float:
        """Total audio (hours) of the usable utterances."""
        return float(self.lengths.sum()) / TARGET_SFREQ / 3600.0

    def __len__(self) -> int:
        return len(self.entries)

    def _load_uncached(self, index: int) -> np.ndarray:
        e = self.entries[index]
        try:
            return load_audio(e.path)
        except (OSError, DataError) as err:
            raise DataError(f"Manifest {e.manifest} line {e.line}: cannot read "
                            f"{e.path}: {err}") from None

    def crop(self, index: int, offset: int, length: int) -> np.ndarray:
        """``length`` samples from ``offset`` (zero-padded if the file is shorter
        than its manifest says), float32."""
        wav = self._load(index)[offset:offset + length]
        if len(wav) < length:
            wav = np.pad(wav, (0, length - len(wav)))
        return wav


def load_corpus(manifests: Sequence[str | os.PathLike], *, crop_min_s: float,
                check_files: bool = True) -> Corpus:
    """Read manifests into a :class:`Corpus` (see :func:`read_manifest`).

    Parameters
    ----------
    manifests : sequence of str or os.PathLike
        fairseq-style manifests.
    crop_min_s : float
        Utterances shorter than this (s) are left out.
    check_files : bool, default=True
        Check that every audio file exists.

    Returns
    -------
    Corpus
        The utterances of every manifest.
    """
    if not manifests:
        raise ValueError("At least one manifest is needed; got none.")
    entries: list[ManifestEntry] = []
    for m in manifests:
        entries.extend(read_manifest(m, check_files=check_files))
    return Corpus(entries, crop_min_s=crop_min_s)


@dataclass(frozen=True)
class MicroBatch:
    """Crops of one forward pass, all ``n_samples`` long.

    ``items``: tuple of (utterance index, offset in samples); ``seed``: seeds the
    masks, negatives and torch noise of this pass.

    Parameters
    ----------
    items : tuple of (int, int)
        (utterance index, offset in samples) of each crop.
    n_samples : int
        Length of every crop.
    seed : int
        Seeds the masks, negatives and torch noise of this pass.
    """

    items: tuple[tuple[int, int], ...]
    n_samples: int
    seed: int

    def load(self, corpus: Corpus, *, normalize: bool) -> np.ndarray:
        """Waveforms, shape (n_items, n_samples), float32 (z-scored per crop
        when ``normalize``; HF ``Wav2Vec2FeatureExtractor`` formula)."""
        x = np.stack([corpus.crop(i, o, self.n_samples) for i, o in self.items])
        if normalize:
            x = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-7)
        return x.astype(np.float32, copy=False)


def sample_update(corpus: Corpus, *, seed: int, step: int, batch_seconds: float,
                  micro_batch_seconds: float, crop_max_s: float, world_size: int = 1,
                  stream: int = 0) -> list[MicroBatch]:
    """The micro-batches of one update (identical on every process).

    Parameters
    ----------
    corpus : Corpus
    seed, step : int
        The batch is a pure function of these.
    batch_seconds : float
        Audio (s) to draw for the update (over all processes).
    micro_batch_seconds : float
        Max padded audio (s) per micro-batch.
    crop_max_s : float
    world_size : int
        The number of micro-batches is made a multiple of it (so every process
        runs the same number of passes); micro-batch ``i`` goes to rank
        ``i % world_size``.
    stream : int
        Independent random stream (0 training, 1 validation).

    Returns
    -------
    list of MicroBatch
    """
    rng = np.random.default_rng([seed, step, stream])
    max_n = int(round(crop_max_s * TARGET_SFREQ))
    target = batch_seconds * TARGET_SFREQ
    picks: list[tuple[int, int]] = []  # (index, crop length)
    total = 0
    while total < target or len(picks) < world_size:
        i = int(rng.integers(len(corpus)))
        n = int(min(corpus.lengths[i], max_n))
        picks.append((i, n))
        total += n
    picks.sort(key=lambda p: -p[1])
    cap = micro_batch_seconds * TARGET_SFREQ
    groups: list[list[tuple[int, int]]] = []
    for p in picks:
        if groups and (len(groups[-1]) + 1) * p[1] <= cap:
            groups[-1].append(p)
        else:
            groups.append([p])
    while len(groups) % world_size:
        j = max(range(len(groups)), key=lambda g: len(groups[g]))
        if len(groups[j]) < 2:
            raise ValueError(f"Cannot split {len(picks)} crops into a multiple of "
                             f"{world_size} processes; raise batch_seconds.")
        g = groups.pop(j)
        groups[j:j] = [g[: len(g) // 2], g[len(g) // 2:]]
    out = []
    for g in groups:
        length = min(n for _, n in g)
        items = tuple((i, int(rng.integers(0, corpus.lengths[i] - length + 1)))
                      for i, _ in g)
        out.append(MicroBatch(items, length, int(rng.integers(2**31 - 1))))
    return out
