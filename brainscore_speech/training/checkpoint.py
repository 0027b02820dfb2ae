"""HF-format checkpoint directories, written atomically (docs/ARCHITECTURE.md).

Layout of ``CKPT/``::

    config.json, model.safetensors        save_pretrained of Wav2Vec2ForPreTraining
                                          (or the HuBERT / WavLM masked-prediction
                                          model: weights ``hubert.*`` / ``wavlm.*``)
    preprocessor_config.json              Wav2Vec2FeatureExtractor (do_normalize)
    brainscore_speech.json                regime, objective, language, preset, seed,
                                          step, config, provenance, best, hours_seen
    train_state/state.pt                  optimizer, schedule, RNG, data position
                                          (torch.load(weights_only=True))
    metrics.jsonl                         one record per update
    best/                                 weights with the lowest validation loss

A checkpoint is first written complete into a sibling ``.CKPT.tmp-*`` directory,
then swapped in with two renames (``CKPT`` -> ``.CKPT.old-tmp``, temp -> ``CKPT``).
:func:`recover_checkpoint_dir` repairs a swap cut short by a crash, so ``CKPT``
always holds one complete checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .. import layout
from .._io import make_provenance, read_json, write_json
from ..exceptions import DataError
from .config import TrainConfig

__all__ = ["Checkpoint", "save_checkpoint", "load_train_state",
           "recover_checkpoint_dir",
           "read_metrics", "META_NAME"]

META_NAME = layout.CHECKPOINT_META


@dataclass(frozen=True)
class Checkpoint:
    """A training checkpoint on disk.

    Parameters
    ----------
    path : Path
        The HF-format directory.
    config : TrainConfig
        The resolved configuration it was trained with.
    step : int
        Number of updates done.
    git_sha : str or None
    best : dict
        ``{"step", "valid_loss", "held_out"}`` of ``path / "best"`` (empty if none).
    """

    path: Path
    config: TrainConfig
    step: int
    git_sha: str | None = None
    best: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        return (f"<Checkpoint {self.config.regime} {self.config.preset} seed="
                f"{self.config.seed} step={self.step} at {self.path}>")

    @classmethod
    def load(cls, path: str | os.PathLike) -> Checkpoint:
        """Read ``path/brainscore_speech.json``.

        Raises
        ------
        FileNotFoundError
            When ``path`` is not a brainscore_speech checkpoint.
        """
        path = Path(path)
        meta_path = layout.checkpoint_meta(path)
        if not meta_path.is_file():
            raise FileNotFoundError(f"Not a brainscore_speech checkpoint: {meta_path} "
                                    "is missing.")
        meta = read_json(meta_path)
        return cls(path=path, config=TrainConfig.from_dict(meta["config"]),
                   step=int(meta["step"]),
                   git_sha=(meta.get("provenance") or {}).get("git_sha"),
                   best=meta.get("best") or {})


def recover_checkpoint_dir(out: str | os.PathLike) -> None:
    """Finish or undo a checkpoint swap that a crash interrupted; drop temp dirs."""
    out = Path(out)
    old = layout.checkpoint_sibling(out, "old-tmp")
    if old.exists():
        if out.exists():
            shutil.rmtree(old)
        else:
            os.replace(old, out)
    if out.parent.is_dir():
        for p in out.parent.glob(f".{out.name}.tmp-*"):
            shutil.rmtree(p, ignore_errors=True)


def read_metrics(path: str | os.PathLike) -> list[dict]:
    """Records of ``CKPT/metrics.jsonl`` (empty list when absent).

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint directory.

    Returns
    -------
    list of dict
        One record per logged update.
    """
    p = layout.checkpoint_metrics(path) if Path(path).is_dir() else Path(path)
    if not p.is_file():
        return []
    try:
        return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"Cannot read metrics file {p}: {err}") from None


def _write_model(dest: Path, model, feature_extractor) -> None:
    model.save_pretrained(dest, safe_serialization=True)
    feature_extractor.save_pretrained(dest)


def save_checkpoint(out: str | os.PathLike, *, model, feature_extractor,
                    config: TrainConfig, step: int, state: dict[str, Any],
                    best: dict | None = None, new_best: bool = False,
                    extra_meta: dict | None = None) -> Checkpoint:
    """Write a complete checkpoint into ``out`` atomically.

    Parameters
    ----------
    out : path-like
    model : Wav2Vec2ForPreTraining
        Unwrapped, any device (saved as float32 safetensors).
    feature_extractor : Wav2Vec2FeatureExtractor
    config : TrainConfig
    step : int
    state : dict
        Training state (tensors, numbers, strings, nested dicts/lists only).
    best : dict, optional
        Record of the best-validation weights.
    new_best : bool
        Whether the current weights become ``best/``; otherwise the previous
        ``best/`` is carried over.
    extra_meta : dict, optional
        Added to ``brainscore_speech.json``.

    Returns
    -------
    Checkpoint
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    recover_checkpoint_dir(out)
    tmp = layout.checkpoint_sibling(out, f"tmp-{step}-{os.getpid()}")
    tmp.mkdir()
    try:
        _write_model(tmp, model, feature_extractor)
        layout.checkpoint_state(tmp).parent.mkdir()
        torch.save(state, layout.checkpoint_state(tmp))
        metrics = read_metrics(out)
        with open(layout.checkpoint_metrics(tmp), "w") as f:
            for rec in metrics:
                if rec.get("step", 0) <= step:
                    f.write(json.dumps(rec) + "\n")
        best_dir = layout.checkpoint_best(tmp)
        if new_best:
            best_dir.mkdir()
            for name in layout.CHECKPOINT_MODEL_FILES:
                os.link(layout.checkpoint_model_file(tmp, name),
                        layout.checkpoint_model_file(best_dir, name))
        elif layout.checkpoint_best(out).is_dir():
            shutil.copytree(layout.checkpoint_best(out), best_dir,
                            copy_function=os.link)
        cfg = config.to_dict()
        prov = make_provenance("train", params=cfg, seed=config.seed,
                               inputs={f"corpus{i}": c
                                       for i, c in enumerate(config.corpus)})
        meta = {"regime": config.regime_kind, "regime_name": config.regime,
                "objective": config.objective,
                "language": config.language, "preset": config.preset,
                "seed": config.seed, "step": int(step), "config": cfg,
                "provenance": prov, "best": best or {}}
        meta.update(extra_meta or {})
        write_json(layout.checkpoint_meta(tmp), meta)
        if best_dir.is_dir():
            write_json(layout.checkpoint_meta(best_dir),
                       {**meta, "step": (best or {}).get("step")})
        old = layout.checkpoint_sibling(out, "old-tmp")
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
        if old.exists():
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return Checkpoint(path=out, config=config, step=int(step),
                      git_sha=prov.get("git_sha"), best=best or {})


def load_train_state(path: str | os.PathLike) -> dict[str, Any]:
    """``torch.load(CKPT/train_state/state.pt, weights_only=True)``.

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint directory.

    Returns
    -------
    dict
        Optimizer, scheduler and RNG states, and the step.
    """
    p = layout.checkpoint_state(path)
    if not p.is_file():
        raise FileNotFoundError(f"Cannot resume: {p} is missing (not a training "
                                "checkpoint, or written by --regime random).")
    try:
        return torch.load(p, weights_only=True, map_location="cpu")
    except (RuntimeError, EOFError, ValueError) as err:  # truncated zip, bad pickle
        raise DataError(f"Cannot read training state {p}: {' '.join(str(err).split())}"
                        ) from None
