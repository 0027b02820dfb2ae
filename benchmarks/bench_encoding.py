"""Benchmark the encoding engine against himalaya, scikit-learn and bare GEMMs.

Each method runs in its own subprocess (peak memory = its ``ru_maxrss``) on the
same synthetic subject: ``--layers`` layers (a random walk, so neighbouring
layers are alike, as in a network's hierarchy), leave-one-run-out outer folds
and, for the inner-CV methods, the same inner splits (leave one training run
out) and alpha grid:

- ``fast``: :func:`brainscore_speech.encoding.score_layers` (default solver,
  float32, default ``search_dtype="auto"``: a bfloat16 alpha search, in torch,
  on CPUs with AMX, else float32 numpy), all layers and folds in one call;
- ``fast-f32`` / ``fast-bf16``: the same with ``search_dtype="float32"``
  (numpy) / ``"bfloat16"`` (torch);
- ``fast-local``: the same with ``solver="fast-local"`` (local alpha search);
- ``exact``: the same with ``solver="exact"`` (the direct float32 solve);
- ``himalaya``: ``himalaya.ridge.RidgeCV(alphas, cv=<same inner splits>)``,
  numpy backend, on the same standardised float32 data (first layer,
  ``--max-folds`` outer folds, extrapolated to all folds);
- ``sklearn``: ``sklearn.linear_model.RidgeCV(alphas, alpha_per_target=True)``
  (GCV, the paper's choice; a different alpha criterion);
- the **GEMM floor** of the fast solve: the multiply-accumulates it counts
  (its large products), divided by the float32 GEMM rate measured in the same
  process on a product of the same shape (its bfloat16 products by the
  bfloat16 rate of torch on that shape).

Times are wall and CPU (``process_time``) seconds; on a shared machine the CPU
time is the steadier of the two. ``--repeat`` runs everything again and reports
the spread.

Usage::

    python benchmarks/bench_encoding.py --quick
    python benchmarks/bench_encoding.py --sizes b --layers 3 --max-folds 2

Prints a table and writes ``benchmarks/results/bench_encoding.json``.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

SIZES = {
    "quick": {"runs": [100] * 5, "d": 64, "t": 2000},
    "a": {"runs": [200] * 10, "d": 768, "t": 20000},
    # Le Petit Prince: 9 runs, 2,816 scans, 768 units, 20,484 vertices
    "b": {"runs": [282, 298, 340, 303, 265, 343, 325, 292, 368], "d": 768, "t": 20484},
}
ALPHAS = np.logspace(-1, 8, 10)
METHODS = ("fast", "fast-f32", "fast-bf16", "fast-local", "exact", "himalaya",
           "sklearn")
SEARCH = {"fast-f32": {"solver": "fast", "search_dtype": "float32"},
          "fast-bf16": {"solver": "fast", "search_dtype": "bfloat16"}}


def make_data(size: str, n_layers: int = 1, seed: int = 0,
              n_targets: int | None = None):
    """Layers: a random walk of smoothed Gaussian features; Y from layer 0.

    Y = X0 W (rank 50) * log-uniform SNR + noise; everything float32.
    """
    cfg = SIZES[size]
    rng = np.random.default_rng(seed)
    n = sum(cfg["runs"])
    d = cfg["d"]
    t = cfg["t"] if n_targets is None else int(n_targets)
    kernel = np.ones(5, dtype=np.float32) / np.float32(5)

    def smooth_noise():
        z = rng.standard_normal((n, d), dtype=np.float32)
        return np.apply_along_axis(lambda c: np.convolve(c, kernel, "same"), 0, z)

    layers = [smooth_noise()]
    for _ in range(1, n_layers):
        x = layers[-1] + np.float32(0.5) * smooth_noise()
        layers.append((x / x.std(0)).astype(np.float32))
    W = (rng.standard_normal((d, 50), dtype=np.float32)
         @ rng.standard_normal((50, t), dtype=np.float32))
    signal = layers[0] @ W
    signal /= signal.std(0)
    snr = np.float32(10.0) ** rng.uniform(-1.5, 0, t).astype(np.float32)
    Y = signal * snr + rng.standard_normal((n, t), dtype=np.float32)
    runs = np.repeat(np.arange(len(cfg["runs"])), cfg["runs"])
    return {f"layer{i}": x.astype(np.float32) for i, x in enumerate(layers)}, \
        Y.astype(np.float32), runs


def _standardize(A, train):
    m = A[train].mean(0, dtype=np.float64)
    s = A[train].std(0, dtype=np.float64)
    s[s == 0] = 1.0
    return ((A - m) / s).astype(np.float32)


def _gemm_rate(m: int, k: int, n: int) -> float:
    """Measured float32 MAC/s of an (m x k) @ (k x n) product (best of a few)."""
    rng = np.random.default_rng(1)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    a @ b
    best = np.inf
    for _ in range(5):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return m * k * n / best


def worker(method: str, size: str, n_layers: int, max_folds: int, n_targets,
           out: str) -> None:
    from brainscore_speech.encoding import (
        group_splits,
        pearson_r,
        run_splits,
        score_layers,
    )

    warnings.simplefilter("ignore")
    layers, Y, runs = make_data(size, n_layers, n_targets=n_targets)
    res: dict = {}
    t0, c0 = time.perf_counter(), time.process_time()
    if method in ("fast", "fast-f32", "fast-bf16", "fast-local", "exact"):
        marks = []
        kw = SEARCH.get(method, {"solver": method})
        ls = score_layers(layers, Y, runs, alphas=ALPHAS, **kw,
                          on_layer=lambda name, s: marks.append(
                              (time.perf_counter(), time.process_time())))
        res["scores"], res["alphas"] = ls.scores, ls.best_alphas
        walls = np.diff([t0] + [m[0] for m in marks])
        cpus = np.diff([c0] + [m[1] for m in marks])
        res["layer_wall"], res["layer_cpu"] = walls, cpus
        res["n_folds"] = ls.scores.shape[1]
        if method != "exact":
            cost = ls.cv["cost"]
            res["gmac"] = cost["gmac"]
            res["eighs"] = cost["eighs"]
            res["evals"] = cost["alphas_evaluated_per_target_fold"]
            res["refined"] = cost["alphas_refined_per_target_fold"]
            res["search_dtype"] = ls.cv["search_dtype"]
            res["backend"] = ls.provenance["params"]["backend"]
            d = next(iter(layers.values())).shape[1]
            n_val = int(np.mean(SIZES[size]["runs"]))
            res["bf16_gmac"] = cost["bf16_gmac"]
            if ls.cv["search_dtype"] == "bfloat16":
                from brainscore_speech.encoding._fastcv import measure_bf16_rate

                # timed before any OpenBLAS call (its spinning threads would
                # take a core from torch's), after a pause
                time.sleep(1.0)
                res["bf16_rate"] = measure_bf16_rate(cached=False)
            res["gemm_rate"] = _gemm_rate(4096, d + 2, n_val)
    else:
        X = layers["layer0"]
        splits = run_splits(runs)[:max_folds]
        scores, alphas = [], []
        for train, test in splits:
            Xs, Ys = _standardize(X, train), _standardize(Y, train)
            if method == "himalaya":
                from himalaya.backend import set_backend
                from himalaya.ridge import RidgeCV

                set_backend("numpy", on_error="raise")
                model = RidgeCV(alphas=ALPHAS, cv=group_splits(runs[train]),
                                fit_intercept=False,
                                solver_params={"n_targets_batch": 4096})
                model.fit(Xs[train], Ys[train])
                pred = np.asarray(model.predict(Xs[test]))
                alphas.append(np.asarray(model.best_alphas_))
            else:
                from sklearn.linear_model import RidgeCV

                model = RidgeCV(alphas=ALPHAS, fit_intercept=False,
                                alpha_per_target=True)
                model.fit(Xs[train], Ys[train])
                pred = model.predict(Xs[test])
                alphas.append(np.asarray(model.alpha_))
            scores.append(pearson_r(Ys[test], pred))
        res["scores"], res["alphas"] = np.array(scores)[None], np.array(alphas)[None]
        res["n_folds"] = len(splits)
        res["layer_wall"] = np.array([time.perf_counter() - t0])
        res["layer_cpu"] = np.array([time.process_time() - c0])
    res["wall"] = time.perf_counter() - t0
    res["cpu"] = time.process_time() - c0
    res["rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    np.savez(out, **res)


def run_method(method: str, size: str, n_layers: int, max_folds: int, n_targets,
               tmp: Path) -> dict:
    out = tmp / f"{method}_{size}.npz"
    cmd = [sys.executable, __file__, "--worker", method, "--size", size,
           "--layers", str(n_layers), "--max-folds", str(max_folds), "--out", str(out)]
    if n_targets:
        cmd += ["--targets", str(n_targets)]
    subprocess.run(cmd, check=True)
    with np.load(out) as f:
        return {k: f[k] for k in f.files}


def _agree(a: dict, b: dict) -> dict:
    """Alpha agreement and |delta r| of ``a`` against ``b`` on their common part."""
    n_l = min(a["alphas"].shape[0], b["alphas"].shape[0])
    n_f = min(a["alphas"].shape[1], b["alphas"].shape[1])
    aa, ba = a["alphas"][:n_l, :n_f], b["alphas"][:n_l, :n_f]
    dr = np.abs(a["scores"][:n_l, :n_f] - b["scores"][:n_l, :n_f])
    same = np.isclose(aa, ba) | (np.isnan(aa) & np.isnan(ba))
    return {"alpha_agreement": float(same.mean()),
            "max_abs_delta_r": float(np.nanmax(dr)),
            "p999_abs_delta_r": float(np.nanpercentile(dr, 99.9)),
            "max_abs_delta_r_where_alphas_agree": float(np.nanmax(dr[same]))
            if same.any() else None}


def cpu_description(cpuinfo: str = "/proc/cpuinfo") -> dict:
    """CPU model and the vector ISA flags that decide GEMM speed (Linux).

    The float32 GEMM rate, and whether bfloat16 products have hardware
    (AVX512-BF16, AMX), differ by machine: a speed table names its CPU.
    """
    model, flags = platform.processor() or platform.machine(), set()
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return {"model": model, "flags": []}
    for line in text.splitlines():
        key, _, val = line.partition(":")
        if key.strip() == "model name" and val.strip():
            model = val.strip()
        elif key.strip() == "flags":
            flags = set(val.split())
            break
    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
    return {"model": model, "flags": [f for f in wanted if f in flags]}


def check_peer() -> None:
    """Exit with how to install himalaya (the peer, an optional extra) if missing."""
    import importlib.util

    if importlib.util.find_spec("himalaya") is None:
        raise SystemExit(
            "bench_encoding.py measures against himalaya, which is not installed: "
            "pip install 'brainscore-speech[bench]' (or pip install himalaya), or "
            "leave it out with --methods fast fast-local exact sklearn.")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small size only")
    parser.add_argument("--sizes", nargs="+", default=["b"], choices=list(SIZES))
    parser.add_argument("--methods", nargs="+",
                        default=["fast", "fast-local", "exact", "himalaya"],
                        choices=METHODS)
    parser.add_argument("--layers", type=int, default=3,
                        help="layers scored by fast/exact (20-layer time is "
                             "extrapolated: first layer + 19 x the later ones)")
    parser.add_argument("--max-folds", type=int, default=10**6,
                        help="outer folds timed for himalaya/sklearn (extrapolated)")
    parser.add_argument("--targets", type=int, default=None,
                        help="use only this many targets (default: the size's)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--size", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--output", default=str(Path(__file__).parent / "results"
                                                / "bench_encoding.json"),
                        help="JSON file, or a folder to write bench_encoding.json in")
    args = parser.parse_args(argv)
    if Path(args.output).is_dir():
        args.output = str(Path(args.output) / "bench_encoding.json")
    if args.worker:
        worker(args.worker, args.size, args.layers, args.max_folds, args.targets,
               args.out)
        return {}
    if "himalaya" in args.methods:
        check_peer()
    sizes = ["quick"] if args.quick else args.sizes
    results = {"alphas": ALPHAS.tolist(), "cpu_count": os.cpu_count(),
               "threads": os.environ.get("OMP_NUM_THREADS"),
               "machine": platform.processor() or platform.machine(),
               "cpu": cpu_description(),
               "load_average_at_start": os.getloadavg(), "layers": args.layers,
               "sizes": {}}
    print(f"{'size':5} {'rep':3} {'method':9} {'s/layer':>8} {'cpu/layer':>9} "
          f"{'20 layers':>9} {'peak GB':>7} {'vs exact':>9} {'alpha agree':>11} "
          f"{'max|dr|':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            n_runs = len(SIZES[size]["runs"])
            reps = []
            for rep in range(args.repeat):
                raw, rows = {}, {}
                for method in args.methods:
                    res = run_method(method, size, args.layers, args.max_folds,
                                     args.targets, Path(tmp))
                    raw[method] = res
                    scale = n_runs / int(res["n_folds"])  # folds extrapolation
                    lw, lc = res["layer_wall"] * scale, res["layer_cpu"] * scale
                    later = lw[1:].mean() if lw.size > 1 else lw[0]
                    later_c = lc[1:].mean() if lc.size > 1 else lc[0]
                    row = {
                        "wall_s": float(res["wall"]), "cpu_s": float(res["cpu"]),
                        "n_folds_timed": int(res["n_folds"]),
                        "layer_wall_s": lw.tolist(), "layer_cpu_s": lc.tolist(),
                        "s_per_layer": float(lw.mean()),
                        "cpu_s_per_layer": float(lc.mean()),
                        "s_20_layers": float(lw[0] + 19 * later),
                        "cpu_s_20_layers": float(lc[0] + 19 * later_c),
                        "peak_rss_gb": float(res["rss_gb"]),
                    }
                    if method.startswith("fast"):
                        low = float(res["bf16_gmac"]) * 1e9
                        floor = (float(res["gmac"]) * 1e9 - low) / float(
                            res["gemm_rate"])
                        if low:
                            floor += low / float(res["bf16_rate"])
                        row.update({"gmac": float(res["gmac"]),
                                    "bf16_gmac": low / 1e9,
                                    "search_dtype": str(res["search_dtype"]),
                                    "backend": str(res["backend"]),
                                    "eighs": int(res["eighs"]),
                                    "alphas_evaluated_per_target_fold":
                                        float(res["evals"]),
                                    "alphas_refined_per_target_fold":
                                        float(res["refined"]),
                                    "gemm_gmac_per_s": float(res["gemm_rate"]) / 1e9,
                                    "bf16_gmac_per_s": float(res["bf16_rate"]) / 1e9
                                    if low else None,
                                    "gemm_floor_s": floor,
                                    "fraction_of_gemm_floor":
                                        floor / float(res["wall"])})
                    rows[method] = row
                for method, row in rows.items():
                    for ref in ("exact", "himalaya"):
                        if ref in rows and ref != method:
                            row[f"speedup_vs_{ref}"] = (
                                rows[ref]["s_per_layer"] / row["s_per_layer"])
                            row[f"cpu_speedup_vs_{ref}"] = (
                                rows[ref]["cpu_s_per_layer"] / row["cpu_s_per_layer"])
                            row[f"vs_{ref}"] = _agree(raw[method], raw[ref])
                    agree = row.get("vs_exact", {})
                    print(f"{size:5} {rep:3} {method:9} {row['s_per_layer']:8.1f} "
                          f"{row['cpu_s_per_layer']:9.1f} {row['s_20_layers']:9.0f} "
                          f"{row['peak_rss_gb']:7.2f} "
                          f"{row.get('speedup_vs_exact', float('nan')):9.2f} "
                          f"{agree.get('alpha_agreement', float('nan')):11.5f} "
                          f"{agree.get('max_abs_delta_r', float('nan')):8.1e}")
                for name in ("fast", "fast-f32", "fast-bf16", "fast-local"):
                    if name not in rows:
                        continue
                    f = rows[name]
                    low = (f" ({f['bf16_gmac']:.0f} of them bfloat16 at "
                           f"{f['bf16_gmac_per_s']:.1f} GMAC/s)" if f["bf16_gmac"]
                           else "")
                    print(f"      GEMM floor of {name} ({f['search_dtype']} search, "
                          f"{f['backend']}): {f['gemm_floor_s']:.1f} s "
                          f"({f['gmac']:.0f} GMAC at {f['gemm_gmac_per_s']:.1f} "
                          f"GMAC/s{low}); reached "
                          f"{100 * f['fraction_of_gemm_floor']:.0f}%")
                reps.append(rows)
            spread = {}
            for method in args.methods:
                for key in ("s_per_layer", "cpu_s_per_layer", "speedup_vs_exact",
                            "speedup_vs_himalaya", "cpu_speedup_vs_himalaya",
                            "cpu_speedup_vs_exact"):
                    vals = [r[method][key] for r in reps if key in r[method]]
                    if vals:
                        spread[f"{method}.{key}"] = {"min": min(vals), "max": max(vals)}
            results["sizes"][size] = {
                "config": {"runs": SIZES[size]["runs"], "n_features": SIZES[size]["d"],
                           "n_targets": args.targets or SIZES[size]["t"]},
                "repeats": reps, "spread": spread}
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from brainscore_speech._io import write_json

    results["load_average_at_end"] = os.getloadavg()
    write_json(args.output, results)
    print(f"wrote {args.output}")
    return results


if __name__ == "__main__":
    main()
