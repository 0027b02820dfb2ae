"""The pretraining loop: ``train(cfg) -> Checkpoint`` (nanoGPT style).

One loop for the three objectives (``cfg.objective``): wav2vec 2.0 (contrastive +
diversity, :mod:`.criterion`) and HuBERT / WavLM (masked prediction of k-means
targets, :mod:`.hubert`). An objective object supplies the model, the per
micro-batch plan (masks and negatives or labels), the loss, the metrics and the
health monitor; everything else (batches, accumulation, DDP, checkpoints, exact
resume) is shared.

Reads top to bottom: set up (processes, device, output), data, model, optimizer,
a pure :func:`get_lr` and :func:`get_gumbel_temperature`, :func:`estimate_loss`,
then the loop. Run it on several processes with
``torchrun --nproc_per_node N -m brainscore_speech train ...`` (DDP; gloo on CPU,
NCCL on GPU).

Determinism: the batch of update ``s`` (crops, masks, negatives) and the torch
noise of each micro-batch (Gumbel, dropout) are pure functions of
``(cfg.seed, s)``. On CPU a resumed run therefore equals an uninterrupted one
bitwise, and a run on W processes sees exactly the batches of a 1-process run
with the same ``batch_seconds`` (only the reduction order differs).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import layout
from .._io import atomic_path, check_safetensors, read_json
from .._logging import logger, progress, verbose
from ..data.audio import TARGET_SFREQ
from ..exceptions import BrainscoreError
from ._preflight import check_train_out
from .checkpoint import (
    Checkpoint,
    load_train_state,
    read_metrics,
    recover_checkpoint_dir,
    save_checkpoint,
)
from .config import TrainConfig, load_regime
from .criterion import sample_masks, sample_negatives, wav2vec2_loss
from .dataset import MicroBatch, load_corpus, sample_update
from .health import HealthMonitor
from .model import FeatureTap, build_model, make_feature_extractor

__all__ = ["train", "get_lr", "get_gumbel_temperature", "estimate_loss", "n_frames"]

_SUM_KEYS = ("contrastive_sum", "n_masked", "n_correct", "n_neg_is_pos", "n_negatives",
             "ppl_prob_w", "ppl_code_w", "feat_pen_w", "div_w", "n_samples")


def get_lr(step: int, cfg: TrainConfig) -> float:
    """Learning rate of update ``step`` (0-based): linear warm-up, then linear
    decay to 0 at ``max_steps`` or constant.

    Parameters
    ----------
    step : int
        Update (0-based).
    cfg : TrainConfig
        ``lr``, warm-up and schedule.

    Returns
    -------
    float
        The learning rate.
    """
    warmup = int(cfg.warmup_frac * cfg.max_steps)
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    if cfg.lr_schedule == "constant":
        return cfg.lr
    return cfg.lr * max(0.0, (cfg.max_steps - step) / max(1, cfg.max_steps - warmup))


def get_gumbel_temperature(step: int, cfg: TrainConfig) -> float:
    """``max(gumbel_max * decay**step, gumbel_min)``, stepped every update.

    Parameters
    ----------
    step : int
        Update (0-based).
    cfg : TrainConfig
        ``gumbel_max``, ``gumbel_min``, ``gumbel_decay``.

    Returns
    -------
    float
        The Gumbel-softmax temperature.
    """
    return max(cfg.gumbel_max * cfg.gumbel_decay_resolved ** step, cfg.gumbel_min)


def n_frames(model_config, n_samples: int) -> int:
    """Feature frames for ``n_samples`` of audio (conv arithmetic, no padding)."""
    n = n_samples
    for k, s in zip(model_config.conv_kernel, model_config.conv_stride):
        n = (n - k) // s + 1
    return int(n)


def _plan(mb: MicroBatch, model_config, cfg: TrainConfig) -> tuple[np.ndarray,
                                                                   np.ndarray]:
    """Masks (n_items, T) and negatives (n_masked, K) of one micro-batch."""
    rng = np.random.default_rng([cfg.seed, mb.seed])
    mask = sample_masks(len(mb.items), n_frames(model_config, mb.n_samples),
                        mask_prob=model_config.mask_time_prob,
                        mask_length=model_config.mask_time_length, rng=rng)
    return mask, sample_negatives(mask, model_config.num_negatives, rng)


def _forward(model, tap, raw_model, x, mask, negs, cfg, device):
    """One forward pass and its summed loss (see :func:`wav2vec2_loss`)."""
    outputs = model(torch.from_numpy(x).to(device),
                    mask_time_indices=torch.from_numpy(mask).to(device))
    c = raw_model.config
    return wav2vec2_loss(
        outputs, torch.from_numpy(mask).to(device), torch.from_numpy(negs).to(device),
        conv_features=tap.conv_features, code_logits=tap.code_logits,
        num_groups=c.num_codevector_groups, num_vars=c.num_codevectors_per_group,
        logit_temperature=c.contrastive_logits_temperature,
        diversity_loss_weight=cfg.diversity_loss_weight,
        feature_penalty_weight=cfg.feature_penalty_weight)


def _accumulate(acc: dict, logs: dict, n_samples: int) -> None:
    n = logs["n_masked"]
    for k in ("contrastive_sum", "n_masked", "n_correct", "n_neg_is_pos",
              "n_negatives"):
        acc[k] += logs[k]
    acc["ppl_prob_w"] += logs["prob_perplexity"] * n
    acc["ppl_code_w"] += logs["code_perplexity"] * n
    acc["feat_pen_w"] += logs["feature_penalty"] * n
    acc["div_w"] += logs["diversity"] * n
    acc["n_samples"] += n_samples


def _all_reduce(acc: dict, world: int) -> dict:
    if world == 1:
        return acc
    import torch.distributed as dist

    t = torch.tensor([acc[k] for k in _SUM_KEYS], dtype=torch.float64)
    dist.all_reduce(t)
    return dict(zip(_SUM_KEYS, t.tolist()))


def estimate_loss(raw_model, tap, batches, corpus, cfg, device, amp, rank=0,
                  world=1) -> float:
    """Validation contrastive loss per masked frame (eval mode, no grad).

    Parameters
    ----------
    raw_model : Wav2Vec2ForPreTraining
    tap : FeatureTap
    batches : list of MicroBatch
        Fixed validation batches; process ``rank`` evaluates ``batches[rank::world]``.
    corpus : Corpus
    cfg : TrainConfig
    device : torch.device
    amp : callable
        Returns the autocast context.
    rank, world : int

    Returns
    -------
    float
        Summed contrastive loss / masked frames, over all processes.
    """
    raw_model.eval()
    acc = dict.fromkeys(_SUM_KEYS, 0.0)
    with torch.no_grad():
        for mb in batches[rank::world]:
            mask, negs = _plan(mb, raw_model.config, cfg)
            x = mb.load(corpus, normalize=cfg.normalize)
            with amp():
                _, logs = _forward(raw_model, tap, raw_model, x, mask, negs, cfg,
                                   device)
            _accumulate(acc, logs, x.size)
    raw_model.train()
    acc = _all_reduce(acc, world)
    return acc["contrastive_sum"] / max(1.0, acc["n_masked"])


class _Wav2Vec2Objective:
    """The wav2vec 2.0 objective as :func:`train` drives it (see hubert.py's twin)."""

    sum_keys = _SUM_KEYS

    def __init__(self, cfg: TrainConfig, corpus, valid) -> None:
        self.cfg = cfg
        self.tap = None

    def build_model(self):
        cfg = self.cfg
        model = build_model(cfg.preset, seed=cfg.seed,
                            diversity_loss_weight=cfg.diversity_loss_weight)
        self.tap = FeatureTap(model, feature_grad_mult=cfg.feature_grad_mult)
        return model

    def monitor(self, raw_model) -> HealthMonitor:
        cfg = self.cfg
        return HealthMonitor(raw_model.config.num_codevector_groups,
                             cfg.collapse_perplexity, tuple(cfg.grad_norm_band),
                             cfg.collapse_patience)

    def begin_step(self, raw_model, step: int) -> dict:
        temperature = get_gumbel_temperature(step, self.cfg)
        raw_model.set_gumbel_temperature(temperature)
        return {"temperature": temperature}

    def plan(self, mb, raw_model, *, train: bool = True):
        return (mb, *_plan(mb, raw_model.config, self.cfg))

    def n_masked(self, plan) -> int:
        return int(plan[1].sum())

    def load(self, plan, corpus, *, train: bool = True):
        return plan[0].load(corpus, normalize=self.cfg.normalize), 0

    def forward(self, model, raw_model, x, plan, device):
        _, mask, negs = plan
        return _forward(model, self.tap, raw_model, x, mask, negs, self.cfg, device)

    def new_acc(self) -> dict:
        return dict.fromkeys(_SUM_KEYS, 0.0)

    def accumulate(self, acc, logs, n_samples, n_mixed=0, n_items=0) -> None:
        _accumulate(acc, logs, n_samples)

    def all_reduce(self, acc, world):
        return _all_reduce(acc, world)

    def metrics(self, acc: dict) -> dict:
        n = max(1.0, acc["n_masked"])
        return {
            "loss": acc["contrastive_sum"] / n,
            "accuracy": acc["n_correct"] / n,
            "prob_perplexity": acc["ppl_prob_w"] / n,
            "code_perplexity": acc["ppl_code_w"] / n,
            "diversity": acc["div_w"] / n,
            "feature_penalty": acc["feat_pen_w"] / n,
            "neg_is_pos": acc["n_neg_is_pos"] / max(1.0, acc["n_negatives"]),
        }

    def valid_loss(self, acc: dict) -> float:
        return acc["contrastive_sum"] / max(1.0, acc["n_masked"])

    def schedule_state(self, step: int) -> dict:
        return {"gumbel_temperature": get_gumbel_temperature(step, self.cfg)}

    def checkpoint_meta(self) -> dict:
        return {}

    def check_resume(self, saved_meta: dict, out) -> None:
        return None


def _make_objective(cfg: TrainConfig, corpus, valid):
    if cfg.objective == "wav2vec2":
        return _Wav2Vec2Objective(cfg, corpus, valid)
    from .hubert import MaskedPredictionObjective

    return MaskedPredictionObjective(cfg, corpus, valid)


def _estimate(objective, raw_model, batches, corpus, device, amp, rank=0,
              world=1) -> tuple[float, dict]:
    """Validation loss per masked frame of any objective, and its metrics.

    Eval mode, no grad, fixed batches of the validation corpus (the held-out one
    when ``valid_corpus`` is set). The metrics are the objective's training
    metrics on those batches; with a held-out corpus they measure what the model
    learned beyond memorising its training audio.
    """
    raw_model.eval()
    acc = objective.new_acc()
    with torch.no_grad():
        for mb in batches[rank::world]:
            plan = objective.plan(mb, raw_model, train=False)
            x, _ = objective.load(plan, corpus, train=False)
            with amp():
                _, logs = objective.forward(raw_model, raw_model, x, plan, device)
            objective.accumulate(acc, logs, x.size)
    raw_model.train()
    acc = objective.all_reduce(acc, world)
    return objective.valid_loss(acc), objective.metrics(acc)


def _setup_distributed(cfg: TrainConfig):
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    want = cfg.device
    if want == "auto":
        want = "cuda" if torch.cuda.is_available() else "cpu"
    if want.startswith("cuda") and not torch.cuda.is_available():
        raise BrainscoreError(f"device={cfg.device!r} was requested but CUDA is not "
                              "available; use --device cpu.")
    device = torch.device(f"cuda:{local}" if want == "cuda" and world > 1 else want)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return rank, world, device


def _only_step0(out: Path) -> bool:
    """``out`` holds only the step-0 checkpoint of a run meant to train (steps > 0)."""
    try:
        prev = Checkpoint.load(out)
    except Exception:  # noqa: BLE001 - unreadable: let the normal checks report it
        return False
    return prev.step == 0 and prev.config.max_steps > 0


@verbose
def train(cfg: TrainConfig, *, resume: bool = False, verbose=None) -> Checkpoint:
    """Pretrain wav2vec 2.0, HuBERT or WavLM (``cfg.objective``) from scratch.

    Parameters
    ----------
    cfg : TrainConfig
        Resolved configuration (:func:`~brainscore_speech.training.make_config`).
    resume : bool
        Continue from ``cfg.out`` (its config must match except bookkeeping keys).
    verbose : bool | int | str | None

    Returns
    -------
    Checkpoint
        ``cfg.out`` after ``cfg.max_steps`` updates.

    Raises
    ------
    FileExistsError
        ``cfg.out`` already holds a checkpoint past step 0 and ``resume`` is False
        (a step-0 checkpoint left by a run that failed is replaced).
    ValueError
        Resuming with a different configuration (the differing keys are named).
    CollapseError
        The run collapsed (see :mod:`.health`).
    """
    run = _TrainRun(cfg=cfg, out=Path(cfg.out))
    run.rank, run.world, run.device = _setup_distributed(cfg)
    run.is_main = run.rank == 0
    state, saved_meta = _check_out(run, resume)
    run.use_amp = cfg.amp and run.device.type == "cuda"
    corpus, valid = _load_corpora(cfg)
    _build(run, corpus, valid, state, saved_meta)
    if state is None:
        # step 0: the untrained model (all that --regime random writes)
        _checkpoint(run)
        run.barrier()
    if cfg.max_steps == 0 or run.step >= cfg.max_steps:
        return Checkpoint.load(run.out)
    valid_batches = sample_update(valid, seed=cfg.seed, step=0, stream=1,
                                  batch_seconds=cfg.eval_seconds,
                                  micro_batch_seconds=cfg.micro_batch_seconds,
                                  crop_max_s=cfg.crop_max_s, world_size=run.world)
    if run.is_main and state is not None:  # drop records logged after the checkpoint
        keep = [r for r in read_metrics(run.out) if r.get("step", 0) <= run.step]
        with atomic_path(run.metrics_path) as tmp:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in keep))
    bar = progress(range(run.step, cfg.max_steps), desc=f"train {cfg.regime}",
                   total=cfg.max_steps - run.step, unit="step")
    for _ in bar:
        t0 = time.perf_counter()
        lr, schedule, acc, grad_norm = _update(run, corpus)
        metrics = {
            "step": run.step, **run.objective.metrics(acc), **schedule,
            "lr": lr, "grad_norm": grad_norm,
            "audio_hours": run.hours_seen, "n_masked": int(acc["n_masked"]),
            "seconds_per_step": time.perf_counter() - t0,
        }
        at_checkpoint = (run.step % cfg.checkpoint_every == 0
                         or run.step == cfg.max_steps)
        vloss = None
        if at_checkpoint:  # validation first: its record is the checkpoint step's
            vloss, vmetrics = _estimate(run.objective, run.raw_model, valid_batches,
                                        valid, run.device, run.amp, run.rank,
                                        run.world)
            metrics.update({f"valid_{k}": v for k, v in vmetrics.items()},
                           valid_held_out=bool(cfg.valid_corpus))
        _log_step(run, bar, metrics)
        if at_checkpoint:
            _validate_and_save(run, vloss)
    return Checkpoint.load(run.out)


@dataclass
class _TrainRun:
    """The state of one training run: set-up, model and the loop's moving state.

    ``step``, ``hours_seen`` and ``best`` change every update; the helpers below
    read and advance them here instead of in closures.
    """

    cfg: TrainConfig
    out: Path
    rank: int = 0
    world: int = 1
    device: Any = None
    is_main: bool = True
    use_amp: bool = False
    objective: Any = None
    raw_model: Any = None
    model: Any = None
    feature_extractor: Any = None
    n_params: int = 0
    params: list = field(default_factory=list)
    optimizer: Any = None
    monitor: Any = None
    step: int = 0
    hours_seen: float = 0.0
    best: dict = field(default_factory=dict)

    @property
    def metrics_path(self) -> Path:
        return layout.checkpoint_metrics(self.out)

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def amp(self):
        if self.use_amp:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()


def _check_out(run: _TrainRun, resume: bool) -> tuple[dict | None, dict]:
    """Check ``cfg.out`` (resume or a fresh start); the saved state when resuming."""
    cfg, out, is_main = run.cfg, run.out, run.is_main
    check_train_out(cfg, resume=resume)  # before anything is moved or written
    if is_main:
        recover_checkpoint_dir(out)
    has_ckpt = layout.checkpoint_state(out).is_file()
    if has_ckpt and not resume and _only_step0(out):
        # a run that failed before its first update left only the untrained
        # step-0 model: nothing to lose, so a plain re-run starts afresh
        if is_main:
            logger.info("Replacing the step-0 checkpoint that an unfinished run left "
                        "in %s.", out)
            layout.checkpoint_metrics(out).unlink(missing_ok=True)
        has_ckpt = False
    if has_ckpt and not resume:
        raise FileExistsError(f"{out} already holds a checkpoint; pass --resume to "
                              "continue it or choose another --out.")
    state, saved_meta = None, {}
    if resume and has_ckpt:
        saved_meta = read_json(layout.checkpoint_meta(out))
        saved = Checkpoint.load(out).config
        diff = saved.diff(cfg)
        if diff:
            lines = ", ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in
                              ((k, *v) for k, v in sorted(diff.items())))
            raise ValueError(f"Cannot resume {out}: the configuration differs from the "
                             f"checkpoint's in {sorted(diff)} ({lines}).")
        state = load_train_state(out)
    run.barrier()  # every process has looked at `out` before anything is written
    return state, saved_meta


def _load_corpora(cfg: TrainConfig):
    """Training and validation corpora (None, None when ``max_steps`` is 0)."""
    corpus = valid = None
    if cfg.max_steps > 0:
        corpus = load_corpus(cfg.corpus, crop_min_s=cfg.crop_min_s)
        valid = (load_corpus(cfg.valid_corpus, crop_min_s=cfg.crop_min_s)
                 if cfg.valid_corpus else corpus)
        target_h = load_regime(cfg.regime).target_hours
        logger.info("Corpus: %d utterances, %.2f h (%d shorter than %.1f s dropped); "
                    "regime %r targets %g h", len(corpus), corpus.hours,
                    corpus.n_dropped, cfg.crop_min_s, cfg.regime, target_h)
    return corpus, valid


def _build(run: _TrainRun, corpus, valid, state: dict | None, saved_meta: dict) -> None:
    """Objective, model (resumed weights), optimizer and health monitor."""
    cfg, out, device = run.cfg, run.out, run.device
    run.objective = objective = _make_objective(cfg, corpus, valid)
    raw_model = objective.build_model()
    if state is not None:
        objective.check_resume(saved_meta, out)
        from safetensors.torch import load_file

        check_safetensors(layout.checkpoint_weights(out), what="weights file")
        raw_model.load_state_dict(load_file(layout.checkpoint_weights(out)),
                                  strict=True)
    raw_model.to(device)
    model = raw_model
    if run.world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        model = DDP(raw_model,
                    device_ids=[device.index] if device.type == "cuda" else None,
                    find_unused_parameters=raw_model.config.layerdrop > 0)
    run.raw_model, run.model = raw_model, model
    run.feature_extractor = make_feature_extractor(cfg.normalize)
    run.n_params = sum(p.numel() for p in raw_model.parameters())
    logger.info("Model: %s %s, %.2f M parameters, %s x %d process(es)",
                cfg.objective, cfg.preset, run.n_params / 1e6, device, run.world)
    run.params = [p for p in raw_model.parameters() if p.requires_grad]
    run.optimizer = torch.optim.AdamW(run.params, lr=cfg.lr, betas=tuple(cfg.betas),
                                      eps=cfg.eps, weight_decay=cfg.weight_decay)
    run.monitor = objective.monitor(raw_model)
    if state is not None:
        run.optimizer.load_state_dict(state["optimizer"])
        run.step = int(state["step"])
        run.hours_seen = float(state["hours_seen"])
        run.best = dict(state.get("best") or {})
        run.monitor.streak = int(state.get("health_streak", 0))
        logger.info("Resuming %s at step %d", out, run.step)


def _checkpoint(run: _TrainRun, new_best: bool = False) -> Checkpoint | None:
    """Save model, optimizer, schedule, RNG and data position (main process)."""
    if not run.is_main:
        return None
    cfg, step, objective = run.cfg, run.step, run.objective
    st = {"step": step, "optimizer": run.optimizer.state_dict(),
          "schedule": {"step": step, "lr": get_lr(max(step - 1, 0), cfg),
                       **objective.schedule_state(step)},
          "rng": {"torch": torch.get_rng_state(), "seed": cfg.seed},
          "data_position": {"step": step, "seed": cfg.seed},
          "hours_seen": run.hours_seen, "best": run.best,
          "health_streak": run.monitor.streak}
    return save_checkpoint(run.out, model=run.raw_model,
                           feature_extractor=run.feature_extractor,
                           config=cfg, step=step, state=st, best=run.best,
                           new_best=new_best,
                           extra_meta={"hours_seen": run.hours_seen,
                                       "world_size": run.world,
                                       "n_parameters": run.n_params,
                                       **objective.checkpoint_meta()})


def _update(run: _TrainRun, corpus):
    """One optimizer update over the step's micro-batches; advances the step."""
    cfg, objective, raw_model, model = run.cfg, run.objective, run.raw_model, run.model
    world, step, optimizer = run.world, run.step, run.optimizer
    lr = get_lr(step, cfg)
    for group in optimizer.param_groups:
        group["lr"] = lr
    schedule = objective.begin_step(raw_model, step)

    batches = sample_update(corpus, seed=cfg.seed, step=step,
                            batch_seconds=cfg.batch_seconds,
                            micro_batch_seconds=cfg.micro_batch_seconds,
                            crop_max_s=cfg.crop_max_s, world_size=world)
    plans = [objective.plan(mb, raw_model) for mb in batches]
    total_masked = sum(objective.n_masked(p) for p in plans)
    mine = list(range(run.rank, len(batches), world))
    acc = objective.new_acc()
    optimizer.zero_grad(set_to_none=True)
    for j, i in enumerate(mine):
        mb, plan = batches[i], plans[i]
        x, n_mixed = objective.load(plan, corpus)
        torch.manual_seed(mb.seed)  # Gumbel / dropout noise of this micro-batch
        sync = (world == 1 or j == len(mine) - 1)
        ctx = contextlib.nullcontext() if sync else model.no_sync()
        with ctx:
            with run.amp():
                loss, logs = objective.forward(model, raw_model, x, plan, run.device)
            # DDP averages gradients over processes: scale so the result is the
            # sum over the whole update divided by its masked-frame count.
            (loss * (world / total_masked)).backward()
        objective.accumulate(acc, logs, x.size, n_mixed, x.shape[0])
    acc = objective.all_reduce(acc, world)
    clip = cfg.grad_clip if cfg.grad_clip > 0 else float("inf")
    grad_norm = float(torch.nn.utils.clip_grad_norm_(run.params, clip))
    optimizer.step()
    run.step += 1
    run.hours_seen += acc["n_samples"] / TARGET_SFREQ / 3600.0
    return lr, schedule, acc, grad_norm


def _log_step(run: _TrainRun, bar, metrics: dict) -> None:
    """Append the metrics record (every ``log_every``), progress bar, health check."""
    cfg, step = run.cfg, run.step
    if run.is_main and (step % cfg.log_every == 0 or step == cfg.max_steps):
        with open(run.metrics_path, "a") as f:
            f.write(json.dumps(metrics) + "\n")
        if hasattr(bar, "set_postfix"):
            ppl = metrics.get("code_perplexity", metrics.get("pred_perplexity"))
            bar.set_postfix(loss=f"{metrics['loss']:.3f}",
                            acc=f"{metrics['accuracy']:.2f}",
                            ppl=f"{ppl:.1f}", lr=f"{metrics['lr']:.1e}",
                            gnorm=f"{metrics['grad_norm']:.2f}")
    run.monitor.update(step, metrics, last_good=(
        f"The last checkpoint is {run.out} (step "
        f"{step - step % cfg.checkpoint_every}). "))


def _validate_and_save(run: _TrainRun, vloss: float) -> None:
    """Best-so-far bookkeeping of the validation loss, and a checkpoint."""
    new_best = not run.best or vloss < run.best["valid_loss"]
    if new_best:
        run.best = {"step": run.step, "valid_loss": vloss,
                    "held_out": bool(run.cfg.valid_corpus)}
    logger.info("step %d: valid loss %.4f%s", run.step, vloss,
                " (best)" if new_best else "")
    _checkpoint(run, new_best)
    run.barrier()
