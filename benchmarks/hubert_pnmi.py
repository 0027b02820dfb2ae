"""PNMI of HuBERT iteration-2 targets (every layer) against MFCC targets.

The acceptance test of issue 17 (``test_iteration2_targets_pnmi_on_synthesised_speech``)
on its own corpus: 40 espeak-ng English sentences (varied rate and pitch) with
frame-level phone labels. Iteration 1 clusters MFCC + delta + delta-delta
(K = 100); the tiny HuBERT preset is trained on those targets for ``--steps``
updates; then every layer of it is clustered with the same K and recipe, raw and
with two common normalisations (each dimension z-scored; each frame L2-normalised),
and the PNMI of each codebook against the phones is printed beside MFCC's.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/hubert_pnmi.py [--steps 300 1500] [--work DIR]

Writes ``benchmarks/results/hubert_pnmi.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
K = 100


def aligned_corpus(root: Path):
    """The test's 40 sentences (same seed): manifest and frame phones per file."""
    from brainscore_speech.data.phones import make_aligned_corpus
    from brainscore_speech.training import build_manifest

    phones = make_aligned_corpus(root / "audio", n_sentences=40, random_state=0)
    return build_manifest(root / "audio", root / "m.tsv"), phones


def _normalised(feats: list[np.ndarray], mode: str) -> list[np.ndarray]:
    if mode == "std":
        flat = np.concatenate(feats)
        mu, sd = flat.mean(0), flat.std(0) + 1e-6
        return [(f - mu) / sd for f in feats]
    if mode == "l2":
        return [f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
                for f in feats]
    return feats


def layer_pnmi(feats: list[np.ndarray], phones: np.ndarray) -> dict[str, float]:
    """PNMI of a K-means codebook of ``feats`` (raw, z-scored, L2) against phones."""
    from brainscore_speech.training import pnmi
    from brainscore_speech.training.targets import fit_kmeans, predict_units

    out = {}
    for mode in ("raw", "std", "l2"):
        f = _normalised(feats, mode)
        centers = fit_kmeans(f, K, fraction=1.0, random_state=0)
        out[mode] = float(pnmi(phones, np.concatenate([predict_units(x, centers)
                                                       for x in f])))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, nargs="+", default=[300, 1500])
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    from brainscore_speech.data.audio import load_audio
    from brainscore_speech.training import (
        build_targets,
        load_targets,
        make_config,
        pnmi,
        read_metrics,
        train,
    )
    from brainscore_speech.training.targets import (
        _load_iteration1_model,
        compute_mfcc,
        layer_features,
    )

    work = args.work or Path(tempfile.mkdtemp())
    manifest, phones = aligned_corpus(work)
    keys = sorted(phones)
    labels = np.concatenate([phones[k] for k in keys])
    t1 = work / "t1"
    build_targets([manifest], t1, n_clusters=K, fraction=1.0, seed=0)
    t = load_targets(t1)
    wavs = {k: load_audio(k) for k in keys}
    results = {"mfcc": float(pnmi(labels, np.concatenate([t.labels[k] for k in keys]))),
               "mfcc_std": layer_pnmi([compute_mfcc(wavs[k]) for k in keys],
                                      labels)["std"],
               "runs": []}
    for steps in args.steps:
        ck = work / f"it1-{steps}"
        t0 = time.perf_counter()
        train(make_config(regime="speech-en", preset="tiny", corpus=[str(manifest)],
                          out=str(ck), seed=0, objective="hubert", targets=str(t1),
                          max_steps=steps, checkpoint_every=steps,
                          collapse_patience=10 ** 6))
        run = {"steps": steps, "train_seconds": time.perf_counter() - t0,
               "masked_accuracy": float(np.mean([r["accuracy"] for r in
                                                 read_metrics(ck)[-10:]])),
               "layers": {}}
        model, do_norm = _load_iteration1_model(ck)
        for layer in ["encoder_input"] + [f"transf{i}" for i in
                                          range(model.config.num_hidden_layers)]:
            feats = [layer_features(model, wavs[k], layer=layer, do_normalize=do_norm)
                     for k in keys]
            run["layers"][layer] = layer_pnmi(feats, labels)
        results["runs"].append(run)
    print(f"\nPNMI against espeak-ng phones, 40 sentences ({len(labels)} frames), "
          f"K = {K}: MFCC {results['mfcc']:.3f} (z-scored {results['mfcc_std']:.3f})\n")
    print("| updates | masked acc | layer | raw | z-scored | L2 |")
    print("|---|---|---|---|---|---|")
    for run in results["runs"]:
        for layer, p in run["layers"].items():
            print(f"| {run['steps']} | {run['masked_accuracy']:.2f} | {layer} | "
                  f"{p['raw']:.3f} | {p['std']:.3f} | {p['l2']:.3f} |")
    res = ROOT / "benchmarks" / "results" / "hubert_pnmi.json"
    res.write_text(json.dumps(results, indent=2))
    print(f"wrote {res}")


if __name__ == "__main__":
    main()
