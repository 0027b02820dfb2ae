"""Benchmark the encoding engine against himalaya, scikit-learn and bare matmuls.

Each method runs in its own subprocess (peak memory = its ``ru_maxrss``) on the
same synthetic layer, with the same outer folds (leave one run out) and, for
the inner-CV methods, the same inner splits (leave one training run out):

- ``ours``: :func:`brainscore_speech.encoding.score_layers` (float32, numpy);
- ``himalaya``: ``himalaya.ridge.RidgeCV(alphas, cv=<same inner splits>)``,
  numpy backend, on the same standardised float32 data;
- ``sklearn``: ``sklearn.linear_model.RidgeCV(alphas, alpha_per_target=True)``
  (GCV, the paper's choice; a different alpha criterion);
- ``matmul``: the bare float32 products the inner CV needs per outer fold
  (``X'Y`` once, one ``(n_train x d) @ (d x T)`` per alpha) - a floor.

Usage::

    python benchmarks/bench_encoding.py --quick
    python benchmarks/bench_encoding.py --sizes a b --max-folds 2

Prints a table and writes ``benchmarks/results/bench_encoding.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SIZES = {
    "quick": {"runs": [100] * 5, "d": 64, "t": 2000},
    "a": {"runs": [200] * 10, "d": 768, "t": 20000},
    "b": {"runs": [282, 298, 340, 303, 265, 343, 325, 292, 368], "d": 768, "t": 20484},
}
ALPHAS = np.logspace(-1, 8, 10)
METHODS = ("ours", "himalaya", "sklearn", "matmul")


def make_data(size: str, seed: int = 0):
    """Smoothed Gaussian X; Y = X W (rank 50) * log-uniform SNR + noise; float32."""
    cfg = SIZES[size]
    rng = np.random.default_rng(seed)
    n = sum(cfg["runs"])
    d, t = cfg["d"], cfg["t"]
    X = rng.standard_normal((n, d), dtype=np.float32)
    kernel = np.ones(5, dtype=np.float32) / np.float32(5)
    X = np.apply_along_axis(lambda c: np.convolve(c, kernel, "same"), 0, X)
    W = (rng.standard_normal((d, 50), dtype=np.float32)
         @ rng.standard_normal((50, t), dtype=np.float32))
    signal = X @ W
    signal /= signal.std(0)
    snr = np.float32(10.0) ** rng.uniform(-1.5, 0, t).astype(np.float32)
    Y = signal * snr + rng.standard_normal((n, t), dtype=np.float32)
    runs = np.repeat(np.arange(len(cfg["runs"])), cfg["runs"])
    return X.astype(np.float32), Y.astype(np.float32), runs


def _standardize(A, train):
    m = A[train].mean(0, dtype=np.float64)
    s = A[train].std(0, dtype=np.float64)
    s[s == 0] = 1.0
    return ((A - m) / s).astype(np.float32)


def worker(method: str, size: str, max_folds: int, out: str) -> None:
    from brainscore_speech.encoding import group_splits, pearson_r, run_splits

    X, Y, runs = make_data(size)
    splits = run_splits(runs)[:max_folds]
    t0 = time.perf_counter()
    scores, alphas = [], []
    if method == "ours":
        from brainscore_speech.encoding.ridge import ridge_cv_predict

        for train, test in splits:
            Xs, Ys = _standardize(X, train), _standardize(Y, train)
            pred, best = ridge_cv_predict(Xs[train], Ys[train], Xs[test], alphas=ALPHAS,
                                          splits=group_splits(runs[train]))
            scores.append(pearson_r(Ys[test], pred))
            alphas.append(ALPHAS[best])
    elif method == "himalaya":
        from himalaya.backend import set_backend
        from himalaya.ridge import RidgeCV

        set_backend("numpy", on_error="raise")
        for train, test in splits:
            Xs, Ys = _standardize(X, train), _standardize(Y, train)
            model = RidgeCV(alphas=ALPHAS, cv=group_splits(runs[train]),
                            fit_intercept=False,
                            solver_params={"n_targets_batch": 4096})
            model.fit(Xs[train], Ys[train])
            scores.append(pearson_r(Ys[test], np.asarray(model.predict(Xs[test]))))
            alphas.append(np.asarray(model.best_alphas_))
    elif method == "sklearn":
        from sklearn.linear_model import RidgeCV

        for train, test in splits:
            Xs, Ys = _standardize(X, train), _standardize(Y, train)
            model = RidgeCV(alphas=ALPHAS, fit_intercept=False, alpha_per_target=True)
            model.fit(Xs[train], Ys[train])
            scores.append(pearson_r(Ys[test], model.predict(Xs[test])))
            alphas.append(np.asarray(model.alpha_))
    elif method == "matmul":
        for train, _ in splits:
            Xs, Ys = _standardize(X, train), _standardize(Y, train)
            Xt, Yt = Xs[train], Ys[train]
            for start in range(0, Yt.shape[1], 4096):
                yb = Yt[:, start:start + 4096]
                c = Xt.T @ yb
                for _ in ALPHAS:
                    (Xt @ c).sum()
    wall = time.perf_counter() - t0
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    np.savez(out, scores=np.array(scores), alphas=np.array(alphas),
             wall=wall, rss_gb=rss_gb, n_folds=len(splits))


def run_method(method: str, size: str, max_folds: int, tmp: Path) -> dict:
    out = tmp / f"{method}_{size}.npz"
    subprocess.run([sys.executable, __file__, "--worker", method, "--size", size,
                    "--max-folds", str(max_folds), "--out", str(out)], check=True)
    with np.load(out) as f:
        return {k: f[k] for k in f.files}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--sizes", nargs="+", default=["a", "b"], choices=list(SIZES))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--max-folds", type=int, default=10**6,
                        help="outer folds timed (all by default); time per layer is "
                             "extrapolated to all folds")
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--size", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--output", default=str(Path(__file__).parent / "results"
                                                / "bench_encoding.json"))
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.size, args.max_folds, args.out)
        return {}
    sizes = ["quick"] if args.quick else args.sizes
    results = {"alphas": ALPHAS.tolist(), "cpu_count": os.cpu_count(), "sizes": {}}
    print(f"{'size':6} {'method':9} {'s/fold':>8} {'s/layer':>8} {'vs ours':>8} "
          f"{'peak GB':>8} {'alpha agree':>11} {'max|dr|':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            n_runs = len(SIZES[size]["runs"])
            rows = {}
            for method in args.methods:
                res = run_method(method, size, args.max_folds, Path(tmp))
                n_folds = int(res["n_folds"])
                rows[method] = {
                    "wall_s": float(res["wall"]), "n_folds_timed": n_folds,
                    "s_per_fold": float(res["wall"]) / n_folds,
                    "s_per_layer": float(res["wall"]) / n_folds * n_runs,
                    "peak_rss_gb": float(res["rss_gb"]),
                }
                if method != "matmul":
                    rows[method]["_scores"] = res["scores"]
                    rows[method]["_alphas"] = res["alphas"]
            for method, row in rows.items():
                if "ours" in rows:
                    row["ratio_to_ours"] = row["s_per_fold"] / rows["ours"]["s_per_fold"]
                if "_scores" in row and "ours" in rows:
                    same = np.isclose(row["_alphas"], rows["ours"]["_alphas"])
                    dr = np.abs(row["_scores"] - rows["ours"]["_scores"])[same]
                    row["alpha_agreement"] = float(same.mean())
                    row["max_abs_delta_r_where_alphas_agree"] = float(np.nanmax(dr)) if dr.size else None
                print(f"{size:6} {method:9} {row['s_per_fold']:8.2f} {row['s_per_layer']:8.1f} "
                      f"{row.get('ratio_to_ours', float('nan')):8.2f} {row['peak_rss_gb']:8.2f} "
                      f"{row.get('alpha_agreement', float('nan')):11.4f} "
                      f"{row.get('max_abs_delta_r_where_alphas_agree') or float('nan'):9.2e}")
            for row in rows.values():
                row.pop("_scores", None)
                row.pop("_alphas", None)
            results["sizes"][size] = {"config": {"runs": SIZES[size]["runs"],
                                                 "n_features": SIZES[size]["d"],
                                                 "n_targets": SIZES[size]["t"]},
                                      "methods": rows}
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from brainscore_speech._io import write_json

    write_json(args.output, results)
    print(f"wrote {args.output}")
    return results


if __name__ == "__main__":
    main()
