"""HuBERT / WavLM masked prediction of hidden units on top of HF base models.

Model (:func:`build_masked_prediction_model`): ``transformers.HubertModel`` or
``WavLMModel`` (WavLM: gated relative position bias from the HF architecture)
plus fairseq HuBERT's head: ``final_proj`` (hidden -> ``final_dim``) and one
embedding per cluster (``label_embs``, initialised U(0, 1) as fairseq's
``label_embs_concat``). Saved with ``save_pretrained`` the weights are prefixed
``hubert.`` / ``wavlm.``, so ``HubertModel.from_pretrained(CKPT)`` and
``WavLMModel.from_pretrained(CKPT)`` load the encoder (the head is ignored).

Criterion (:func:`masked_prediction_loss`, fairseq ``hubert_criterion``): logits
are the cosine similarity between the projected output of each frame and every
label embedding, divided by a temperature (0.1); cross-entropy summed over masked
frames (weight ``pred_masked_weight``, 1) plus unmasked frames (weight
``pred_nomask_weight``, 0 in the reference), plus the feature penalty times the
number of masked frames; accuracies on masked and unmasked frames.

Utterance mixing (:func:`mix_utterances`, WavLM): with probability ``mix_prob`` a
crop gets a segment of another crop of the same micro-batch (or Gaussian noise)
added over at most ``mix_max_ratio`` of its length at an energy ratio drawn from
``mix_energy_db``; its targets stay the primary's. The paper's exact mixing
probability and ranges could not be read here (METHODS §16): the defaults are
recalled values, exposed as options.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .._validation import check_option
from ..data.audio import TARGET_SFREQ
from ..exceptions import BrainscoreError, CollapseError
from .criterion import sample_masks
from .health import grad_norm_checks
from .model import PRESET_ARCH, _GradMultiply

__all__ = ["OBJECTIVES", "MASKED_ARCH", "build_masked_prediction_model",
           "make_masked_config", "masked_prediction_loss", "mix_utterances",
           "interior_mask",
           "check_masked_health", "MaskedHealthMonitor", "unit_perplexity"]

OBJECTIVES = ("wav2vec2", "hubert", "wavlm")
#: An MFCC + delta + delta-delta target of frame i (deltas over 5 frames of the
#: 50 Hz grid, twice) depends on the audio of frames i-5 .. i+5 (frame i+5 starts
#: 80 samples before the last sample frame i+4's window reaches).
MFCC_REACH_FRAMES = 5

_SHARED_KEYS = ("conv_dim", "conv_stride", "conv_kernel", "conv_bias",
                "feat_extract_norm", "do_stable_layer_norm", "hidden_size",
                "num_hidden_layers", "num_attention_heads", "intermediate_size",
                "num_conv_pos_embeddings", "num_conv_pos_embedding_groups",
                "hidden_act", "hidden_dropout", "attention_dropout",
                "activation_dropout", "feat_proj_dropout", "final_dropout",
                "layerdrop", "apply_spec_augment", "mask_feature_prob")

#: Per preset, what differs from the wav2vec2 architecture (METHODS §15-16):
#: masking p = 8 % x l = 10 (``mask_prob`` 0.8), ``final_dim`` 256 (768 LARGE),
#: temperature 0.1. Tiny: spans of 5 on its 2 s crops (99 frames).
MASKED_ARCH: dict[str, dict[str, Any]] = {
    "base": dict(mask_time_prob=0.8, mask_time_length=10, final_dim=256),
    "large": dict(mask_time_prob=0.8, mask_time_length=10, final_dim=768),
    "tiny": dict(mask_time_prob=0.8, mask_time_length=5, final_dim=32),
}


def make_masked_config(objective: str, preset: str, *, num_clusters: int,
                       logit_temperature: float = 0.1):
    """A fresh ``HubertConfig`` / ``WavLMConfig`` for ``preset``.

    The encoder is the wav2vec2 preset's (same conv stack and transformer, so the
    three objectives differ only in what they learn); head sizes are stored in
    the config (``final_dim``, ``num_clusters``, ``logit_temperature``).
    """
    from transformers import HubertConfig, WavLMConfig

    check_option("objective", objective, OBJECTIVES[1:])
    check_option("preset", preset, tuple(PRESET_ARCH))
    arch = copy.deepcopy(PRESET_ARCH[preset])
    kw = {k: arch[k] for k in _SHARED_KEYS}
    kw.update(MASKED_ARCH[preset])
    kw.update(num_clusters=int(num_clusters), mask_time_min_masks=2,
              logit_temperature=float(logit_temperature))
    if objective == "hubert":
        return HubertConfig(**kw, feat_proj_layer_norm=True,
                            architectures=["HubertForMaskedPrediction"])
    # released WavLM configs: 320 buckets, max distance 800 (METHODS §16)
    return WavLMConfig(**kw, num_buckets=320, max_bucket_distance=800,
                       architectures=["WavLMForMaskedPrediction"])


def _head_forward(self, input_values, mask_time_indices=None):
    out = self.base_model(input_values, mask_time_indices=mask_time_indices)
    return self.final_proj(out.last_hidden_state)


def _init_head(self, config):
    self.final_proj = torch.nn.Linear(config.hidden_size, config.final_dim)
    self.label_embs = torch.nn.Parameter(
        torch.empty(config.num_clusters, config.final_dim).uniform_())


def _model_classes():
    from transformers import (
        HubertModel,
        HubertPreTrainedModel,
        WavLMModel,
        WavLMPreTrainedModel,
    )

    class HubertForMaskedPrediction(HubertPreTrainedModel):
        """HubertModel + projection + label embeddings (see module docstring)."""

        def __init__(self, config):
            super().__init__(config)
            self.hubert = HubertModel(config)
            _init_head(self, config)
            self.post_init()

        forward = _head_forward

    class WavLMForMaskedPrediction(WavLMPreTrainedModel):
        """WavLMModel + projection + label embeddings (see module docstring)."""

        def __init__(self, config):
            super().__init__(config)
            self.wavlm = WavLMModel(config)
            _init_head(self, config)
            self.post_init()

        forward = _head_forward

    return {"hubert": HubertForMaskedPrediction, "wavlm": WavLMForMaskedPrediction}


def build_masked_prediction_model(objective: str, preset: str, *, num_clusters: int,
                                  seed: int = 0, logit_temperature: float = 0.1):
    """Randomly initialised HuBERT / WavLM masked-prediction model.

    Parameters
    ----------
    objective : {"hubert", "wavlm"}
    preset : {"tiny", "base", "large"}
    num_clusters : int
        Codebook size of the targets.
    seed : int
        Seeds the initialisation (the torch global generator is seeded here).
    logit_temperature : float

    Returns
    -------
    model
        In train mode, float32, on CPU; ``model.base_model`` is the HF
        ``HubertModel`` / ``WavLMModel``. WavLM uses eager attention (HF has no
        SDPA kernel for its gated relative position bias).
    """
    config = make_masked_config(objective, preset, num_clusters=num_clusters,
                                logit_temperature=logit_temperature)
    cls = _model_classes()[objective]
    torch.manual_seed(seed)
    impl = "sdpa" if objective == "hubert" else "eager"
    model = cls._from_config(config, attn_implementation=impl)
    # fairseq: label_embs_concat.uniform_() (again: post_init may have touched it)
    with torch.no_grad():
        g = torch.Generator().manual_seed(int(seed) + 1)
        model.label_embs.copy_(torch.rand(model.label_embs.shape, generator=g))
    return model.train()


def unit_perplexity(counts: np.ndarray) -> float:
    """exp(entropy) of a histogram (1 = one unit, K = uniform over K)."""
    counts = np.asarray(counts, np.float64)
    total = counts.sum()
    if total <= 0:
        return float("nan")
    p = counts[counts > 0] / total
    return float(np.exp(-(p * np.log(p)).sum()))


def masked_prediction_loss(proj: torch.Tensor, label_embs: torch.Tensor,
                           labels: torch.Tensor, mask: torch.Tensor, *,
                           logit_temperature: float = 0.1,
                           pred_masked_weight: float = 1.0,
                           pred_nomask_weight: float = 0.0,
                           conv_features: torch.Tensor | None = None,
                           feature_penalty_weight: float = 0.0,
                           interior: torch.Tensor | None = None
                           ) -> tuple[torch.Tensor, dict]:
    """HuBERT loss of one forward pass, **summed** over frames, and its logs.

    Parameters
    ----------
    proj : tensor, shape (batch, n_frames, final_dim)
        Projected transformer output.
    label_embs : tensor, shape (n_clusters, final_dim)
    labels : int64 tensor, shape (batch, n_frames)
        Target unit of every frame.
    mask : bool tensor, shape (batch, n_frames)
    logit_temperature : float
        Cosine similarities are divided by it (fairseq ``logit_temp`` 0.1).
    pred_masked_weight, pred_nomask_weight : float
    conv_features : tensor, shape (batch, C, n_frames), optional
        Conv-encoder output for the feature penalty (mean square).
    feature_penalty_weight : float
    interior : bool tensor, shape (batch, n_frames), optional
        Masked frames whose target cannot be read off any unmasked frame (see
        :func:`interior_mask`); their accuracy is logged separately
        (``n_interior``, ``n_correct_interior``).

    Returns
    -------
    loss : scalar tensor
        ``w_m sum_masked CE + w_u sum_unmasked CE + n_masked beta L_f``; divide
        by the update's masked-frame count before ``backward`` (fairseq
        ``sample_size``).
    logs : dict
        Sums (``loss_m_sum``, ``loss_u_sum``, ``n_masked``, ``n_unmasked``,
        ``n_correct_m``, ``n_correct_u``), ``feature_penalty``, and histograms
        (numpy int64, length n_clusters) ``pred_counts`` / ``target_counts`` of the
        masked frames.
    """
    k = label_embs.shape[0]
    logits = (F.normalize(proj.float(), dim=-1)
              @ F.normalize(label_embs.float(), dim=-1).T) / logit_temperature
    flat_mask = mask.reshape(-1)
    flat_logits = logits.reshape(-1, k)
    flat_labels = labels.reshape(-1)
    lm, tm = flat_logits[flat_mask], flat_labels[flat_mask]
    lu, tu = flat_logits[~flat_mask], flat_labels[~flat_mask]
    loss_m = F.cross_entropy(lm, tm, reduction="sum")
    loss_u = (F.cross_entropy(lu, tu, reduction="sum") if len(tu)
              else lm.new_zeros(()))
    n_masked = int(flat_mask.sum())
    loss = pred_masked_weight * loss_m
    if pred_nomask_weight > 0:
        loss = loss + pred_nomask_weight * loss_u
    feat_pen = lm.new_zeros(())
    if conv_features is not None:
        feat_pen = conv_features.float().pow(2).mean()
        if feature_penalty_weight > 0:
            loss = loss + n_masked * feature_penalty_weight * feat_pen
    with torch.no_grad():
        pm = lm.argmax(-1)
        logs = {
            "loss_m_sum": float(loss_m.detach()), "loss_u_sum": float(loss_u.detach()),
            "n_masked": n_masked, "n_unmasked": int(len(tu)),
            "n_correct_m": int((pm == tm).sum()),
            "n_correct_u": int((lu.argmax(-1) == tu).sum()) if len(tu) else 0,
            "feature_penalty": float(feat_pen.detach()),
            "n_interior": 0, "n_correct_interior": 0,
            "pred_counts": np.bincount(pm.cpu().numpy(), minlength=k).astype(np.int64),
            "target_counts": np.bincount(tm.cpu().numpy(),
                                         minlength=k).astype(np.int64),
        }
        if interior is not None:
            inner = interior.reshape(-1)[flat_mask]
            logs["n_interior"] = int(inner.sum())
            logs["n_correct_interior"] = int(((pm == tm) & inner).sum())
    if not math.isfinite(logs["loss_m_sum"]):
        logs["loss_m_sum"] = float("nan")
    return loss, logs


def interior_mask(mask: np.ndarray, distance: int) -> np.ndarray:
    """Masked frames with no unmasked frame within ``distance`` frames.

    A target that depends on the audio of its neighbours (MFCC deltas span frames
    ``i - 3 .. i + 3``; adjacent frames of the conv encoder share 80 of their 400
    samples) can partly be read off the unmasked frames next to a mask span, even
    from white noise, where nothing is predictable from context. The accuracy on
    the interior frames measures prediction from context alone; it is what the
    white-noise control compares with chance.

    Parameters
    ----------
    mask : bool ndarray of shape (batch, n_frames)
    distance : int
        Frames on each side that must be masked too (>= 0). Frames beyond the crop
        count as masked (the model never sees them).

    Returns
    -------
    bool ndarray of shape (batch, n_frames)
    """
    mask = np.asarray(mask, dtype=bool)
    if distance < 0:
        raise ValueError(f"'distance' must be >= 0, got {distance}.")
    seen = ~mask
    near = seen.copy()
    t = mask.shape[1]
    for s in range(1, min(int(distance), t) + 1):
        near[:, s:] |= seen[:, :-s]
        near[:, :-s] |= seen[:, s:]
    return mask & ~near


def mix_utterances(x: np.ndarray, rng: np.random.Generator, *, mix_prob: float,
                   max_ratio: float = 0.5, energy_db: tuple[float, float] = (-5.0, 5.0),
                   noise_prob: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """WavLM utterance mixing of one micro-batch of raw crops.

    Parameters
    ----------
    x : ndarray of shape (n_items, n_samples)
        Primary crops (not normalised yet).
    rng : numpy.random.Generator
    mix_prob : float
        Probability that a crop is mixed.
    max_ratio : float
        The overlapped segment is ``U(0, max_ratio)`` of the crop.
    energy_db : (low, high)
        Primary-to-secondary energy ratio over the segment, uniform in dB.
    noise_prob : float
        Probability that the secondary is Gaussian noise instead of another crop
        (always noise when the micro-batch has a single crop).

    Returns
    -------
    mixed : ndarray of shape (n_items, n_samples), float32
    is_mixed : ndarray of bool, shape (n_items,)
    """
    out = np.array(x, dtype=np.float32, copy=True)
    n_items, n = x.shape
    is_mixed = np.zeros(n_items, dtype=bool)
    for b in range(n_items):
        if rng.random() >= mix_prob:
            continue
        length = int(rng.uniform(0.0, max_ratio) * n)
        if length < 1:
            continue
        start = int(rng.integers(0, n - length + 1))
        if n_items == 1 or rng.random() < noise_prob:
            sec = rng.standard_normal(length)
        else:
            other = int(rng.integers(0, n_items - 1))
            other += other >= b
            src = int(rng.integers(0, n - length + 1))
            sec = x[other, src:src + length].astype(np.float64)
        ratio_db = rng.uniform(*energy_db)
        e_p = float(np.mean(x[b, start:start + length].astype(np.float64) ** 2))
        e_s = float(np.mean(sec ** 2))
        if e_s <= 0 or e_p <= 0:
            continue
        scale = math.sqrt(e_p / (e_s * 10.0 ** (ratio_db / 10.0)))
        out[b, start:start + length] += (scale * sec).astype(np.float32)
        is_mixed[b] = True
    return out, is_mixed


def check_masked_health(metrics: dict, *, collapse_unit_share: float,
                        grad_norm_band: tuple[float, float]
                        ) -> tuple[list[str], list[str]]:
    """Classify one HuBERT/WavLM update's metrics.

    Collapse signs: the most frequent predicted unit takes more than
    ``collapse_unit_share`` of the masked predictions while the targets are
    diverse (target perplexity > 2) and the accuracy is no better than always
    predicting the batch's most common target (``chance``): all predictions one
    unit, nothing learned; non-finite loss or
    gradient; gradient norm below the band. Warnings: targets of the batch use
    fewer than 2 effective units (degenerate codebook), gradient above the band.

    Parameters
    ----------
    metrics : dict
        One update's metrics (loss, accuracy, unit shares, perplexities, grad norm).
    collapse_unit_share : float
        See :class:`MaskedHealthMonitor`.
    grad_norm_band : (low, high)
        See :class:`MaskedHealthMonitor`.

    Returns
    -------
    signs : list of str
        Signs of collapse.
    warnings : list of str
        Warnings.
    """
    collapse, other = [], []
    share, loss = metrics["pred_max_share"], metrics["loss"]
    gnorm = metrics["grad_norm"]
    tgt_ppl = metrics["target_perplexity"]
    if (share > collapse_unit_share and tgt_ppl > 2.0
            and metrics["accuracy"] <= metrics["chance"]):
        collapse.append(f"{100 * share:.0f}% of masked predictions are one unit "
                        f"(target perplexity {tgt_ppl:.1f})")
    if tgt_ppl <= 2.0:
        other.append(f"target perplexity {tgt_ppl:.2f}: the batch's targets use <= 2 "
                     "units (degenerate codebook?)")
    grad_norm_checks(loss, gnorm, grad_norm_band, collapse, other)
    return collapse, other


@dataclasses.dataclass
class MaskedHealthMonitor:
    """:class:`~.health.HealthMonitor` for masked prediction (same warn / patience).

    Parameters
    ----------
    collapse_unit_share : float
        Share of the masked predictions taken by one unit that signals collapse.
    grad_norm_band : (low, high)
        Gradient norms outside the band are a warning (above) or a sign (below).
    patience : int
        Consecutive updates with a sign of collapse before :class:`CollapseError`.
    grace : int, default=0
        Updates at the start that are not checked.
    streak : int, default=0
        Consecutive bad updates so far (state).
    _warned : set
        Warnings already given (state).
    """

    collapse_unit_share: float
    grad_norm_band: tuple[float, float]
    patience: int
    grace: int = 0
    streak: int = 0
    _warned: set = dataclasses.field(default_factory=set)

    def update(self, step: int, metrics: dict, *, last_good: str = "") -> list[str]:
        """Check one update; raise :class:`CollapseError` after ``patience``.

        During the first ``grace`` updates "one unit" signs are not counted: a
        freshly initialised model predicts one unit everywhere (its label
        embeddings start in one orthant, fairseq's U(0, 1) init).
        """
        import warnings

        from .._logging import logger
        from .health import CollapseWarning

        collapse, other = check_masked_health(
            metrics, collapse_unit_share=self.collapse_unit_share,
            grad_norm_band=self.grad_norm_band)
        if step <= self.grace:
            collapse = [c for c in collapse if "one unit" not in c]
        self.streak = self.streak + 1 if collapse else 0
        issues = collapse + other
        for msg in issues:
            logger.warning("step %d: %s", step, msg)
        new = {m.split(" ")[1] for m in issues} - self._warned
        if new:
            self._warned |= new
            warnings.warn(f"Training health at step {step}: {'; '.join(issues)}.",
                          CollapseWarning, stacklevel=3)
        if self.streak >= self.patience:
            raise CollapseError(
                f"Training collapsed at step {step}: {'; '.join(collapse)} for "
                f"{self.streak} consecutive updates. {last_good}Try a lower --lr or "
                "a larger --batch-seconds, and check the targets' codebook usage.")
        return issues


# ------------------------------------------------------------ loop objective
def _frames(config, n_samples: int) -> int:
    n = n_samples
    for k, s in zip(config.conv_kernel, config.conv_stride):
        n = (n - k) // s + 1
    return int(n)


class MaskedPredictionObjective:
    """What :func:`~.loop.train` needs for ``--objective hubert|wavlm``.

    Each micro-batch's crop offsets are snapped down to the 320-sample frame grid,
    so the labels of a crop are exactly ``labels[offset / 320 :][:n_frames]`` of
    its utterance (fairseq rounds the label offset instead).
    """

    sum_keys = ("loss_m_sum", "loss_u_sum", "n_masked", "n_unmasked", "n_correct_m",
                "n_correct_u", "n_interior", "n_correct_interior", "feat_pen_w",
                "n_samples", "n_mixed", "n_items")

    def __init__(self, cfg, corpus, valid) -> None:
        from .targets import load_targets

        self.cfg = cfg
        self.targets = load_targets(cfg.targets) if cfg.targets else None
        self.num_clusters = self.targets.n_clusters if self.targets else 100
        # how far a target reaches into its neighbours (interior accuracy)
        kind = self.targets.meta.get("kind") if self.targets else "mfcc"
        self.interior_distance = MFCC_REACH_FRAMES if kind == "mfcc" else 1
        self.labels = self.valid_labels = None
        self._corpus, self._valid = corpus, valid

    def build_model(self):
        cfg = self.cfg
        model = build_masked_prediction_model(cfg.objective, cfg.preset,
                                              num_clusters=self.num_clusters,
                                              seed=cfg.seed)
        hop = int(np.prod(model.config.conv_stride))
        frame_rate = TARGET_SFREQ / hop
        self.hop = hop
        if self.targets is not None and self._corpus is not None:
            self.labels = self.targets.for_corpus(self._corpus, frame_rate=frame_rate)
            self.valid_labels = (self.labels if self._valid is self._corpus else
                                 self.targets.for_corpus(self._valid,
                                                         frame_rate=frame_rate))
        self._mult = float(cfg.feature_grad_mult)
        self._conv = None
        model.base_model.feature_extractor.register_forward_hook(self._on_conv)
        return model

    def _on_conv(self, module, inputs, output):
        if self._mult != 1.0 and output.requires_grad:
            output = _GradMultiply.apply(output, self._mult)
        self._conv = output
        return output

    def monitor(self, raw_model=None):
        cfg = self.cfg
        return MaskedHealthMonitor(cfg.collapse_unit_share, tuple(cfg.grad_norm_band),
                                   cfg.collapse_patience, grace=cfg.collapse_patience)

    def begin_step(self, raw_model, step: int) -> dict:
        return {}

    def plan(self, mb, raw_model, *, train: bool = True):
        """(micro-batch with snapped offsets, mask, labels) of one forward pass."""
        items = tuple((i, (o // self.hop) * self.hop) for i, o in mb.items)
        mb = dataclasses.replace(mb, items=items)
        c = raw_model.config
        t = _frames(c, mb.n_samples)
        rng = np.random.default_rng([self.cfg.seed, mb.seed])
        mask = sample_masks(len(items), t, mask_prob=c.mask_time_prob,
                            mask_length=c.mask_time_length, rng=rng)
        source = self.labels if train else self.valid_labels
        labels = np.stack([source[i][o // self.hop: o // self.hop + t]
                           for i, o in items]).astype(np.int64)
        return mb, mask, labels

    def n_masked(self, plan) -> int:
        return int(plan[1].sum())

    def load(self, plan, corpus, *, train: bool = True):
        mb = plan[0]
        cfg = self.cfg
        x = mb.load(corpus, normalize=False)
        n_mixed = 0
        if train and cfg.objective == "wavlm" and cfg.mix_prob > 0:
            rng = np.random.default_rng([cfg.seed, mb.seed, 2])
            x, mixed = mix_utterances(x, rng, mix_prob=cfg.mix_prob,
                                      max_ratio=cfg.mix_max_ratio,
                                      energy_db=tuple(cfg.mix_energy_db),
                                      noise_prob=cfg.mix_noise_prob)
            n_mixed = int(mixed.sum())
        if cfg.normalize:
            x = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-7)
        return x.astype(np.float32, copy=False), n_mixed

    def forward(self, model, raw_model, x, plan, device):
        _, mask, labels = plan
        mask_t = torch.from_numpy(mask).to(device)
        proj = model(torch.from_numpy(x).to(device), mask_time_indices=mask_t)
        cfg = self.cfg
        return masked_prediction_loss(
            proj, raw_model.label_embs, torch.from_numpy(labels).to(device), mask_t,
            logit_temperature=raw_model.config.logit_temperature,
            pred_masked_weight=cfg.pred_masked_weight,
            pred_nomask_weight=cfg.pred_nomask_weight,
            conv_features=self._conv,
            feature_penalty_weight=cfg.feature_penalty_weight,
            interior=torch.from_numpy(interior_mask(mask, self.interior_distance)))

    def new_acc(self) -> dict:
        acc = dict.fromkeys(self.sum_keys, 0.0)
        acc["pred_counts"] = np.zeros(self.num_clusters)
        acc["target_counts"] = np.zeros(self.num_clusters)
        return acc

    def accumulate(self, acc: dict, logs: dict, n_samples: int, n_mixed: int = 0,
                   n_items: int = 0) -> None:
        for k in ("loss_m_sum", "loss_u_sum", "n_masked", "n_unmasked", "n_correct_m",
                  "n_correct_u", "n_interior", "n_correct_interior"):
            acc[k] += logs[k]
        acc["feat_pen_w"] += logs["feature_penalty"] * logs["n_masked"]
        acc["n_samples"] += n_samples
        acc["n_mixed"] += n_mixed
        acc["n_items"] += n_items
        acc["pred_counts"] = acc["pred_counts"] + logs["pred_counts"]
        acc["target_counts"] = acc["target_counts"] + logs["target_counts"]

    def all_reduce(self, acc: dict, world: int) -> dict:
        if world == 1:
            return acc
        import torch.distributed as dist

        k = self.num_clusters
        t = torch.tensor(np.concatenate([[acc[key] for key in self.sum_keys],
                                         acc["pred_counts"], acc["target_counts"]]),
                         dtype=torch.float64)
        dist.all_reduce(t)
        v = t.numpy()
        n = len(self.sum_keys)
        out = dict(zip(self.sum_keys, v[:n].tolist()))
        out["pred_counts"], out["target_counts"] = v[n:n + k], v[n + k:]
        return out

    def metrics(self, acc: dict) -> dict:
        n = max(1.0, acc["n_masked"])
        nu = max(1.0, acc["n_unmasked"])
        pred, tgt = acc["pred_counts"], acc["target_counts"]
        return {
            "loss": acc["loss_m_sum"] / n,
            "loss_unmasked": acc["loss_u_sum"] / nu,
            "accuracy": acc["n_correct_m"] / n,
            "accuracy_unmasked": acc["n_correct_u"] / nu,
            # masked frames out of reach of every unmasked frame (interior_mask)
            "accuracy_interior": (acc["n_correct_interior"] / acc["n_interior"]
                                  if acc["n_interior"] else None),
            "interior_fraction": acc["n_interior"] / n,
            "chance": float(tgt.max() / max(1.0, tgt.sum())),
            "pred_perplexity": unit_perplexity(pred),
            "pred_max_share": float(pred.max() / max(1.0, pred.sum())),
            "target_perplexity": unit_perplexity(tgt),
            "feature_penalty": acc["feat_pen_w"] / n,
            "mixed_fraction": acc["n_mixed"] / max(1.0, acc["n_items"]),
        }

    def valid_loss(self, acc: dict) -> float:
        return acc["loss_m_sum"] / max(1.0, acc["n_masked"])

    def schedule_state(self, step: int) -> dict:
        return {}

    def checkpoint_meta(self) -> dict:
        if self.targets is None:
            return {"targets": None}
        m = self.targets.meta
        return {"targets": {"path": str(self.targets.path.resolve()),
                            "kind": m.get("kind"), "iteration": m.get("iteration"),
                            "n_clusters": self.num_clusters,
                            "label_rate": m.get("label_rate"),
                            "labels_hash": m.get("labels_hash"),
                            "feature": m.get("feature")}}

    def check_resume(self, saved_meta: dict, out) -> None:
        """The targets of a resumed run must be the ones it started with."""
        old = (saved_meta.get("targets") or {}).get("labels_hash")
        new = (self.checkpoint_meta()["targets"] or {}).get("labels_hash")
        if old != new:
            raise BrainscoreError(
                f"Cannot resume {out}: its targets changed (labels hash {old} -> "
                f"{new}); resume with the original targets directory.")

