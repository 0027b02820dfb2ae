"""Benchmark: pretraining throughput of the built-in trainer (tiny and base presets).

For each objective (wav2vec2, hubert, wavlm) and preset, in the same run and on the
same batch shape:

- ``ours``: :func:`brainscore_speech.training.train` (our criterion with feature
  penalty and code perplexity, health checks, metrics.jsonl), time per update from
  its ``seconds_per_step`` records (checkpoint writes excluded);
- ``hf-peer``: a bare HF step, the way ``run_wav2vec2_pretraining_no_trainer.py``
  does it: HF ``_compute_mask_indices`` / ``_sample_negative_indices``, the HF loss
  from ``Wav2Vec2ForPreTraining(..., sampled_negative_indices=...)``, backward,
  clipping, AdamW. For HuBERT / WavLM the peer is the bare HF
  ``HubertModel`` / ``WavLMModel`` forward on masked input (HF
  ``_compute_mask_indices``), a linear head with cross-entropy on the masked frames
  against fixed random units, backward, clipping, AdamW (HF has no HuBERT
  pretraining class, METHODS §15).

Reports steps/s, audio-seconds/s and audio-seconds/s per CPU core (or per GPU),
and the ratio ours / peer (1.0 = no overhead).

Usage::

    .venv/bin/python benchmarks/bench_train.py [--tiny-steps 20] [--base-steps 3]
        [--objectives wav2vec2,hubert,wavlm]

Prints a table and writes ``benchmarks/results/bench_train.json``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SFREQ = 16000


def make_corpus(folder: Path, n_files: int = 8, seconds: float = 5.0) -> Path:
    """Chirp audio (3 AM gliding tones + noise) and its manifest."""
    import soundfile as sf

    from brainscore_speech.training import build_manifest

    rng = np.random.default_rng(0)
    (folder / "audio").mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * SFREQ)) / SFREQ
    for i in range(n_files):
        x = sum(np.sin(2 * np.pi * (rng.uniform(100, 3000) * t
                                    + rng.uniform(-300,
                                                  300) * t ** 2)) for _ in range(3))
        x = x + 0.05 * rng.standard_normal(t.size)
        sf.write(folder / "audio" / f"c{i}.wav", (0.2 * x).astype(np.float32), SFREQ)
    return build_manifest(folder / "audio", folder / "m.tsv")


def make_targets(manifest: Path, out: Path) -> Path:
    """MFCC k-means targets (K = 100) of the bench corpus (setup, not timed)."""
    from brainscore_speech.training import build_targets

    build_targets([manifest], out, n_clusters=100, fraction=1.0, seed=0,
                  kmeans={"n_init": 1}, verbose="WARNING")
    return out


def bench_ours(manifest: Path, out: Path, preset: str, steps: int, crop_s: float,
               n_crops: int, device: str, objective: str = "wav2vec2",
               targets: Path | None = None) -> list[float]:
    from brainscore_speech.training import make_config, read_metrics, train

    extra = {} if objective == "wav2vec2" else {"objective": objective,
                                                "targets": str(targets)}
    cfg = make_config(regime="speech-en", preset=preset, corpus=[str(manifest)],
                      out=str(out), max_steps=steps, checkpoint_every=steps,
                      batch_seconds=crop_s * n_crops,
                      micro_batch_seconds=crop_s * n_crops,
                      crop_min_s=crop_s, crop_max_s=crop_s, eval_seconds=crop_s,
                      warmup_frac=0.0, device=device, log_every=1, **extra)
    train(cfg, verbose="WARNING")
    return [r["seconds_per_step"] for r in read_metrics(out)]


def bench_peer(preset: str, steps: int, crop_s: float, n_crops: int,
               device: str) -> list[float]:
    import torch
    from transformers.models.wav2vec2.modeling_wav2vec2 import (
        _compute_mask_indices,
        _sample_negative_indices,
    )

    from brainscore_speech.training import build_model

    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available()
                       else "cpu" if device == "auto" else device)
    model = build_model(preset, seed=0).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-6,
                            weight_decay=0.01)
    n = int(crop_s * SFREQ)
    x = torch.randn(n_crops, n, device=dev)
    t_frames = int(model._get_feat_extract_output_lengths(n))
    c = model.config
    times = []
    for step in range(steps):
        t0 = time.perf_counter()
        mask = _compute_mask_indices((n_crops, t_frames), c.mask_time_prob,
                                     c.mask_time_length, min_masks=2)
        neg = _sample_negative_indices((n_crops, t_frames), c.num_negatives,
                                       mask_time_indices=mask)
        model.set_gumbel_temperature(max(2 * 0.98 ** step, 0.5))
        out = model(x, mask_time_indices=torch.from_numpy(mask).to(dev),
                    sampled_negative_indices=torch.from_numpy(neg).to(dev))
        opt.zero_grad()
        (out.loss / mask.sum()).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return times


def bench_masked_peer(objective: str, preset: str, steps: int, crop_s: float,
                      n_crops: int, device: str) -> list[float]:
    """Bare HF HubertModel / WavLMModel step with a linear CE head (see docstring)."""
    import torch
    from transformers.models.hubert.modeling_hubert import _compute_mask_indices

    from brainscore_speech.training.hubert import build_masked_prediction_model

    dev = torch.device("cuda" if device == "auto" and torch.cuda.is_available()
                       else "cpu" if device == "auto" else device)
    base = build_masked_prediction_model(objective, preset, num_clusters=100,
                                         seed=0).base_model.to(dev).train()
    head = torch.nn.Linear(base.config.hidden_size, 100).to(dev)
    params = list(base.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.98), eps=1e-6,
                            weight_decay=0.01)
    n = int(crop_s * SFREQ)
    x = torch.randn(n_crops, n, device=dev)
    t_frames = int(base._get_feat_extract_output_lengths(n))
    labels = torch.randint(0, 100, (n_crops, t_frames), device=dev)
    c = base.config
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        mask = torch.from_numpy(_compute_mask_indices(
            (n_crops, t_frames), c.mask_time_prob, c.mask_time_length,
            min_masks=2)).to(dev)
        out = base(x, mask_time_indices=mask).last_hidden_state
        loss = torch.nn.functional.cross_entropy(head(out[mask]), labels[mask])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 10.0)
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return times


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny-steps", type=int, default=20)
    p.add_argument("--base-steps", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--objectives", default="wav2vec2,hubert,wavlm",
                   help="Comma-separated objectives to time.")
    p.add_argument("--repeats", type=int, default=1,
                   help="Repeat each measurement; the spread is reported.")
    args = p.parse_args(argv)
    import torch

    cores = torch.get_num_threads()
    on_gpu = args.device != "cpu" and torch.cuda.is_available()
    units = 1 if on_gpu else cores
    unit = "GPU" if on_gpu else "core"
    # (preset, steps, crop seconds, crops per update)
    cases = [("tiny", args.tiny_steps, 2.0, 8), ("base", args.base_steps, 4.0, 2)]
    objectives = [o.strip() for o in args.objectives.split(",") if o.strip()]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        manifest = make_corpus(Path(tmp))
        targets = (make_targets(manifest, Path(tmp) / "targets")
                   if set(objectives) - {"wav2vec2"} else None)
        for objective in objectives:
            for preset, steps, crop_s, n_crops in cases:
                audio = crop_s * n_crops
                res = {}
                for name in ("hf-peer", "ours"):
                    meds = []
                    for rep in range(args.repeats):
                        if name == "ours":
                            t = bench_ours(manifest, Path(tmp) / f"{objective}-{preset}"
                                           f"-{rep}", preset, steps, crop_s, n_crops,
                                           args.device, objective, targets)
                        elif objective == "wav2vec2":
                            t = bench_peer(preset, steps, crop_s, n_crops, args.device)
                        else:
                            t = bench_masked_peer(objective, preset, steps, crop_s,
                                                  n_crops, args.device)
                        meds.append(float(np.median(t[1:] if len(t) > 2 else t)))
                    med = float(np.median(meds))  # warm-up step skipped above
                    res[name] = med
                    rows.append({"objective": objective, "preset": preset,
                                 "impl": name, "steps": steps,
                                 "audio_s_per_step": audio, "s_per_step": med,
                                 "s_per_step_min": min(meds),
                                 "s_per_step_max": max(meds),
                                 "steps_per_s": 1 / med, "audio_s_per_s": audio / med,
                                 f"audio_s_per_s_per_{unit}": audio / med / units})
                rows[-1]["ratio_vs_peer"] = res["hf-peer"] / res["ours"]
                rows[-2]["ratio_vs_peer"] = 1.0
    header = (f"{'objective':9} {'preset':6} {'impl':8} {'s/step':>8} {'range':>13} "
              f"{'steps/s':>8} {'audio s/s':>10} {'audio s/s/' + unit:>15} "
              f"{'speed vs peer':>14}")
    print(header)
    for r in rows:
        spread = f"{r['s_per_step_min']:.3f}-{r['s_per_step_max']:.3f}"
        print(f"{r['objective']:9} {r['preset']:6} {r['impl']:8} "
              f"{r['s_per_step']:8.3f} "
              f"{spread:>13} {r['steps_per_s']:8.2f} {r['audio_s_per_s']:10.1f} "
              f"{r[f'audio_s_per_s_per_{unit}']:15.2f} {r['ratio_vs_peer']:14.2f}")
    result = {"benchmark": "bench_train", "device": "cuda" if on_gpu else "cpu",
              "threads": cores, "units": units, "unit": unit,
              "platform": platform.platform(), "python": sys.version.split()[0],
              "torch": torch.__version__, "rows": rows,
              "note": "ratio_vs_peer = peer time / our time per update (>1: faster)."}
    name = "bench_train.json" if not on_gpu else "bench_train_gpu.json"
    out = HERE / "results" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    from brainscore_speech._io import write_json

    write_json(out, result)
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
