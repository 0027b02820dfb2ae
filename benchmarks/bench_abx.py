"""Benchmark the vectorised ABX against a brute-force loop and fastabx.

One synthetic item set (frame sequences of 5-25 frames, 256 units, a planted
phone structure, 3 speakers x 6 phones x 6 contexts x 4 tokens = 432 items) gives
69,120 across-speaker triplets. Measured in one run, all single-threaded
(``OMP_NUM_THREADS=1``, torch 1 thread):

- ``ours``: :func:`brainscore_speech.behaviour.score_abx` on every triplet
  (each distinct (X, reference) pair warped once, anti-diagonal batched DTW);
- ``brute``: the test-suite reference (``tests/behaviour/reference.py``: one
  textbook DTW in Python loops per (triplet, reference), scipy ``cdist``) on a
  random subset of the triplets, as triplets per second;
- ``fastabx``: bootphon's fastabx (C++ DTW) through another interpreter given by
  ``--fastabx-python`` (it needs Python >= 3.12), timed inside its process
  (task construction + scoring, without start-up and feature loading), on the
  same features written to ``.npy`` with their frame times.

Both conventions are timed for ``ours``; fastabx runs the ZeroSpeech one
(angular, path-length normalisation), whose error is compared with ours.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_abx.py \
        [--fastabx-python /tmp/fastabx312/bin/python] [--repeats 3] [--brute 300]

Prints a table and writes ``benchmarks/results/bench_abx.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("BRAINSCORE_SPEECH_PROGRESS", "off")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from brainscore_speech.behaviour import Items, make_triplets, score_abx  # noqa: E402
from brainscore_speech.behaviour.fastabx_backend import (  # noqa: E402
    fastabx_score_subprocess,
    write_fastabx_inputs,
)
from tests.behaviour.reference import dtw as brute_dtw  # noqa: E402


def make_set(seed: int = 0, n_units: int = 256):
    rng = np.random.default_rng(seed)
    phones = [f"p{k}" for k in range(6)]
    centres = {p: rng.standard_normal(n_units) for p in phones}
    rows, feats, times = [], {}, {}
    for s in range(3):
        shift = 0.5 * rng.standard_normal(n_units)
        for p in phones:
            for c in range(6):
                for t in range(4):
                    n = int(rng.integers(5, 26))
                    name = f"s{s}_{p}_c{c}_{t}"
                    feats[name] = (rng.standard_normal((n, n_units)) + 0.12 * centres[p]
                                   + shift).astype(np.float32)
                    times[name] = (np.arange(n) * 320 + 200) / 16000
                    rows.append({"file": name, "onset": 0.0,
                                 "offset": round(float(times[name][-1]) + 0.005, 4),
                                 "phone": p, "context": f"c{c}", "speaker": f"s{s}"})
    table = pd.DataFrame(rows)
    table.index = pd.Index([str(k) for k in range(len(table))], name="item")
    return Items(table=table, path="<bench>"), feats, times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--brute", type=int, default=300, help="brute-force triplets")
    ap.add_argument("--fastabx-python", default=os.environ.get(
        "BRAINSCORE_SPEECH_FASTABX_PYTHON"))
    args = ap.parse_args()
    items, feats_by_file, times = make_set()
    feats = [feats_by_file[f].astype(np.float64) for f in items.table["file"]]
    trip = make_triplets(items, on="phone", by="context", across="speaker")
    n = len(trip)
    print(f"{len(items)} items, {n} triplets, {feats[0].shape[1]} units, lengths "
          f"{min(map(len, feats))}-{max(map(len, feats))} frames; OMP_NUM_THREADS="
          f"{os.environ['OMP_NUM_THREADS']} (shared noisy 2-core machine)")
    results = {"n_items": len(items), "n_triplets": n, "n_units": feats[0].shape[1],
               "omp_num_threads": os.environ["OMP_NUM_THREADS"], "methods": {}}
    errors = {}
    for distance, label in (("cosine", "ours (millet-dunbar)"),
                            ("angular", "ours (zerospeech)")):
        times_s, cpu_s = [], []
        for _ in range(args.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            score = score_abx(feats, items, trip, on="phone", by="context",
                              across="speaker", distance=distance)
            times_s.append(time.perf_counter() - t0)
            cpu_s.append(time.process_time() - c0)
        errors[distance] = score.error
        results["methods"][label] = {"seconds": times_s, "cpu_seconds": cpu_s,
                                     "error": score.error,
                                     "triplets_per_s": n / float(np.median(times_s))}
    rng = np.random.default_rng(1)
    sub = trip.iloc[rng.choice(n, args.brute, replace=False)]
    t0, c0 = time.perf_counter(), time.process_time()
    agree = []
    for a, b, x in zip(sub["tgt"], sub["oth"], sub["x"], strict=True):
        delta = (brute_dtw(feats[x], feats[b], "cosine", "max_len")
                 - brute_dtw(feats[x], feats[a], "cosine", "max_len"))
        agree.append(delta)
    t_brute = time.perf_counter() - t0
    c_brute = time.process_time() - c0
    ours_sub = score.deltas  # angular; recompute cosine deltas for the check
    cos = score_abx(feats, items, sub.reset_index(drop=True), on="phone",
                    by="context", across="speaker", distance="cosine")
    max_diff = float(np.max(np.abs(np.asarray(agree) - cos.deltas["delta"])))
    del ours_sub
    results["methods"]["brute force (cosine, per triplet)"] = {
        "seconds": [t_brute], "cpu_seconds": [c_brute], "n": args.brute,
        "triplets_per_s": args.brute / t_brute,
        "max_abs_delta_diff_vs_ours": max_diff}
    if args.fastabx_python:
        tmp = Path(tempfile.mkdtemp())
        fdir, tdir = write_fastabx_inputs(feats_by_file, times, tmp)
        item = tmp / "items.item"
        with open(item, "w") as fh:
            fh.write("#file onset offset #phone context speaker\n")
            for _, r in items.table.iterrows():
                fh.write(f"{r['file']} {r['onset']:.4f} {r['offset']:.4f} "
                         f"{r['phone']} {r['context']} {r['speaker']}\n")
        secs, cpus = [], []
        for _ in range(args.repeats):
            res = fastabx_score_subprocess(args.fastabx_python, item, fdir, tdir,
                                           on="#phone", by=["context"],
                                           across=["speaker"], distance="angular")
            secs.append(res["seconds"])
            cpus.append(res["cpu_seconds"])
        results["methods"]["fastabx (zerospeech)"] = {
            "seconds": secs, "cpu_seconds": cpus, "error": res["error"],
            "triplets_per_s": n / float(np.median(secs)),
            "abs_error_diff_vs_ours": abs(res["error"] - errors["angular"])}
    ref = results["methods"]["brute force (cosine, per triplet)"]["triplets_per_s"]
    cref = args.brute / c_brute
    print("\n| method | wall s, median [min, max] | CPU s, median | triplets/s (wall) "
          "| x brute force (wall) | triplets/CPU-s | x brute force (CPU) | ABX error |")
    print("|---|---|---|---|---|---|---|---|")
    for name, m in results["methods"].items():
        s, c = m["seconds"], m["cpu_seconds"]
        k = m.get("n", n)
        m["triplets_per_cpu_s"] = k / float(np.median(c))
        print(f"| {name} | {np.median(s):.2f} [{min(s):.2f}, {max(s):.2f}] | "
              f"{np.median(c):.2f} | {m['triplets_per_s']:,.0f} | "
              f"{m['triplets_per_s'] / ref:,.0f} | {m['triplets_per_cpu_s']:,.0f} | "
              f"{m['triplets_per_cpu_s'] / cref:,.0f} | "
              f"{m.get('error', float('nan')):.4f} |")
    print(f"\nbrute force vs ours (cosine deltas on {args.brute} triplets): max |diff| "
          f"{max_diff:.2e}")
    if "fastabx (zerospeech)" in results["methods"]:
        fx = results["methods"]["fastabx (zerospeech)"]
        print(f"fastabx vs ours (angular error): |diff| "
              f"{fx['abs_error_diff_vs_ours']:.2e}")
    out = ROOT / "benchmarks" / "results" / "bench_abx.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
