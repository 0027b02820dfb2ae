"""Validity of every map `group` writes: error rates under global nulls, power, ceiling.

For each map ``run_group`` writes (vertex-wise brain score, hierarchy, regime
contrasts, best-regime, cluster) this measures, with the analysis functions that
``run_group`` calls:

- the family-wise error rate under a *global null* (true r = 0 at every layer,
  vertex and model; under a global null every discovery is false, so FWER = FDR),
  with 19 or 25 layers, per-fold errors correlated 0.95 across layers for the
  "random" model and 0.3 for the trained ("native") one, spatially smooth noise on
  an icosphere mesh (``--ico 2``: 162 vertices per hemisphere, 2 smoothing steps;
  fast enough for this machine), Student-t errors, per-subject
  noise levels, 20 and 100 subjects (generator:
  :func:`brainscore_speech.analysis.simulate_layer_scores`, whose structure the
  analysis does not assume). Each rate must be <= alpha + 3 SE of a binomial
  proportion at alpha over the repetitions;
- the same for the earlier defaults (``reduce="max"`` contrasts; cluster test on
  argmax-selected scores, one hemisphere at a time) for comparison;
- the power (fraction of planted vertices found) and false-discovery proportion
  for planted effects of delta r = 0.01, 0.02, 0.03 (native > random in a disc
  covering ~10 % of the left hemisphere, peaked at one layer);
- the bias of the noise-ceiling estimators at 10 and 40 subjects on simulated BOLD
  with a known true ceiling.

Run: ``OMP_NUM_THREADS=1 python benchmarks/bench_validity.py`` (``--quick`` for a
smoke run). Writes ``benchmarks/results/bench_validity.json``.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

from brainscore_speech.analysis import (
    best_regime_map,
    brain_score_map,
    compute_hierarchy,
    compute_noise_ceiling,
    make_icosphere,
    mesh_adjacency,
    regime_contrasts,
    simulate_layer_scores,
    stack_layer_scores,
)
from brainscore_speech.analysis.stats import cluster_test
from brainscore_speech.exceptions import BrainscoreWarning

ALPHA = 0.05
MODELS = {  # model id -> (regime meta, layer-error correlation)
    "random": ({"regime": "random"}, 0.95),
    "native": ({"regime": "speech", "language": "en", "participant_language": "en"},
               0.3),
}


def _bound(n_reps: int) -> float:
    return ALPHA + 3 * np.sqrt(ALPHA * (1 - ALPHA) / n_reps)


def _wilson(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return (float("nan"), float("nan"))
    z = 1.96
    p = k / n
    den = 1 + z ** 2 / n
    c = (p + z ** 2 / (2 * n)) / den
    h = z * np.sqrt(p * (1 - p) / n + z ** 2 / (4 * n ** 2)) / den
    return (float(c - h), float(c + h))


SMOOTHING = {"steps": 2}


def _simulate(n_sub, n_layers, adjacency, seed, true_r=None, models=MODELS):
    rng = np.random.default_rng(seed)
    out = {}
    for m, (meta, rho) in models.items():
        tr = 0.0 if true_r is None else true_r.get(m, 0.0)
        out[m] = simulate_layer_scores(
            n_sub, adjacency, layer_names=n_layers, layer_corr=rho, true_r=tr,
            model_id=m, model_meta=meta, smoothing_steps=SMOOTHING["steps"],
            random_state=rng)
    return out


def _per_hemi(mask, hemi_sizes):
    """(hemispheres with a discovery, discovered fraction, hemispheres tested)."""
    hits, start = 0, 0
    for n_h in hemi_sizes.values():
        hits += bool(mask[start:start + n_h].any())
        start += n_h
    return (hits, float(mask.mean()), len(hemi_sizes))


def _null_rep(models, hemi_sizes, seed):
    """Discovery indicators (and discovered fraction) of every vertex-wise map.

    The vertex-wise maps are FDR-corrected within hemisphere (METHODS.md section
    11: hemispheres kept separate), so their error rate is per hemisphere: under a
    global null the FDR of a hemisphere is the probability of any discovery in it.
    Those rows count one trial per hemisphere and repetition (``scope``
    "hemisphere"); the whole-map rate of any discovery in either hemisphere is
    reported beside them (``scope`` "map", nominal about 2 alpha).
    """
    res: dict[str, tuple] = {}
    rng = np.random.default_rng(seed)

    def fdr_map(key, mask):
        res[key] = _per_hemi(mask, hemi_sizes)
        res[f"{key} (either hemisphere)"] = (int(mask.any()), float(mask.mean()), 1)

    for m, lst in models.items():
        gm = brain_score_map(lst, alpha=ALPHA)
        fdr_map(f"brainscore[{m}]", gm.mask)
        h = compute_hierarchy(lst, n_bootstrap=0, random_state=rng)
        shown = h.best_layer >= 0
        fdr_map(f"hierarchy[{m}]", shown)  # shown where the brain score is
    con = regime_contrasts(models, random_state=rng)
    for name, cm in con.items():
        fdr_map(f"contrast[{name}]", cm.mask)
    br = best_regime_map(models, random_state=rng)
    fdr_map("best-regime", br.mask)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BrainscoreWarning)
        old = regime_contrasts(models, reduce="max", random_state=rng)
    res["old: contrast[trained-random], reduce=max"] = _per_hemi(
        old["trained-random"].mask, hemi_sizes)
    return res


def _cluster_rep(models, adjacency, hemi_sizes, seed, n_perm):
    """Any-discovery indicator of the cluster maps (new and earlier pipelines)."""
    res: dict[str, tuple[bool, float]] = {}
    rng = np.random.default_rng(seed)
    for m, lst in models.items():
        gm = brain_score_map(lst, test="cluster", adjacency=adjacency,
                             n_permutations=n_perm, alpha=ALPHA, random_state=rng)
        res[f"cluster[{m}]"] = (int(gm.mask.any()), float(gm.mask.mean()), 1)
    # the earlier pipeline: argmax-selected on the same data, per hemisphere
    st = stack_layer_scores(models["native"])
    best = st.data.mean(axis=0).argmax(axis=0)
    at_best = st.data[:, best, np.arange(best.size)]
    old = np.zeros(best.size, bool)
    start = 0
    for hemi, n_h in hemi_sizes.items():
        sl = slice(start, start + n_h)
        old[sl] = cluster_test(at_best[:, sl], adjacency[hemi], n_permutations=n_perm,
                               alpha=ALPHA, random_state=rng)[0]
        start += n_h
    res["old: cluster[native] argmax-selected, per hemisphere"] = (
        int(old.any()), float(old.mean()), 1)
    return res


def _disc(coords, n_hemi, fraction=0.1):
    """Vertices of the left hemisphere closest to one pole (a disc)."""
    d = np.linalg.norm(coords - coords[0], axis=1)
    return np.argsort(d)[: int(fraction * n_hemi)]


def _power_rep(n_sub, n_layers, adjacency, hemi_sizes, disc, delta, seed):
    n_t = sum(hemi_sizes.values())
    prof = np.exp(-((np.arange(n_layers) - n_layers * 0.6) ** 2) / (2 * 3.0 ** 2))
    base = np.full((n_layers, n_t), 0.05)  # every model predicts r = 0.05 ...
    planted = base.copy()
    planted[:, disc] += delta * prof[:, None]  # ... native better in the disc
    models = _simulate(n_sub, n_layers, adjacency, seed,
                       true_r={"random": base, "native": planted},
                       models={m: MODELS[m] for m in ("random", "native")})
    truth = np.zeros(n_t, bool)
    truth[disc] = True
    con = regime_contrasts({"random": models["random"], "native": models["native"]},
                           random_state=seed)["trained-random"]
    found = con.mask & (con.statistic > 0)
    fdp = float((found & ~truth).sum() / max(1, found.sum()))
    return float(found[truth].mean()), fdp


def _ceiling_rep(n_sub, seed, n_samples=600, n_vertices=300):
    rng = np.random.default_rng(seed)

    def ar1(x, phi=0.5):
        y = x.copy()
        for t in range(1, len(y)):
            y[t] = phi * y[t - 1] + np.sqrt(1 - phi ** 2) * x[t]
        return y

    c = rng.uniform(0.05, 0.5, size=(n_sub, n_vertices))  # true ceiling (low SNR)
    sig = ar1(rng.normal(size=(n_samples, n_vertices)))
    bold = {f"{i:02d}": c[i] * sig + np.sqrt(1 - c[i] ** 2)
            * ar1(rng.normal(size=(n_samples, n_vertices))) for i in range(n_sub)}
    out = {}
    for method in ("pairwise", "isc"):
        est = compute_noise_ceiling(bold, method=method)
        e = np.stack([est[f"{i:02d}"] for i in range(n_sub)])
        out[method] = (float(np.nanmean(e - c)), float(np.nanmean(e) / c.mean()))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--cluster-reps", type=int, default=50)
    ap.add_argument("--power-reps", type=int, default=20)
    ap.add_argument("--n-perm", type=int, default=100,
                    help="cluster permutations (min p 1/100 < alpha)")
    ap.add_argument("--ico", type=int, default=2, help="icosphere subdivisions")
    ap.add_argument("--smoothing-steps", type=int, default=2)
    ap.add_argument("--conditions", default="20x19,100x25,20x25,100x19",
                    help="n_subjects x n_layers, in the order run")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rep-offset", type=int, default=0,
                    help="first repetition (to split a condition across processes)")
    ap.add_argument("--parts", default="null,cluster,power,ceiling",
                    help="which parts to run (comma-separated)")
    ap.add_argument("--merge", nargs="+", default=None,
                    help="combine the JSON of earlier partial runs, print, write --out")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"
                                         / "bench_validity.json"))
    args = ap.parse_args()
    if args.quick:
        args.reps, args.cluster_reps, args.power_reps = 4, 2, 2
    if args.merge:
        results = None
        for f in args.merge:
            part = json.loads(Path(f).read_text())
            if results is None:
                results = part
            else:
                for k in ("null", "power", "ceiling"):
                    results[k] += part[k]
                results["seconds"] = results.get("seconds", 0) + part.get("seconds", 0)
        _report(results, Path(args.out))
        return
    parts = set(args.parts.split(","))
    SMOOTHING["steps"] = args.smoothing_steps
    coords, faces = make_icosphere(args.ico)
    adj = mesh_adjacency(faces)
    adjacency = {"L": adj, "R": adj}
    hemi_sizes = {"L": adj.shape[0], "R": adj.shape[0]}
    conditions = [tuple(int(v) for v in c.split("x"))
                  for c in args.conditions.split(",")]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    results = {"alpha": ALPHA, "mesh": f"icosphere({args.ico}), {adj.shape[0]} "
               f"vertices per hemisphere, {args.smoothing_steps} smoothing steps",
               "n_permutations_cluster": args.n_perm,
               "n_folds": 5, "models": {m: v[1] for m, v in MODELS.items()},
               "null": [], "power": [], "ceiling": []}
    for part in ("null", "cluster"):
        if part not in parts:
            continue
        n_rep = args.reps if part == "null" else args.cluster_reps
        for n_sub, n_layers in conditions:
            counts: dict[str, list] = {}
            done = len(results["null"])

            def flush(counts=counts, done=done, n_sub=n_sub, n_layers=n_layers):
                del results["null"][done:]  # checkpoint: replace this condition's rows
                for k, v in counts.items():
                    results["null"].append({
                        "map": k, "n_subjects": n_sub, "n_layers": n_layers,
                        "reps": len(v), "k": int(sum(a for a, _, _ in v)),
                        "trials": int(sum(t for _, _, t in v)),
                        "fraction_sum": float(sum(f for _, f, _ in v))})
                out.write_text(json.dumps(results, indent=1))

            for i, rep in enumerate(range(args.rep_offset, args.rep_offset + n_rep)):
                seed = 10_000 * n_sub + 100 * n_layers + rep
                models = _simulate(n_sub, n_layers, adjacency, seed)
                res = (_null_rep(models, hemi_sizes, seed) if part == "null" else
                       _cluster_rep(models, adjacency, hemi_sizes, seed, args.n_perm))
                for k, v in res.items():
                    counts.setdefault(k, []).append(v)
                if (i + 1) % 5 == 0:
                    flush()
            flush()
            print(f"[{time.time() - t0:7.0f} s] {part} n={n_sub} L={n_layers} done",
                  flush=True)
            out.write_text(json.dumps(results, indent=1))  # partial results
    disc = _disc(coords, hemi_sizes["L"])
    for n_sub in ((20, 100) if "power" in parts else ()):
        for delta in (0.01, 0.02, 0.03):
            n_pw = args.power_reps if n_sub <= 20 else max(2, args.power_reps // 2)
            pw = [_power_rep(n_sub, 19, adjacency, hemi_sizes, disc, delta,
                             seed=7_000 + 31 * n_sub + rep + int(delta * 1000))
                  for rep in range(n_pw)]
            results["power"].append({
                "map": "contrast[trained-random]", "n_subjects": n_sub,
                "n_layers": 19, "delta_r": delta, "reps": len(pw),
                "power": float(np.mean([p for p, _ in pw])),
                "fdp": float(np.mean([f for _, f in pw]))})
        print(f"[{time.time() - t0:7.0f} s] power n={n_sub} done", flush=True)
    for n_sub in ((10, 40) if "ceiling" in parts else ()):
        cr = [_ceiling_rep(n_sub, seed=rep) for rep in range(max(2, args.power_reps
                                                                 // 4))]
        for method in ("pairwise", "isc"):
            results["ceiling"].append({
                "n_subjects": n_sub, "method": method, "reps": len(cr),
                "bias": float(np.mean([c[method][0] for c in cr])),
                "ratio_to_truth": float(np.mean([c[method][1] for c in cr]))})
    results["seconds"] = time.time() - t0
    results["note"] = ("measured on a shared 2-core machine with other jobs running; "
                       "times are indicative only")
    _report(results, out)


def _finish_rows(raw):
    """Combine partial counts per (map, n, L) and add rates, intervals, bounds."""
    comb: dict[tuple, dict] = {}
    for r in raw:
        key = (r["map"], r["n_subjects"], r["n_layers"])
        c = comb.setdefault(key, {"map": r["map"], "n_subjects": r["n_subjects"],
                                  "n_layers": r["n_layers"], "reps": 0, "k": 0,
                                  "trials": 0, "fraction_sum": 0.0})
        c["reps"] += r["reps"]
        c["trials"] += r.get("trials", r["reps"])
        c["k"] += r["k"]
        c["fraction_sum"] += r["fraction_sum"]
    rows = []
    for c in comb.values():
        n, k = c["trials"], c["k"]
        whole = n == c["reps"]
        either = c["map"].endswith("(either hemisphere)")
        # the either-hemisphere rows of per-hemisphere FDR maps are shown for
        # reference: their nominal rate is 1 - (1 - alpha)^2, not alpha
        nominal = 1 - (1 - ALPHA) ** 2 if either else ALPHA
        bound = nominal + 3 * np.sqrt(nominal * (1 - nominal) / n)
        rows.append({**c, "scope": "map" if whole else "hemisphere",
                     "nominal": nominal, "fwer": k / n, "ci95": _wilson(k, n),
                     "bound": float(bound),
                     "mean_fraction": c["fraction_sum"] / c["reps"],
                     "ok": bool(k / n <= bound)})
    return rows


def _report(results, out):
    rows = results["null"] = _finish_rows(results["null"])
    print(f"\n{'map':52s} {'n':>4s} {'L':>3s} {'reps':>4s} {'scope':>5s} {'FWER':>6s} "
          f"{'95% CI':>13s} {'bound':>6s} {'frac':>7s} ok")
    for r in rows:
        scope = "hemi" if r.get("scope") == "hemisphere" else "map"
        print(f"{r['map']:52s} {r['n_subjects']:4d} {r['n_layers']:3d} {r['reps']:4d} "
              f"{scope:>5s} "
              f"{r['fwer']:6.3f} [{r['ci95'][0]:.3f},{r['ci95'][1]:.3f}] "
              f"{r['bound']:6.3f} {r['mean_fraction']:7.4f} "
              f"{'yes' if r['ok'] else 'NO'}")
    print(f"\n{'power (trained-random)':30s} {'n':>4s} {'dr':>5s} {'power':>6s} "
          f"{'FDP':>6s}")
    for r in results["power"]:
        print(f"{r['map']:30s} {r['n_subjects']:4d} {r['delta_r']:5.2f} "
              f"{r['power']:6.3f} {r['fdp']:6.3f}")
    print(f"\n{'ceiling':10s} {'n':>4s} {'bias':>8s} {'est/truth':>9s}")
    for r in results["ceiling"]:
        print(f"{r['method']:10s} {r['n_subjects']:4d} {r['bias']:8.4f} "
              f"{r['ratio_to_truth']:9.3f}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"\nwrote {out} ({results['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
