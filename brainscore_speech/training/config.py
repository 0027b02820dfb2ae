"""Training configuration: presets (architecture + recipe), regimes (corpora, language).

A run is fully described by one frozen :class:`TrainConfig`. It is resolved from

1. the **preset** (``tiny``, ``base``, ``large``): the architecture (see
   :mod:`brainscore_speech.training.model`) and the optimisation recipe that goes
   with it (:data:`PRESET_DEFAULTS`);
2. the **regime** (a YAML file shipped in ``training/regimes/`` or a path to one):
   what the model hears (``kind``: ``random`` | ``sound`` | ``speech``), its
   ``language`` (ISO code or null), a target amount of audio and optional corpora;
3. explicit overrides (CLI options), which win.

Shipped regimes: ``random`` (untrained, same architecture), ``sound``,
``speech-en``, ``speech-fr``, ``speech-zh``, ``speech-nl``. There is no
"native" regime: native / non-native is decided at scoring time by comparing the
model's ``language`` (recorded in ``brainscore_speech.json``) with the
participants' language, so one English model is native for English listeners and
non-native for French ones.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .._io import load_yaml
from .._validation import (
    check_device,
    check_int,
    check_option,
    check_path,
    check_scalar,
    check_unknown_keys,
)
from ..exceptions import UsageError

__all__ = [
    "OBJECTIVES",
    "OBJECTIVE_DEFAULTS",
    "PRESETS",
    "PRESET_DEFAULTS",
    "REGIME_KINDS",
    "Regime",
    "TrainConfig",
    "list_regimes",
    "load_regime",
    "make_config",
]

PRESETS = ("tiny", "base", "large")
OBJECTIVES = ("wav2vec2", "hubert", "wavlm")
REGIME_KINDS = ("random", "sound", "speech")

#: Keys that may change between a run and its ``--resume`` (bookkeeping only).
RESUMABLE_KEYS = ("out", "checkpoint_every", "log_every", "device")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (resolved; recorded in the checkpoint).

    Defaults are the ``base`` preset (fairseq wav2vec 2.0 BASE, METHODS §3.3/§14.4);
    :func:`make_config` fills in another preset's values.

    Parameters
    ----------
    regime : str
        Regime name (``"speech-en"``) or path of a regime YAML.
    regime_kind : {"random", "sound", "speech"}
        What the model hears; ``random`` means no training at all.
    language : str or None
        ISO 639-1 code of the training speech (None for sound / random).
    preset : {"tiny", "base", "large"}
        Architecture and recipe.
    corpus : tuple of str
        Training manifests (fairseq TSV: root line, then ``relpath<TAB>n_samples``).
    valid_corpus : tuple of str
        Validation manifests; when empty, fixed crops of the training corpus are
        used (not held out; the best-checkpoint record says so).
    out : str
        Checkpoint directory.
    seed : int
        Seeds the initialisation, the crops, masks, negatives and Gumbel noise.
    max_steps : int
        Number of updates (0 writes the initial checkpoint only).
    lr : float
        Peak learning rate.
    warmup_frac : float
        Fraction of ``max_steps`` of linear warm-up.
    lr_schedule : {"linear", "constant"}
        Decay after warm-up: linear to 0 at ``max_steps`` (fairseq
        ``polynomial_decay`` with power 1) or constant.
    betas, eps, weight_decay : float
        AdamW parameters.
    batch_seconds : float
        Target audio per update, in seconds, summed over processes (gradient
        accumulation fills it). fairseq BASE: 1.4 M samples x 64 GPUs = 5600 s.
    micro_batch_seconds : float
        At most this much (padded) audio per forward pass and process.
    crop_min_s, crop_max_s : float
        Utterances shorter than ``crop_min_s`` are skipped; longer ones are
        randomly cropped to ``crop_max_s``; a micro-batch is cropped to its
        shortest item (fairseq, no padding).
    normalize : bool
        Z-score each crop (``do_normalize`` of the saved feature extractor).
    diversity_loss_weight, feature_penalty_weight : float
        Loss weights (fairseq ``loss_weights`` [0.1, 10]).
    feature_grad_mult : float
        Scale of the gradient flowing into the conv feature encoder.
    gumbel_max, gumbel_min : float
        Gumbel-softmax temperature range.
    gumbel_decay : float or None
        Per-update factor; None chooses it so ``gumbel_min`` is reached at 70% of
        ``max_steps`` (METHODS §14.4).
    grad_clip : float
        Max global L2 norm of the gradient (0 disables).
    checkpoint_every, log_every : int
        In updates. The validation loss is estimated at every checkpoint.
    eval_seconds : float
        Audio used for each validation estimate.
    collapse_perplexity : float
        Code perplexity (summed over groups) below which the codebook counts as
        collapsed. Full collapse is ``G`` (one code per group).
    collapse_patience : int
        Consecutive unhealthy updates before the run is stopped.
    grad_norm_band : tuple of float
        (low, high) band of the pre-clip gradient norm; outside it is logged and
        warned; below ``low`` counts towards collapse.
    device : str
        ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda[:i]"``.
    amp : bool
        bf16 autocast on CUDA (never on CPU).
    objective : {"wav2vec2", "hubert", "wavlm"}
        What the model learns: contrastive + diversity (wav2vec 2.0) or masked
        prediction of k-means targets (HuBERT; WavLM adds utterance mixing and its
        gated relative position bias).
    targets : str
        Targets directory (``brainscore-speech targets``) for hubert / wavlm.
    pred_masked_weight, pred_nomask_weight : float
        Cross-entropy weights on masked and unmasked frames (fairseq 1.0, 0.0).
    mix_prob, mix_max_ratio, mix_noise_prob : float
        WavLM utterance mixing: probability that a crop is mixed, largest
        overlapped fraction, probability that the secondary is noise.
    mix_energy_db : tuple of float
        Range of the primary / secondary energy ratio (dB).
    collapse_unit_share : float
        HuBERT / WavLM: an update whose most frequent predicted unit takes more
        than this share of the masked predictions counts as collapsed.
    """

    regime: str = "speech-en"
    regime_kind: str = "speech"
    language: str | None = "en"
    preset: str = "base"
    corpus: tuple[str, ...] = ()
    valid_corpus: tuple[str, ...] = ()
    out: str = "checkpoint"
    seed: int = 0
    max_steps: int = 400_000
    lr: float = 5e-4
    warmup_frac: float = 0.08
    lr_schedule: str = "linear"
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-6
    weight_decay: float = 0.01
    batch_seconds: float = 5600.0
    micro_batch_seconds: float = 87.5
    crop_min_s: float = 2.0
    crop_max_s: float = 15.625
    normalize: bool = False
    diversity_loss_weight: float = 0.1
    feature_penalty_weight: float = 10.0
    feature_grad_mult: float = 0.1
    gumbel_max: float = 2.0
    gumbel_min: float = 0.5
    gumbel_decay: float | None = None
    grad_clip: float = 5.0
    checkpoint_every: int = 1000
    log_every: int = 10
    eval_seconds: float = 60.0
    collapse_perplexity: float = 10.0
    collapse_patience: int = 50
    grad_norm_band: tuple[float, float] = (1e-6, 1e3)
    device: str = "auto"
    amp: bool = True
    objective: str = "wav2vec2"
    targets: str = ""
    pred_masked_weight: float = 1.0
    pred_nomask_weight: float = 0.0
    mix_prob: float = 0.2
    mix_max_ratio: float = 0.5
    mix_noise_prob: float = 0.0
    mix_energy_db: tuple[float, float] = (-5.0, 5.0)
    collapse_unit_share: float = 0.95

    def __post_init__(self) -> None:
        check_option("preset", self.preset, PRESETS)
        check_option("regime_kind", self.regime_kind, REGIME_KINDS)
        check_option("lr_schedule", self.lr_schedule, ("linear", "constant"))
        check_device("device", self.device, allow_auto=True)
        check_option("objective", self.objective, OBJECTIVES)
        for name in ("mix_prob", "mix_max_ratio", "mix_noise_prob",
                     "collapse_unit_share"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
                raise ValueError(f"{name!r} must be in [0, 1], got {value!r}.")
        if (self.objective != "wav2vec2" and self.regime_kind != "random"
                and self.max_steps > 0 and not self.targets):
            raise ValueError(
                f"Objective {self.objective!r} needs hidden-unit targets: pass "
                "--targets DIR (build them with `brainscore-speech targets "
                "--corpus MANIFEST --out DIR`).")
        for name in ("max_steps", "seed"):
            value = getattr(self, name)
            if not isinstance(value, int):  # 3.0 is refused in a config
                raise UsageError(f"{name!r} must be a non-negative int, got {value!r}.")
            check_int(name, value, low=0, expected="a non-negative int")
        for name in ("checkpoint_every", "log_every", "collapse_patience"):
            value = getattr(self, name)
            if not isinstance(value, int):
                raise UsageError(f"{name!r} must be a positive int, got {value!r}.")
            check_int(name, value, low=1, expected="a positive int")
        for name in ("lr", "batch_seconds", "micro_batch_seconds", "crop_min_s",
                     "crop_max_s", "gumbel_max", "gumbel_min", "eval_seconds"):
            value = getattr(self, name)
            check_scalar(name, value, low=0, inclusive="neither",
                         expected="a positive number")
        if self.crop_min_s > self.crop_max_s:
            raise UsageError(
                f"'crop_min_s' ({self.crop_min_s}) must not exceed 'crop_max_s' "
                f"({self.crop_max_s}).")
        if self.micro_batch_seconds < self.crop_min_s:
            raise UsageError(
                f"'micro_batch_seconds' ({self.micro_batch_seconds}) must hold at "
                f"least one crop of 'crop_min_s' ({self.crop_min_s}) seconds.")
        if not 0.0 <= self.warmup_frac < 1.0:
            raise ValueError(f"'warmup_frac' must be in [0, 1), got "
                             f"{self.warmup_frac}.")
        if self.regime_kind != "random" and self.max_steps > 0 and not self.corpus:
            raise ValueError(
                f"Regime {self.regime!r} ({self.regime_kind}) needs a training corpus: "
                "pass --corpus MANIFEST.tsv (build one with `brainscore-speech corpus "
                "build DIR --out MANIFEST.tsv`) or list 'corpora' in the regime YAML.")

    @property
    def gumbel_decay_resolved(self) -> float:
        """Per-update Gumbel temperature factor (see ``gumbel_decay``)."""
        if self.gumbel_decay is not None:
            return float(self.gumbel_decay)
        n = max(1.0, 0.7 * self.max_steps)
        return float((self.gumbel_min / self.gumbel_max) ** (1.0 / n))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict of every field (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are a ValueError."""
        check_unknown_keys("TrainConfig", data,
                           [f.name for f in dataclasses.fields(cls)])
        kw = {}
        for f in dataclasses.fields(cls):
            if f.name in data:
                v = data[f.name]
                kw[f.name] = tuple(v) if isinstance(v, list) else v
        return cls(**kw)

    def diff(self, other: TrainConfig, *, ignore: tuple[str, ...] = RESUMABLE_KEYS
             ) -> dict[str, tuple[Any, Any]]:
        """Fields that differ: ``{name: (self value, other value)}``."""
        a, b = self.to_dict(), other.to_dict()
        return {k: (a[k], b[k]) for k in a if k not in ignore and a[k] != b[k]}


#: Recipe defaults per preset (architecture lives in ``model.PRESET_ARCH``).
PRESET_DEFAULTS: dict[str, dict[str, Any]] = {
    # fairseq wav2vec2_base_librispeech.yaml (METHODS §3.3, §14.4)
    "base": {},
    # fairseq LARGE (LV-60): pre-LN, LayerNorm conv, normalised waveform, tau -> 0.1
    "large": {"lr": 3e-4, "normalize": True, "feature_grad_mult": 1.0,
              "feature_penalty_weight": 10.0, "gumbel_min": 0.1, "crop_max_s": 20.0,
              "micro_batch_seconds": 75.0, "batch_seconds": 7680.0},
    # The recipe that learns on 2 CPU cores (FINDINGS §1a and §10): 8 x 2 s crops,
    # lr 2e-3 constant, tau max(2 * 0.98^step, 0.5), clip 5. Diversity weight 0.1
    # (fairseq / HF default), not FINDINGS' 0.02: measured here, 300 steps, seeds
    # 0-2, real EN+FR speech ends at 2.32 / 2.55 / 2.44 (chance 3.04) and white
    # noise stays at 3.043 on all 3 seeds, whereas at 0.02 (and 0.05) one noise
    # seed in three collapses its codebook within ~20-80 steps.
    "tiny": {"lr": 2e-3, "warmup_frac": 0.0, "lr_schedule": "constant",
             "batch_seconds": 16.0, "micro_batch_seconds": 16.0,
             "crop_min_s": 2.0, "crop_max_s": 2.0, "normalize": True,
             "diversity_loss_weight": 0.1, "feature_penalty_weight": 0.0,
             "feature_grad_mult": 1.0, "gumbel_decay": 0.98, "grad_clip": 5.0,
             "max_steps": 300, "checkpoint_every": 100, "log_every": 1,
             "eval_seconds": 16.0, "collapse_perplexity": 3.0,
             "collapse_patience": 10, "amp": False},
}


#: Recipe changes for HuBERT / WavLM per (objective, preset) (METHODS §15):
#: fairseq ``hubert_base_librispeech.yaml`` clips at 10; the tiny recipe is the
#: wav2vec2 tiny one (FINDINGS §10) with no diversity term to tune.
OBJECTIVE_DEFAULTS: dict[tuple[str, str], dict[str, Any]] = {
    **{(o, "base"): {"grad_clip": 10.0} for o in ("hubert", "wavlm")},
    **{(o, "large"): {"grad_clip": 10.0} for o in ("hubert", "wavlm")},
    # measured: a tiny model predicts one unit for up to ~30 updates before it
    # spreads out (steps 34-61 of seed 0 on real speech); 50 leaves a margin
    # Tiny: the reference's pred_nomask_weight 0 learns slowly at this scale
    # (measured, real EN+FR speech, K=100, seed 0, 300 updates: masked accuracy
    # 0.073 with weight 0 and 0.108 with weight 1, chance 0.038; white noise with
    # weight 1 stays at 0.025 masked, chance 0.019): the unmasked frames teach
    # the small encoder the MFCC units, which masked prediction then reuses.
    **{(o, "tiny"): {"collapse_patience": 50, "pred_nomask_weight": 1.0}
       for o in ("hubert", "wavlm")},
}


@dataclass(frozen=True)
class Regime:
    """A training regime read from YAML.

    Parameters
    ----------
    name : str
    kind : {"random", "sound", "speech"}
    language : str or None
    description : str
    target_hours : float
        Audio the paper-scale run should see (~600 h); logged against the corpus.
    corpora : tuple of str
        Manifests (absolute, or relative to the YAML file); may be empty.
    path : str
        The YAML file.
    """

    name: str
    kind: str
    language: str | None
    description: str = ""
    target_hours: float = 0.0
    corpora: tuple[str, ...] = field(default_factory=tuple)
    path: str = ""


def _regime_dir():
    return resources.files("brainscore_speech.training").joinpath("regimes")


def list_regimes() -> list[str]:
    """Names of the regimes shipped with the package (sorted).

    Returns
    -------
    list of str
        Regime names (``random``, ``sound``, ``speech-en``...).
    """
    return sorted(p.name[:-5] for p in _regime_dir().iterdir()
                  if p.name.endswith(".yaml"))


def load_regime(regime: str | os.PathLike) -> Regime:
    """Read a shipped regime by name, or a regime YAML by path.

    Parameters
    ----------
    regime : str or os.PathLike
        A shipped regime name (:func:`list_regimes`) or a YAML file.

    Returns
    -------
    Regime

    Raises
    ------
    ValueError
        Unknown name (lists the valid ones), unknown key, or bad ``kind``.
    """
    import yaml

    text_path = str(regime)
    if text_path.endswith((".yaml", ".yml")) or os.sep in text_path:
        path = check_path(text_path, "regime", what="Regime file")
        text = None
    else:
        names = list_regimes()
        if text_path not in names:
            check_option("regime", text_path, names)
        res = _regime_dir().joinpath(text_path + ".yaml")
        text, path = res.read_text(), Path(str(res))
    data = (load_yaml(path, what="regime file") if text is None
            else yaml.safe_load(text)) or {}
    if not isinstance(data, dict):
        raise ValueError(f"Regime file {path} must hold a mapping, got "
                         f"{type(data).__name__}.")
    valid = ("name", "kind", "language", "description", "target_hours", "corpora")
    check_unknown_keys(f"regime file {path}", data, valid)
    kind = check_option(f"'kind' in {path}", data.get("kind"), REGIME_KINDS)
    language = data.get("language")
    if kind == "speech" and not language:
        raise ValueError(f"Regime file {path}: a 'speech' regime needs a 'language' "
                         "(ISO 639-1 code such as 'en').")
    corpora = []
    for c in data.get("corpora") or []:
        cp = Path(c)
        corpora.append(str(cp if cp.is_absolute() else path.parent / cp))
    return Regime(name=str(data.get("name") or path.stem), kind=kind,
                  language=None if language is None else str(language),
                  description=str(data.get("description", "")),
                  target_hours=float(data.get("target_hours") or 0.0),
                  corpora=tuple(corpora), path=str(path))


def make_config(*, regime: str = "speech-en", preset: str = "base",
                corpus: tuple[str, ...] | list[str] = (), out: str = "checkpoint",
                **overrides: Any) -> TrainConfig:
    """Resolve regime + preset + overrides into a :class:`TrainConfig`.

    Parameters
    ----------
    regime : str
        Shipped regime name or path of a regime YAML.
    preset : {"tiny", "base", "large"}
    corpus : sequence of str
        Manifests; when empty, the regime's ``corpora`` are used.
    out : str
        Checkpoint directory.
    **overrides
        Any :class:`TrainConfig` field; ``None`` values are ignored (keep the
        preset's default).

    Returns
    -------
    TrainConfig
    """
    check_option("preset", preset, PRESETS)
    reg = load_regime(regime)
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    check_unknown_keys("training options", overrides, fields)
    kw: dict[str, Any] = dict(PRESET_DEFAULTS[preset])
    kw.update({k: v for k, v in overrides.items() if v is not None})
    corpora = tuple(str(c) for c in corpus) or reg.corpora
    if reg.kind == "random":
        kw["max_steps"] = 0
    objective = kw.get("objective", "wav2vec2")
    check_option("objective", objective, OBJECTIVES)
    for k, v in OBJECTIVE_DEFAULTS.get((objective, preset), {}).items():
        if overrides.get(k) is None:
            kw[k] = v
    for k in ("betas", "grad_norm_band", "valid_corpus", "mix_energy_db"):
        if k in kw and isinstance(kw[k], list):
            kw[k] = tuple(kw[k])
    return TrainConfig(regime=str(regime), regime_kind=reg.kind, language=reg.language,
                       preset=preset,
                       corpus=corpora, out=str(out), **kw)
