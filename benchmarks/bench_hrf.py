"""Benchmark: HRF regressors of a whole layer vs nilearn's ``compute_regressor``.

One run of 1 h at TR 2 s (1800 scans), 768 units at 50 Hz (a transformer layer).
Compares, in the same run:

- ``ours``: :func:`brainscore_speech.align.hrf_regressors` (all units at once:
  pooled to <= 100 Hz, FFT convolution, sampled at the scan times);
- ``nilearn``: ``nilearn.glm.first_level.compute_regressor`` one unit at a time
  (its interface takes one condition), timed on ``--n-nilearn`` units and
  extrapolated to 768; the columns are compared with ours (Pearson r).

Usage::

    .venv/bin/python benchmarks/bench_hrf.py [--minutes 60 --n-nilearn 16]

Prints a table and writes ``benchmarks/results/bench_hrf.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
FS, TR, N_UNITS = 50.0, 2.0, 768


def main() -> None:
    from nilearn.glm.first_level import compute_regressor

    from brainscore_speech.align import hrf_regressors

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--n-nilearn", type=int, default=16)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "bench_hrf.json")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    n_frames = int(args.minutes * 60 * FS)
    n_scans = int(args.minutes * 60 / TR)
    feats = rng.standard_normal((n_frames, N_UNITS)).astype(np.float32).cumsum(0)
    times = (np.arange(n_frames) + 0.5) / FS

    hrf_regressors(feats[:1000], times[:1000], 10, TR)  # warm-up (imports)
    t0 = time.perf_counter()
    ours = hrf_regressors(feats, times, n_scans, TR, hrf_model="glover")
    t_ours = time.perf_counter() - t0
    peak_ours = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2

    scaled = (feats - feats.min(0)) / (feats.max(0) - feats.min(0))
    scan_times = np.arange(n_scans) * TR
    rs = []
    t0 = time.perf_counter()
    for j in range(args.n_nilearn):
        cond = np.vstack([times - 0.5 / FS, np.full(n_frames, 1 / FS), scaled[:, j]])
        ref, _ = compute_regressor(cond, "glover", scan_times, oversampling=50)
        rs.append(np.corrcoef(ours[:, j], ref[:, 0])[0, 1])
    t_nilearn = (time.perf_counter() - t0) / args.n_nilearn * N_UNITS

    rows = {"ours": {"seconds": t_ours, "peak_rss_gb_process": peak_ours},
            "nilearn": {"seconds": t_nilearn,
                        "extrapolated_from_units": args.n_nilearn}}
    print(f"\nHRF regressors: {args.minutes:g} min at {FS:g} Hz -> {n_scans} scans "
          f"(TR {TR:g} s), {N_UNITS} units, CPU, {os.cpu_count()} cores\n")
    print(f"{'method':<10} {'time (s)':>10} {'x ours':>8}")
    for kind, r in rows.items():
        r["ratio_vs_ours"] = r["seconds"] / t_ours
        print(f"{kind:<10} {r['seconds']:>10.2f} {r['ratio_vs_ours']:>8.1f}")
    print(f"\nagreement with compute_regressor over {len(rs)} units: "
          f"min r = {min(rs):.5f}, median r = {np.median(rs):.5f}")
    result = {"benchmark": "bench_hrf", "minutes": args.minutes, "fs_hz": FS,
              "tr_s": TR, "n_units": N_UNITS, "n_scans": n_scans,
              "cpu_count": os.cpu_count(), "platform": platform.platform(),
              "agreement_r": {"min": float(min(rs)), "median": float(np.median(rs))},
              "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
