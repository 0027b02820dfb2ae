"""Benchmark: a score job and a tiny train job, alone vs beside a CPU-heavy neighbour.

Each job runs as the CLI would run it (a subprocess of ``brainscore-speech``), its
thread pools sized by ``brainscore_speech._threads`` (``--threads`` unset: the CPUs
this process may use). It is timed alone, then beside a competing process that
runs a 2-thread BLAS load (float64 ``numpy`` matrix products with
``OPENBLAS_NUM_THREADS=2``) for the whole job. The slowdown factor is
``time beside / time alone`` (median over repeats, with the range); the goal is
<= 3x (two CPU-bound jobs sharing the CPUs should cost ~2x, not 10-50x). The same
is measured with ``--threads 1`` (a job that leaves room for its neighbour).

The machine may be shared with other work: the load average before each
measurement and the spread of the repeats are reported beside the numbers.

Usage::

    .venv/bin/python benchmarks/bench_contention.py --repeats 3

Prints a table and writes ``benchmarks/results/bench_contention.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

_COMPETITOR = """
import os, time
import numpy as np
a = np.random.default_rng(0).standard_normal((768, 768))
t_end = time.time() + float(os.environ["BSS_COMPETE_S"])
n = 0
while time.time() < t_end:
    a = np.tanh(a @ a / 768.0) + 0.01
    n += 1
print(n)
"""


def _env(**extra) -> dict:
    env = dict(os.environ, BRAINSCORE_SPEECH_PROGRESS="off", HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", PYTHONPATH=str(ROOT))
    for key in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "OMP_WAIT_POLICY"):
        env.pop(key, None)  # the job sizes its own pools
    env.update(extra)
    return env


def _cli(*args) -> list[str]:
    return [sys.executable, "-m", "brainscore_speech", "-q", *map(str, args)]


def prepare(tmp: Path) -> dict[str, list[str]]:
    """A simulated study and a chirp corpus; the two job command lines."""
    sys.path.insert(0, str(ROOT))
    from brainscore_speech.data.simulate import simulate_study
    from brainscore_speech.training import build_manifest
    from tests.training.conftest import write_chirps

    study = simulate_study(tmp / "study", n_subjects=1, n_runs=3, scans_per_run=60,
                           seed=0, verbose="WARNING")
    manifest = build_manifest(write_chirps(tmp / "chirps", n_files=6), tmp / "m.tsv")
    score = ["score", study.bids_root, "--subject", "01", "--activations",
             study.activations, "--out", tmp / "deriv", "--force"]
    train = ["train", "--regime", "speech-en", "--preset", "tiny", "--corpus",
             manifest, "--out", "{out}", "--max-steps", "8", "--batch-seconds", "8",
             "--micro-batch-seconds", "8", "--checkpoint-every", "8", "--device", "cpu"]
    return {"score": score, "train": train}


def run_job(args: list, tmp: Path, threads: int | None, compete: bool,
            compete_s: float) -> dict:
    args = [str(a).replace("{out}", str(tmp / f"ck-{time.time_ns()}")) for a in args]
    cmd = _cli(*(["--threads", str(threads)] if threads else []), *args)
    load = os.getloadavg()[0]
    comp = None
    if compete:
        comp = subprocess.Popen([sys.executable, "-c", _COMPETITOR],
                                env=_env(OPENBLAS_NUM_THREADS="2", OMP_NUM_THREADS="2",
                                         BSS_COMPETE_S=str(compete_s)),
                                stdout=subprocess.PIPE, text=True)
        time.sleep(1.0)  # the neighbour is running before the job starts
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=_env())
    seconds = time.perf_counter() - t0
    if comp is not None:
        comp.kill()
        comp.wait()
    if res.returncode != 0:
        raise RuntimeError(f"{cmd} failed:\n{res.stderr[-3000:]}")
    return {"seconds": seconds, "load_before": load}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", nargs="+", default=["score", "train"])
    parser.add_argument("--out", type=Path,
                        default=HERE / "results" / "bench_contention.json")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from brainscore_speech._threads import available_cpus

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        jobs = prepare(tmp)
        for name in args.jobs:
            # warm-up (file caches, first-import compilation), not timed
            run_job(jobs[name], tmp, None, False, 0)
            for threads in (None, 1):
                alone, beside = [], []
                for _ in range(args.repeats):  # interleaved: drifts hit both
                    a = run_job(jobs[name], tmp, threads, False, 0)
                    alone.append(a)
                    b = run_job(jobs[name], tmp, threads, True, 20 * a["seconds"] + 60)
                    beside.append(b)
                ta = np.array([r["seconds"] for r in alone])
                tb = np.array([r["seconds"] for r in beside])
                ratio = tb / ta
                row = {"job": name, "threads": threads or f"auto={available_cpus()}",
                       "alone_s": ta.tolist(), "beside_s": tb.tolist(),
                       "slowdown": ratio.tolist(),
                       "median_slowdown": float(np.median(ratio)),
                       "load_before": [r["load_before"] for r in alone + beside]}
                rows.append(row)
                print(f"  {name} threads={row['threads']}: alone "
                      f"{np.median(ta):.1f} s, beside {np.median(tb):.1f} s, "
                      f"x{np.median(ratio):.2f}", flush=True)
    print(f"\nContention: job alone vs beside a 2-thread BLAS process; "
          f"{available_cpus()} CPU(s) available, {os.cpu_count()} on the machine; "
          f"{args.repeats} repeats\n")
    print(f"{'job':<6} {'threads':<8} {'alone s (med, range)':>22} "
          f"{'beside s (med, range)':>23} {'slowdown (med, range)':>23} {'load':>10}")
    for r in rows:
        ta, tb, q = (np.array(r[k]) for k in ("alone_s", "beside_s", "slowdown"))
        lo, hi = min(r["load_before"]), max(r["load_before"])
        print(f"{r['job']:<6} {str(r['threads']):<8} "
              f"{np.median(ta):>8.1f} ({ta.min():.1f}-{ta.max():.1f}) "
              f"{np.median(tb):>10.1f} ({tb.min():.1f}-{tb.max():.1f}) "
              f"{np.median(q):>10.2f} ({q.min():.2f}-{q.max():.2f}) "
              f"{lo:>4.1f}-{hi:.1f}")
    goal = all(r["median_slowdown"] <= 3.0 for r in rows)
    print(f"\ngoal: median slowdown <= 3x for every job -> "
          f"{'met' if goal else 'NOT met'} (load = 1-min load average before each "
          "run: other work on the machine)")
    result = {"benchmark": "bench_contention", "repeats": args.repeats,
              "available_cpus": available_cpus(), "cpu_count": os.cpu_count(),
              "platform": platform.platform(), "goal_max_slowdown": 3.0,
              "goal_met": goal, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
