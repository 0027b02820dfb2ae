"""A small world of real outputs (study, scores, group, checkpoint, corpus) to break.

Everything is tiny (2 subjects x 2 runs x 16 scans, a 2-layer random wav2vec2) and
built once per session; each test copies what it breaks.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest


@dataclass(frozen=True)
class World:
    root: Path
    study: Path          # simulate output: bids/, activations/stages, truth/
    bids: Path
    stages: Path         # planted stage activations
    acts: Path           # tiny model's activations of the study's stimuli
    deriv: Path          # score output of both subjects (stage1, stage2)
    group: Path          # group output
    ckpt: Path           # tiny random checkpoint (ours)
    trained: Path        # a trained tiny checkpoint (train_state present)
    corpus: Path         # folder of chirp audio
    manifest: Path       # its manifest


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> World:
    from brainscore_speech.analysis import run_group
    from brainscore_speech.data.simulate import simulate_study
    from brainscore_speech.features import (
        extract_stimuli,
        make_random_model,
        make_tiny_config,
        save_hf_checkpoint,
    )
    from brainscore_speech.training import build_manifest, make_config, train
    from brainscore_speech.workflows.score import score_subject
    from tests.training.conftest import write_chirps

    root = tmp_path_factory.mktemp("world")
    study = simulate_study(root / "study", n_subjects=2, n_runs=2, scans_per_run=16,
                           seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for sub in ("01", "02"):
            score_subject(study.bids_root, sub, study.activations, root / "deriv",
                          layers=["stage1", "stage2"])
        run_group(root / "deriv", root / "group", n_permutations=16, n_bootstrap=2)
    ckpt = save_hf_checkpoint(make_random_model(make_tiny_config(), seed=0),
                              root / "ckpt",
                              meta={"regime": "speech", "language": "en",
                                    "preset": "tiny", "seed": 0, "step": 1})
    extract_stimuli(ckpt, study.bids_root / "stimuli", root / "acts",
                    layers=["conv6", "transf0"], window_s=4.0, stride_s=2.0)
    corpus = write_chirps(root / "chirps", n_files=3, seconds=3.0)
    manifest = build_manifest(corpus, root / "chirps.tsv")
    cfg = make_config(regime="speech-en", preset="tiny", corpus=[str(manifest)],
                      out=str(root / "trained"), max_steps=1, checkpoint_every=1,
                      batch_seconds=4.0, micro_batch_seconds=4.0, eval_seconds=4.0,
                      device="cpu")
    train(cfg)
    return World(root=root, study=study.root, bids=study.bids_root,
                 stages=study.activations, acts=root / "acts", deriv=root / "deriv",
                 group=root / "group", ckpt=ckpt, trained=root / "trained",
                 corpus=corpus, manifest=manifest)


def snapshot(path: Path) -> dict | None:
    """Relative path -> (size, mtime_ns) of everything under ``path`` (None: absent)."""
    if not path.exists():
        return None
    if path.is_file():
        st = path.stat()
        return {".": (st.st_size, st.st_mtime_ns)}
    return {str(p.relative_to(path)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(path.rglob("*"))}


def truncate(path: Path, keep: float = 0.5) -> Path:
    """Cut ``path`` to a fraction of its bytes (a half-copied or killed write)."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def write_wav(path: Path, seconds: float = 1.0, seed: int = 0) -> Path:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sf.write(str(path), (0.1 * rng.standard_normal(int(seconds * 16000))).astype(
        np.float32), 16000)
    return path
