"""Cost of the realistic simulator against the legacy one (same run, same sizes).

``simulate_study`` with 2 subjects x 4 runs x 100 scans (the acceptance sizes per
subject) for ``generator="legacy"`` and ``"realistic"``, alternated, repeated;
one BLAS thread. Prints a table and writes ``benchmarks/results/bench_simulate.json``.
The machine may be shared: the ratio measured in the same run is the number to use.

    python benchmarks/bench_simulate.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("BRAINSCORE_SPEECH_PROGRESS", "off")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    from brainscore_speech.data.simulate import simulate_study

    times: dict[str, list[float]] = {"legacy": [], "realistic": []}
    with threadpool_limits(limits=1), tempfile.TemporaryDirectory() as tmp:
        # warm-up: imports and the nilearn mesh load are not what is measured
        simulate_study(Path(tmp) / "warm", n_subjects=1, n_runs=2, scans_per_run=20,
                       generator="realistic", verbose="WARNING")
        for rep in range(args.repeats):
            for gen in ("legacy", "realistic"):
                out = Path(tmp) / f"{gen}{rep}"
                t0 = time.perf_counter()
                simulate_study(out, n_subjects=2, n_runs=4, scans_per_run=100, seed=rep,
                               generator=gen, verbose="WARNING")
                times[gen].append(time.perf_counter() - t0)
                shutil.rmtree(out)
    import numpy as np

    rows = {g: {"median_s": float(np.median(t)), "min_s": float(np.min(t)),
                "max_s": float(np.max(t)), "runs": t} for g, t in times.items()}
    ratio = rows["realistic"]["median_s"] / rows["legacy"]["median_s"]
    print(f"{'generator':<10} {'median s':>9} {'min s':>7} {'max s':>7}")
    for g, r in rows.items():
        print(f"{g:<10} {r['median_s']:9.1f} {r['min_s']:7.1f} {r['max_s']:7.1f}")
    print(f"realistic / legacy (median): {ratio:.2f}x "
          "(2 subjects x 4 runs x 100 scans, 1 thread)")
    result = {"sizes": {"n_subjects": 2, "n_runs": 4, "scans_per_run": 100},
              "threads": 1, "repeats": args.repeats, "generators": rows,
              "ratio_realistic_over_legacy": ratio,
              "note": "shared machine (other jobs running); compare the ratio"}
    path = Path(__file__).with_name("results") / "bench_simulate.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
