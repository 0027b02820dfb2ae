"""Benchmark: windowed extraction of a wav2vec2-BASE-sized random model on CPU.

Compares, in the same run and each in its own subprocess (peak RSS from
``ru_maxrss``):

- ``naive``: HF eager attention, one 10 s window at a time under ``torch.no_grad``,
  conv blocks captured with hooks, everything accumulated in full-length arrays;
- ``ours``: :func:`brainscore_speech.features.extract_stimuli` (SDPA,
  ``inference_mode``, pooled in-window, streamed to HDF5), float32;
- ``ours-bf16``: the same with ``dtype="bfloat16"`` (autocast) compute;
- ``ours-long``: float32 on 2x longer audio (memory must stay flat).

It also measures, in the same run, the machine's float32 matrix-product rate
(``peak``: a 2048^3 ``torch.matmul``) and counts the multiply-adds of one window
of the model, so the table says how close each method is to the float32
roofline (a float32 speed-up above ``peak / naive rate`` is impossible without
doing less arithmetic), and compares the bfloat16 activations with the float32
ones layer by layer (median over units of Pearson r, relative RMS error).

ISA comparison (``--isa-only`` runs just this part): the BASE-size model built
from its config extracts the same audio in float32 and in bfloat16, in one
subprocess per oneDNN ISA: the default (AMX where the CPU has it),
``ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16`` and ``AVX2``; per-unit Pearson r of every
layer against float32 must stay >= 0.999 under each. The CPU's bf16-relevant
flags (avx2, avx512_bf16, amx_bf16) are recorded beside the numbers: on a CPU
without them every setting runs the same (emulated) bf16 path, and the
comparison says so.

Usage::

    .venv/bin/python benchmarks/bench_extract.py --minutes 10
    .venv/bin/python benchmarks/bench_extract.py --isa-only --isa-seconds 60

Prints a table and writes ``benchmarks/results/bench_extract.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared" / "data" / "speech"
WINDOW_S, STRIDE_S, SFREQ = 10.0, 5.0, 16000


def make_audio(path: Path, minutes: float) -> None:
    """Real speech clips from ../shared/data tiled to ``minutes`` (noise if absent)."""
    import soundfile as sf

    from brainscore_speech.data.audio import load_audio

    n = int(minutes * 60 * SFREQ)
    clips = sorted(SHARED.glob("*/fleurs_cuttledoc/*.ogg")) if SHARED.is_dir() else []
    if clips:
        base = np.concatenate([load_audio(c) for c in clips])
    else:
        rng = np.random.default_rng(0)
        base = rng.standard_normal(SFREQ * 60).astype(np.float32) * .1
    wave = np.resize(base, n).astype(np.float32)
    sf.write(str(path), wave, SFREQ)


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def worker_naive(wav: Path, batch_size: int) -> dict:
    import copy

    import torch
    from transformers import Wav2Vec2Model

    from brainscore_speech.data.audio import load_audio
    from brainscore_speech.features import make_random_model

    ref = make_random_model(seed=0)  # default Wav2Vec2Config: BASE
    model = Wav2Vec2Model._from_config(copy.deepcopy(ref.config),
                                       attn_implementation="eager").eval()
    model.load_state_dict(ref.wav2vec2.state_dict())
    del ref
    pools = [32, 16, 8, 4, 2, 1, 1]
    t0 = time.perf_counter()
    wave = load_audio(wav)
    n = len(wave)
    win, hop = int(WINDOW_S * SFREQ), int(STRIDE_S * SFREQ)
    n_conv = [(n - rf) // h + 1 for h, rf in
              [(5, 10), (10, 20), (20, 40), (40, 80), (80, 160), (160, 240), (320,
                                                                              400)]]
    sums = {f"conv{i}": np.zeros((n_conv[i] // p, 512), np.float32)
            for i, p in enumerate(pools)}
    sums.update({f"h{k}": np.zeros((n_conv[-1], 768), np.float32) for k in range(13)})
    counts = {k: np.zeros(len(v), np.float32) for k, v in sums.items()}
    store: dict[int, np.ndarray] = {}
    hooks = [layer.register_forward_hook(
        lambda m, i, o, k=k: store.__setitem__(k, o[0].numpy()))
        for k, layer in enumerate(model.feature_extractor.conv_layers)]
    with torch.no_grad():
        for start in range(0, max(n - win, 0) + hop, hop):
            seg = wave[start:start + win]
            if len(seg) < 400:
                break
            out = model(torch.from_numpy(seg)[None], output_hidden_states=True)
            for i, p in enumerate(pools):
                x = store[i].T  # (T, 512) native
                a = start // (5 * 2 ** i)
                first = -(-a // p) * p - a
                m = (len(x) - first) // p
                rows = x[first:first + m * p].reshape(m, p, -1).mean(1)
                j0 = (a + first) // p
                j1 = min(j0 + m, len(sums[f"conv{i}"]))
                sums[f"conv{i}"][j0:j1] += rows[:j1 - j0]
                counts[f"conv{i}"][j0:j1] += 1
            a = start // 320
            for k, h in enumerate(out.hidden_states):
                x = h[0].numpy()
                sums[f"h{k}"][a:a + len(x)] += x
                counts[f"h{k}"][a:a + len(x)] += 1
    result = {k: sums[k] / np.maximum(counts[k], 1)[:, None] for k in sums}
    elapsed = time.perf_counter() - t0
    for h in hooks:
        h.remove()
    return {"seconds": elapsed, "audio_s": n / SFREQ, "peak_rss_gb": _peak_gb(),
            "n_layers": len(result)}


def worker_ours(wav: Path, batch_size: int, dtype: str, out: Path) -> dict:
    from brainscore_speech.data.audio import audio_info
    from brainscore_speech.features import (
        extract_stimuli,
        make_random_model,
        wrap_model,
    )

    sm = wrap_model(make_random_model(seed=0), model_id="random-base")
    t0 = time.perf_counter()
    extract_stimuli(sm, [wav], out, window_s=WINDOW_S, stride_s=STRIDE_S,
                    batch_size=batch_size, dtype=dtype, skip_existing=False,
                    verbose="WARNING")
    elapsed = time.perf_counter() - t0
    n = audio_info(wav)[0]
    return {"seconds": elapsed, "audio_s": n / SFREQ, "peak_rss_gb": _peak_gb(),
            "n_layers": len(sm.layer_names), "attn": sm.attn_implementation}


def window_macs() -> dict[str, float]:
    """Multiply-adds of one 10 s window of the BASE model, by part (analytic)."""
    from transformers import Wav2Vec2Config

    cfg = Wav2Vec2Config()
    n, c_in, macs = int(WINDOW_S * SFREQ), 1, {"conv": 0.0}
    for c, k, s in zip(cfg.conv_dim, cfg.conv_kernel, cfg.conv_stride):
        n = (n - k) // s + 1
        macs["conv"] += n * c * c_in * k
        c_in = c
    d, f, g = cfg.hidden_size, cfg.intermediate_size, cfg.num_conv_pos_embedding_groups
    macs["projection"] = n * c_in * d
    macs["pos_conv"] = n * d * (d // g) * cfg.num_conv_pos_embeddings
    macs["transformer"] = cfg.num_hidden_layers * (4 * n * d * d + 2 * n * d * f
                                                   + 2 * n * n * d)
    macs["total"] = sum(macs.values())
    return macs


def worker_peak() -> dict:
    """float32 matrix-product rate of this machine (best of 5, 2048^3)."""
    import torch

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    for _ in range(2):
        a @ b
    best = min(_timed(lambda: a @ b) for _ in range(5))
    return {"gmac_per_s": 2048 ** 3 / best / 1e9, "threads": torch.get_num_threads()}


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def fidelity(ref_h5: Path, test_h5: Path) -> dict[str, dict[str, float]]:
    """Per layer: median over units of Pearson r and relative RMS error vs float32."""
    from brainscore_speech.containers import (
        list_activation_layers,
        read_activation_layer,
    )
    from brainscore_speech.encoding import pearson_r

    out = {}
    for name in list_activation_layers(ref_h5):
        x = read_activation_layer(ref_h5, name)[0].astype(np.float64)
        y = read_activation_layer(test_h5, name)[0].astype(np.float64)
        r = pearson_r(x, y)
        out[name] = {"median_r": float(np.nanmedian(r)), "min_r": float(np.nanmin(r)),
                     "rel_rms": float(np.sqrt(((x - y) ** 2).mean() / (x ** 2).mean()))}
    return out


ISAS = (None, "AVX512_CORE_BF16", "AVX2")
BF16_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_flags() -> dict:
    """Model name and the bf16-relevant flags of this CPU (Linux /proc/cpuinfo)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {"model": platform.processor(), "flags": {}}
    model = next((ln.split(":", 1)[1].strip() for ln in text.splitlines()
                  if ln.startswith("model name")), "")
    flags = set(next((ln.split(":", 1)[1].split() for ln in text.splitlines()
                      if ln.startswith("flags")), []))
    return {"model": model, "flags": {f: f in flags for f in BF16_FLAGS}}


def worker_isa(wav: Path, out: Path) -> dict:
    """float32 and bfloat16 extraction of the BASE model; per-layer per-unit r."""
    import torch

    from brainscore_speech._threads import set_threads
    from brainscore_speech.features import (
        extract_stimuli,
        make_random_model,
        wrap_model,
    )

    set_threads()
    sm = wrap_model(make_random_model(seed=0), model_id="random-base")
    seconds = {}
    for dtype in ("float32", "bfloat16"):
        t0 = time.perf_counter()
        extract_stimuli(sm, [wav], out / dtype, window_s=WINDOW_S, stride_s=STRIDE_S,
                        dtype=dtype, skip_existing=False, verbose="WARNING")
        seconds[dtype] = time.perf_counter() - t0
    fid = fidelity(out / "float32" / wav.name.replace(".wav", ".h5"),
                   out / "bfloat16" / wav.name.replace(".wav", ".h5"))
    return {"isa": os.environ.get("ONEDNN_MAX_CPU_ISA") or "default",
            "threads": torch.get_num_threads(), "seconds": seconds,
            "min_r": min(f["min_r"] for f in fid.values()),
            "median_r": float(np.median([f["median_r"] for f in fid.values()])),
            "worst_layer": min(fid, key=lambda k: fid[k]["min_r"]), "layers": fid}


def isa_comparison(seconds: float, tmp: Path) -> dict:
    """Run :func:`worker_isa` under each ISA setting (one subprocess each)."""
    wav = tmp / "isa.wav"
    make_audio(wav, seconds / 60)
    rows = {}
    for isa in ISAS:
        env = {"ONEDNN_MAX_CPU_ISA": isa} if isa else {"ONEDNN_MAX_CPU_ISA": None}
        rows[isa or "default"] = run_worker("isa", wav, 1, tmp / f"isa-{isa}", env=env)
        r = rows[isa or "default"]
        print(f"  isa {r['isa']}: min r {r['min_r']:.5f} (worst {r['worst_layer']}), "
              f"median r {r['median_r']:.6f}", flush=True)
    cpu = cpu_flags()
    has = [f for f, v in cpu["flags"].items() if v]
    note = ("no AVX512-BF16 / AMX on this CPU: every setting runs the same bf16 path "
            "(AVX2 emulation), so they cannot differ here; an AMX machine is needed "
            "to see the AMX kernels" if not (cpu["flags"].get("avx512_bf16")
                                             or cpu["flags"].get("amx_bf16")) else
            "AVX512-BF16/AMX present: the default ISA exercises them")
    return {"audio_s": seconds, "cpu": cpu, "cpu_has": has, "note": note,
            "rows": rows, "all_min_r": min(r["min_r"] for r in rows.values()),
            "goal_min_r": 0.999}


def print_isa(isa: dict) -> None:
    print(f"\nbfloat16 vs float32 per ISA (BASE model, {isa['audio_s']:g} s of audio; "
          f"CPU {isa['cpu']['model']!r}, flags {isa['cpu_has']}):")
    print(f"{'ONEDNN_MAX_CPU_ISA':<20} {'min unit r':>11} {'worst layer':>14} "
          f"{'median r':>10} {'fp32 s':>7} {'bf16 s':>7}")
    for name, r in isa["rows"].items():
        print(f"{name:<20} {r['min_r']:>11.5f} {r['worst_layer']:>14} "
              f"{r['median_r']:>10.6f} {r['seconds']['float32']:>7.1f} "
              f"{r['seconds']['bfloat16']:>7.1f}")
    print(f"goal: per-unit r >= {isa['goal_min_r']} under every ISA -> "
          f"{'met' if isa['all_min_r'] >= isa['goal_min_r'] else 'NOT met'}; "
          f"{isa['note']}.")


def run_worker(kind: str, wav: Path, batch_size: int, out: Path | None = None,
               env: dict | None = None) -> dict:
    cmd = [sys.executable, __file__, "--worker", kind, "--wav", str(wav),
           "--batch-size", str(batch_size)] + (["--keep", str(out)] if out else [])
    base = dict(os.environ, BRAINSCORE_SPEECH_PROGRESS="off", HF_HUB_OFFLINE="1")
    for key, value in (env or {}).items():
        if value is None:
            base.pop(key, None)
        else:
            base[key] = value
    env = base
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"worker {kind} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--skip-long", action="store_true")
    parser.add_argument("--worker", choices=["naive", "ours", "ours-bf16", "peak",
                                             "isa"])
    parser.add_argument("--isa-only", action="store_true",
                        help="Only the bfloat16-per-ISA comparison.")
    parser.add_argument("--isa-seconds", type=float, default=60.0,
                        help="Audio (s) of the ISA comparison.")
    parser.add_argument("--wav", type=Path)
    parser.add_argument("--keep", type=Path, help="(worker) output folder")
    parser.add_argument("--out", type=Path,
                        default=HERE / "results" / "bench_extract.json")
    args = parser.parse_args()
    if args.worker:
        if args.worker == "naive":
            res = worker_naive(args.wav, args.batch_size)
        elif args.worker == "peak":
            res = worker_peak()
        elif args.worker == "isa":
            res = worker_isa(args.wav, args.keep)
        else:
            res = worker_ours(args.wav, args.batch_size,
                              "bfloat16" if args.worker == "ours-bf16" else "float32",
                              args.keep)
        print(json.dumps(res))
        return

    if args.isa_only:
        with tempfile.TemporaryDirectory() as tmp:
            isa = isa_comparison(args.isa_seconds, Path(tmp))
        print_isa(isa)
        out = args.out.with_name("bench_extract_isa.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"benchmark": "bench_extract --isa-only",
                                   "platform": platform.platform(), **isa},
                                  indent=2) + "\n")
        print(f"\nwrote {out}")
        return
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        isa = isa_comparison(args.isa_seconds, Path(tmp))
        wav = Path(tmp) / "audio.wav"
        make_audio(wav, args.minutes)
        peak = run_worker("peak", wav, 1)
        for kind in ("naive", "ours", "ours-bf16"):
            keep = Path(tmp) / kind if kind.startswith("ours") else None
            rows[kind] = run_worker(kind, wav, args.batch_size, keep)
            print(f"  {kind}: {rows[kind]}", flush=True)
        fid = fidelity(Path(tmp) / "ours" / "audio.h5",
                       Path(tmp) / "ours-bf16" / "audio.h5")
        if not args.skip_long:
            wav2 = Path(tmp) / "audio2.wav"
            make_audio(wav2, 2 * args.minutes)
            rows["ours-long"] = run_worker("ours", wav2, args.batch_size,
                                           Path(tmp) / "long")
            print(f"  ours-long: {rows['ours-long']}", flush=True)
    naive_rate = rows["naive"]["audio_s"] / rows["naive"]["seconds"]
    macs = window_macs()
    # each window advances by STRIDE_S seconds of new audio
    macs_per_audio_s = macs["total"] / STRIDE_S
    ceiling = peak["gmac_per_s"] * 1e9 / macs_per_audio_s
    print(f"\nwav2vec2 BASE random model, {args.minutes:g} min of audio, "
          f"{WINDOW_S:g} s windows / {STRIDE_S:g} s stride, CPU, "
          f"{os.cpu_count()} cores\n")
    print(f"{'method':<12} {'audio (s)':>10} {'time (s)':>9} {'audio s/s':>10} "
          f"{'x naive':>8} {'% fp32 peak':>12} {'peak RSS (GB)':>14}")
    for kind, r in rows.items():
        rate = r["audio_s"] / r["seconds"]
        r["audio_s_per_s"] = rate
        r["speedup_vs_naive"] = rate / naive_rate
        r["fraction_of_fp32_peak"] = rate / ceiling
        print(f"{kind:<12} {r['audio_s']:>10.0f} {r['seconds']:>9.1f} {rate:>10.2f} "
              f"{rate / naive_rate:>8.2f} {100 * rate / ceiling:>11.0f}% "
              f"{r['peak_rss_gb']:>14.2f}")
    print(f"\nfloat32 roofline: matmul {peak['gmac_per_s']:.1f} GMAC/s, "
          f"{macs['total'] / 1e9:.1f} GMAC per {WINDOW_S:g} s window "
          f"({macs_per_audio_s / 1e9:.1f} GMAC per new second of audio) -> at most "
          f"{ceiling:.2f} audio s/s = {ceiling / naive_rate:.2f}x naive in float32")
    print("\nbfloat16 vs float32 activations (median / min over units of Pearson r, "
          "relative RMS error):")
    for name, f in fid.items():
        print(f"  {name:<14} r {f['median_r']:.5f} / {f['min_r']:.4f}   "
              f"rel. RMS {f['rel_rms']:.4f}")
    print_isa(isa)
    result = {"benchmark": "bench_extract", "minutes": args.minutes,
              "window_s": WINDOW_S, "stride_s": STRIDE_S, "batch_size": args.batch_size,
              "cpu_count": os.cpu_count(), "platform": platform.platform(),
              "fp32_peak": peak, "window_macs": macs,
              "fp32_ceiling_audio_s_per_s": ceiling,
              "fp32_ceiling_x_naive": ceiling / naive_rate,
              "bf16_fidelity": fid, "bf16_isa": isa, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
