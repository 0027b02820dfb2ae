"""Layer selection with the real scorer: bias and error rate under a null, power.

The group maps summarise each subject's layers by one cross-validated score
(``reduce="cv"``). This benchmark runs the real scorer
(:func:`brainscore_speech.encoding.score_layers`, leave-one-run-out outer and inner
CV) on data from :func:`brainscore_speech.analysis.simulate_encoding_data`
(features and noise autoregressive within runs, correlated layers, no HRF: a
generator that shares nothing with the analysis), and compares the selections:

- ``inner-cv`` (the default): each outer fold's layer chosen on its inner-CV
  validation scores (``LayerScores.inner_scores``, training runs only);
- ``other folds``: chosen on the other outer folds' held-out scores (the earlier
  default; what files without inner scores fall back to). Leave-one-run-out
  folds share training runs, so this is biased;
- ``max`` (each subject's best layer on the same scores; biased) and ``mean``.

Per repetition, ``--subjects`` subjects are simulated and scored and
:func:`~brainscore_speech.analysis.brain_score_map` is made with each selection
(t-test + FDR over the targets at alpha 0.05). Reported: the mean selected score
over the null targets, the fraction of null targets with uncorrected p < 0.05
(nominal 0.05), the family-wise error (any discovery among the null targets;
under the global null every discovery is false, bound alpha + 3 SE), and with a
planted effect the power (fraction of planted targets found) and the
false-discovery proportion (FDR target 0.05).

Run: ``OMP_NUM_THREADS=1 python benchmarks/bench_selection.py`` (``--quick`` for a
smoke run). Writes ``benchmarks/results/bench_selection.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
import warnings
from pathlib import Path

import numpy as np

from brainscore_speech.analysis import brain_score_map, simulate_encoding_data
from brainscore_speech.encoding import score_layers
from brainscore_speech.exceptions import BrainscoreWarning

ALPHA = 0.05
SELECTIONS = ("inner-cv", "other folds", "max", "mean")


def _subjects(rep, n_subjects, planted, n_targets, n_planted, planted_r):
    out = []
    for s in range(n_subjects):
        layers, Y, runs = simulate_encoding_data(
            n_targets=n_targets, planted_layer=6 if planted else None,
            planted_targets=n_planted if planted else 0, planted_r=planted_r,
            random_state=100_000 * int(planted) + 1_000 * rep + s)
        out.append(score_layers(layers, Y, runs, subject=f"{s:02d}", model_id="sim"))
    return out


def _maps(subjects):
    stripped = [dataclasses.replace(ls, inner_scores=None) for ls in subjects]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BrainscoreWarning)  # the biased ones warn
        return {"inner-cv": brain_score_map(subjects),
                "other folds": brain_score_map(stripped),
                "max": brain_score_map(subjects, reduce="max", test="ttest"),
                "mean": brain_score_map(subjects, reduce="mean", test="ttest")}


def _rep(rep, args, planted):
    n_pl = args.planted_targets if planted else 0
    maps = _maps(_subjects(rep, args.subjects, planted, args.targets, n_pl,
                           args.planted_r))
    row = {}
    for name, gm in maps.items():
        null = slice(n_pl, None)
        row[name] = {
            "mean_null": float(np.nanmean(gm.statistic[null])),
            "p05_null": float(np.mean(gm.p_values[null] < ALPHA)),
            "any_null": int(gm.mask[null].any()),
            "power": float(gm.mask[:n_pl].mean()) if n_pl else None,
            "fdp": (float(gm.mask[null].sum() / max(1, gm.mask.sum())) if n_pl
                    else None),
            "mean_planted": float(np.nanmean(gm.statistic[:n_pl])) if n_pl else None}
    return row


def _summarise(rows):
    out = {}
    for name in SELECTIONS:
        vals = [r[name] for r in rows]
        means = np.array([v["mean_null"] for v in vals])
        entry = {"mean_null": float(means.mean()),
                 "mean_null_sd": float(means.std(ddof=1)) if len(means) > 1 else 0.0,
                 "p05_null": float(np.mean([v["p05_null"] for v in vals])),
                 "fwer": float(np.mean([v["any_null"] for v in vals]))}
        if vals[0]["power"] is not None:
            entry["power"] = float(np.mean([v["power"] for v in vals]))
            entry["fdp"] = float(np.mean([v["fdp"] for v in vals]))
            entry["mean_planted"] = float(np.mean([v["mean_planted"] for v in vals]))
        out[name] = entry
    return out


def _report(results, out):
    n = results["reps_null"]
    bound = ALPHA + 3 * np.sqrt(ALPHA * (1 - ALPHA) / max(n, 1))
    print(f"\n{results['subjects']} subjects x {results['targets']} targets, "
          f"{n} null / {results['reps_planted']} planted repetitions "
          f"(FWER bound {bound:.3f})")
    print(f"{'selection':12s} {'mean r null':>12s} {'(sd)':>7s} {'p<.05':>6s} "
          f"{'FWER':>6s} {'power':>6s} {'r planted':>9s} {'FDP':>6s}")
    for name in SELECTIONS:
        a, b = results["null"].get(name), results["planted"].get(name)
        null = (f"{a['mean_null']:+12.4f} {a['mean_null_sd']:7.4f} "
                f"{a['p05_null']:6.3f} {a['fwer']:6.3f}" if a else f"{'':34s}")
        planted = (f"{b['power']:6.3f} {b['mean_planted']:9.3f} {b['fdp']:6.3f}"
                   if b else "")
        print(f"{name:12s} {null} {planted}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"\nwrote {out} ({results['seconds']:.0f} s)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=20, help="null repetitions")
    ap.add_argument("--planted-reps", type=int, default=5)
    ap.add_argument("--subjects", type=int, default=10)
    ap.add_argument("--targets", type=int, default=800)
    ap.add_argument("--planted-targets", type=int, default=100)
    ap.add_argument("--planted-r", type=float, default=0.3)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"
                                         / "bench_selection.json"))
    args = ap.parse_args()
    if args.quick:
        args.reps, args.planted_reps, args.subjects = 2, 1, 4
    t0 = time.time()
    null = []
    for rep in range(args.reps):
        null.append(_rep(rep, args, planted=False))
        print(f"[{time.time() - t0:6.0f} s] null {rep + 1}/{args.reps}", flush=True)
    planted = []
    for rep in range(args.planted_reps):
        planted.append(_rep(rep, args, planted=True))
        print(f"[{time.time() - t0:6.0f} s] planted {rep + 1}/{args.planted_reps}",
              flush=True)
    results = {"alpha": ALPHA, "subjects": args.subjects, "targets": args.targets,
               "planted_targets": args.planted_targets, "planted_r": args.planted_r,
               "reps_null": len(null), "reps_planted": len(planted),
               "null": _summarise(null) if null else {},
               "planted": _summarise(planted) if planted else {},
               "seconds": time.time() - t0}
    _report(results, Path(args.out))


if __name__ == "__main__":
    main()
