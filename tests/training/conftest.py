"""Fixtures of the training tests: tiny synthetic corpora and real-speech manifests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SFREQ = 16000


def write_chirps(folder: Path, n_files: int = 6, seconds: float = 3.0,
                 seed: int = 0) -> Path:
    """Predictable audio: 3 AM gliding tones + 5 % noise per file (FINDINGS §1a)."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * SFREQ)) / SFREQ
    for i in range(n_files):
        x = np.zeros_like(t)
        for _ in range(3):
            f0, f1 = rng.uniform(100, 3000, size=2)
            phase = 2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * seconds))
            am = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(2, 8) * t)
            x += am * np.sin(phase)
        x += 0.05 * rng.standard_normal(t.size)
        sf.write(folder / f"chirp{i:02d}.wav", (0.2 * x).astype(np.float32), SFREQ)
    return folder


@pytest.fixture(scope="session")
def chirp_manifest(tmp_path_factory) -> Path:
    """Manifest of 6 x 3 s synthetic chirp files."""
    from brainscore_speech.training import build_manifest

    root = tmp_path_factory.mktemp("chirps")
    write_chirps(root / "audio")
    return build_manifest(root / "audio", root / "chirps.tsv")


@pytest.fixture(scope="session")
def speech_manifests(shared_data, tmp_path_factory) -> list[Path]:
    """Manifests of the real English and French clips of ../shared/data/speech."""
    from brainscore_speech.training import build_manifest

    root = tmp_path_factory.mktemp("speech")
    return [build_manifest(shared_data / "speech" / lang, root / f"{lang}.tsv")
            for lang in ("en", "fr")]


@pytest.fixture(scope="session")
def noise_manifest(tmp_path_factory) -> Path:
    """Manifest of white noise (no structure to predict): 8 x 10 s."""
    import soundfile as sf

    from brainscore_speech.training import build_manifest

    root = tmp_path_factory.mktemp("noise")
    rng = np.random.default_rng(0)
    (root / "audio").mkdir()
    for i in range(8):
        sf.write(root / "audio" / f"noise{i}.wav",
                 (0.1 * rng.standard_normal(10 * SFREQ)).astype(np.float32), SFREQ)
    return build_manifest(root / "audio", root / "noise.tsv")


#: small k-means settings for test speed (the recipe's own are tested separately)
FAST_KMEANS = {"n_init": 2, "batch_size": 512, "max_iter": 20}


@pytest.fixture(scope="session")
def chirp_targets(chirp_manifest, tmp_path_factory) -> Path:
    """Iteration-1 (MFCC, K = 8) targets of the chirp corpus."""
    from brainscore_speech.training import build_targets

    out = tmp_path_factory.mktemp("chirp_targets") / "targets"
    build_targets([chirp_manifest], out, n_clusters=8, fraction=1.0, seed=0,
                  kmeans=FAST_KMEANS)
    return out
