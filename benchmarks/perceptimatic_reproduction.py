"""Reproduce Millet & Dunbar's (CogSci 2020) human-model analysis with ``abx-humans``.

On the released per-trial answers of 91 English listeners with the published
deltas of seven representations (``humans_and_model.csv``), run the public CLI
``brainscore-speech abx-humans`` with the published bootstrap (3 responses per
triplet; the probit on the English triplets, as ``iteration_probit_model.py``)
and, independently, the published scripts' own computations transcribed
literally (statsmodels formula API probit; pandas averaging chain for the
Spearman), then print the table and the model orderings.

Usage::

    python benchmarks/perceptimatic_reproduction.py [--n-boot 20]

Writes ``benchmarks/results/perceptimatic_reproduction.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "perceptimatic" / "cogsci2020_english" / \
    "humans_and_model.csv"
MODELS = ["articulation", "babelmulti", "fishermono", "fishertri", "deepspeech",
          "dpgmm", "mfccs"]


def published_reference(df: pd.DataFrame) -> dict:
    """The published scripts' computations, transcribed (independent of the package)."""
    from scipy.stats import spearmanr
    from statsmodels.formula.api import probit

    out = {}
    d = df.copy()
    d["y"] = (d["binarized_answer"] + 1.0) / 2.0
    en = d[d["filename"].str.contains("EN")]
    for m in MODELS:
        ll_all = probit(f"y ~ TGT_first_code + nb_stimuli + C(individual) + {m}",
                        d).fit(disp=0).llf
        ll_en = probit(f"y ~ TGT_first_code + nb_stimuli + C(individual) + {m}",
                       en).fit(disp=0).llf
        x = d[["filename", "TGT", "OTH", "prev_phone", "next_phone", "correct_answer",
               m]].copy()
        x["lang"] = x["filename"].str[:2]
        x["ans"] = x["correct_answer"] / 3
        keys = ["TGT", "OTH", "lang"]
        for group in (["filename", *keys, "prev_phone", "next_phone"],
                      [*keys, "prev_phone", "next_phone"], keys):
            x = x.groupby(group, as_index=False)[["ans", m]].mean()
        sw = x.rename(columns={"TGT": "OTH", "OTH": "TGT"})
        x = pd.concat([x, sw]).groupby(keys, as_index=False)[["ans", m]].mean()
        rho = abs(spearmanr(x["ans"], x[m]).statistic)
        trip = d.drop_duplicates("filename")
        out[m] = {"loglik_all": ll_all, "loglik_en": ll_en, "spearman": rho,
                  "abx_acc_en": float(np.mean(trip[trip.filename.str.startswith("EN")]
                                              [m] > 0)),
                  "abx_acc_fr": float(np.mean(trip[trip.filename.str.startswith("FR")]
                                              [m] > 0))}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-boot", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "BRAINSCORE_SPEECH_PROGRESS": "off", "MPLBACKEND": "Agg"}
    out = Path(tempfile.mkdtemp()) / "cmp"
    cmd = [sys.executable, "-m", "brainscore_speech", "abx-humans", "--humans",
           str(DATA), "--out", str(out), "--n-boot", str(args.n_boot),
           "--per-triplet", "3", "--probit-stimuli", "EN", "--seed", str(args.seed)]
    for m in MODELS:
        cmd += ["--models", m]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env)
    t_cli = time.perf_counter() - t0
    summary = pd.read_csv(out / "humans_summary.tsv", sep="\t")
    t0 = time.perf_counter()
    ref = published_reference(pd.read_csv(DATA, dtype={"individual": str}))
    t_ref = time.perf_counter() - t0
    rows = []
    for m in MODELS:
        s = summary[summary["model"] == m].set_index("metric")
        rows.append({
            "model": m,
            "abx_acc_EN": s.loc["abx_accuracy_EN", "value"],
            "abx_acc_FR": s.loc["abx_accuracy_FR", "value"],
            "agreement": s.loc["accuracy", "value"],
            "agreement_ci": [s.loc["accuracy", "ci_low"], s.loc["accuracy", "ci_high"]],
            "loglik_EN": s.loc["loglik", "value"],
            "loglik_boot": s.loc["loglik", "boot_mean"],
            "loglik_ci": [s.loc["loglik", "ci_low"], s.loc["loglik", "ci_high"]],
            "spearman": s.loc["spearman", "value"],
            "spearman_ci": [s.loc["spearman", "ci_low"], s.loc["spearman", "ci_high"]],
            "ref_loglik_EN": ref[m]["loglik_en"],
            "ref_loglik_all": ref[m]["loglik_all"],
            "ref_spearman": ref[m]["spearman"], "ref_abx_acc_EN": ref[m]["abx_acc_en"]})
    table = pd.DataFrame(rows)
    print(f"\nabx-humans on {DATA.name}: {args.n_boot} bootstrap resamples "
          f"(3 responses per triplet), probit on EN triplets; CLI {t_cli:.0f} s, "
          f"published-script transcription {t_ref:.0f} s (noisy shared machine)\n")
    print("| model | ABX acc EN | ABX acc FR | agreement [95% CI] | log-lik EN "
          "(full) | log-lik EN boot [95% CI] | Spearman abs(rho) [95% CI] | "
          "published-script log-lik EN / abs(rho) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['abx_acc_EN']:.3f} | {r['abx_acc_FR']:.3f} | "
              f"{r['agreement']:.3f} [{r['agreement_ci'][0]:.3f}, "
              f"{r['agreement_ci'][1]:.3f}] | {r['loglik_EN']:.1f} | "
              f"{r['loglik_boot']:.1f} [{r['loglik_ci'][0]:.1f}, "
              f"{r['loglik_ci'][1]:.1f}] | {r['spearman']:.3f} "
              f"[{r['spearman_ci'][0]:.3f}, {r['spearman_ci'][1]:.3f}] | "
              f"{r['ref_loglik_EN']:.1f} / {r['ref_spearman']:.3f} |")
    orders = {k: list(table.sort_values(k, ascending=False)["model"])
              for k in ("abx_acc_EN", "agreement", "loglik_EN", "spearman")}
    print()
    for k, v in orders.items():
        print(f"order by {k}: {' > '.join(v)}")
    diffs = {"loglik_EN": float(np.max(np.abs(table["loglik_EN"]
                                              - table["ref_loglik_EN"]))),
             "spearman": float(np.max(np.abs(table["spearman"]
                                             - table["ref_spearman"])))}
    print(f"\nmax |ours - published-script transcription|: {diffs}")
    res = ROOT / "benchmarks" / "results" / "perceptimatic_reproduction.json"
    res.parent.mkdir(parents=True, exist_ok=True)
    res.write_text(json.dumps({"n_boot": args.n_boot, "seed": args.seed,
                               "rows": rows, "orders": orders,
                               "max_abs_diff_vs_published_scripts": diffs,
                               "cli_seconds": t_cli}, indent=2))
    print(f"wrote {res}")


if __name__ == "__main__":
    main()
