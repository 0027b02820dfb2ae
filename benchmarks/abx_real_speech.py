"""ABX on real and synthesised speech: trained tiny model vs its random twin vs MFCC.

Tasks (all through the public ``abx`` CLI, Millet & Dunbar convention):

- ``zh-tones``: the real isolated Mandarin syllables of
  ``../shared/data/speech/zh/gcin_voice_debian`` (2 speakers), on tone, by
  syllable, across speaker (tones 1-4);
- ``en-vowels`` / ``fr-vowels``: espeak-ng minimal-pair words (vowel contrasts
  in fixed consonant frames, 3 pitch / rate "speakers"), on phone, by context,
  across speaker.

Models: the tiny preset trained for ``--steps`` updates (default 1500) on 15 min of
espeak-ng English and French (``--corpus synth``, the default; ``--languages`` picks
others) or on the 22 real English and French clips of ``../shared/data/speech``
(``--corpus real``; FINDINGS §10: 223 s, few enough for a tiny model to memorise),
its random-init twin (same architecture and seed, step 0), and MFCCs.

The best layer of each model is reported twice: chosen and scored on the same
triplets (optimistic, and more so for more layers), and chosen on the other values
of ``--by`` and scored on the held-out one (``held_out_best_layer``: the layer is
never scored on the triplets that chose it).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/abx_real_speech.py [--steps 1500] [--seed 0]
        [--corpus synth|real] [--languages en fr] [--work DIR] [--output JSON]

Prints a table, writes ``benchmarks/results/abx_<corpus>_speech.json`` and the
layer-profile figures ``<work>/<task>_profile.png``.
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

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))


def tone_items(folder: Path, out: Path) -> Path:
    """Item file of the gcin-voice syllables: tone, syllable, speaker.

    The item spans the syllable: first to last sample above 1 % of the peak
    (the recordings' leading and trailing silences excluded).
    """
    import numpy as np

    from brainscore_speech.data.audio import load_audio

    lines = ["#file onset offset tone syllable speaker"]
    for f in sorted(folder.glob("*.ogg")):
        syl_tone, spk = f.stem.split("_")
        tone, syl = syl_tone[-1], syl_tone[:-1]
        if tone == "5":
            continue  # neutral tone: only one syllable has it
        wave = load_audio(f)
        loud = np.flatnonzero(np.abs(wave) > 0.01 * np.abs(wave).max())
        lines.append(f"{f.stem} {loud[0] / 16000:.4f} {(loud[-1] + 1) / 16000:.4f} "
                     f"{tone} {syl} {spk}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    return out


def cli(*args) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BRAINSCORE_SPEECH_PROGRESS": "off",
           "MPLBACKEND": "Agg"}
    subprocess.run([sys.executable, "-m", "brainscore_speech", *map(str, args)],
                   check=True, env=env)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--corpus", choices=("real", "synth"), default="synth",
                    help="train on 15 min of espeak-ng speech (default) or on the "
                         "22 real EN + FR clips (223 s)")
    ap.add_argument("--languages", nargs="+", default=["en", "fr"],
                    choices=("en", "fr", "cmn"),
                    help="languages of the synthesised training corpus (450 s each; "
                         "--corpus synth only)")
    ap.add_argument("--output", type=Path, default=None,
                    help="JSON path (default: benchmarks/results/abx_<corpus>_speech"
                         ".json)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp())
    work.mkdir(parents=True, exist_ok=True)
    from brainscore_speech.behaviour import (
        held_out_best_layer,
        load_abx_deltas,
        make_minimal_pair_abx,
    )
    from brainscore_speech.plotting import plot_abx_profile
    from brainscore_speech.training import build_manifest, make_config, train

    t0 = time.perf_counter()
    if args.corpus == "real":
        manifests = [build_manifest(SHARED / "speech" / lang, work / f"{lang}.tsv")
                     for lang in ("en", "fr")]
    else:
        from brainscore_speech.data import synth

        manifests = []
        for lang in args.languages:
            folder = work / f"synth-{lang}"
            if not (folder / f"{lang}_corpus.json").is_file():
                synth.make_speech_corpus(folder, lang, 450.0, random_state=0)
            manifests.append(build_manifest(folder, work / f"synth-{lang}.tsv"))
    ckpts = {}
    # the regime names the training language (metadata); a mixed corpus keeps the
    # first language's name, as the real-clip corpus (EN + FR) always has
    first = args.languages[0] if args.corpus == "synth" else "en"
    trained = {"cmn": "speech-zh"}.get(first, f"speech-{first}")
    for name, regime in (("trained", trained), ("random", "random")):
        out = work / f"ckpt-{name}"
        if not (out / "brainscore_speech.json").is_file():
            cfg = make_config(regime=regime, preset="tiny",
                              corpus=[str(m) for m in manifests], out=str(out),
                              seed=args.seed, max_steps=args.steps,
                              checkpoint_every=args.steps)
            train(cfg)
        ckpts[name] = out
    t_train = time.perf_counter() - t0
    tasks = {
        "zh-tones": (tone_items(SHARED / "speech" / "zh" / "gcin_voice_debian",
                                work / "zh" / "items.item"),
                     SHARED / "speech" / "zh" / "gcin_voice_debian",
                     ["--on", "tone", "--by", "syllable", "--across", "speaker"]),
    }
    for lang in ("en", "fr"):
        items = make_minimal_pair_abx(work / f"{lang}-pairs", lang)
        tasks[f"{lang}-vowels"] = (items, work / f"{lang}-pairs" / "audio",
                                   ["--on", "phone", "--by", "context", "--across",
                                    "speaker"])
    results = {"steps": args.steps, "seed": args.seed, "corpus": args.corpus,
               "languages": args.languages if args.corpus == "synth" else ["en", "fr"],
               "train_seconds": t_train,
               "tasks": {}}
    for task, (items, audio, opts) in tasks.items():
        frames, held = [], []
        for name, ck in ckpts.items():
            out = work / "abx" / task / name
            cli("abx", "--model", ck, "--items", items, "--audio", audio, "--out",
                out, *opts, "--no-figure")
            s = pd.read_csv(out / "abx_scores.tsv", sep="\t")
            s["model"] = name
            frames.append(s)
            d = load_abx_deltas(out / "abx_deltas.tsv").assign(model=name)
            held.append(held_out_best_layer(d)[0])
        out = work / "abx" / task / "mfcc"
        cli("abx", "--baseline", "mfcc", "--items", items, "--audio", audio, "--out",
            out, *opts, "--no-figure")
        mfcc = float(pd.read_csv(out / "abx_scores.tsv", sep="\t")["error"].iloc[0])
        scores = pd.concat(frames, ignore_index=True)
        fig_path = work / f"{task}_profile.png"
        plot_abx_profile(scores, baselines={"MFCC": mfcc},
                         title=f"{task}: ABX error per layer (millet-dunbar)",
                         output_file=fig_path)
        best = {name: g.loc[g["error"].idxmin()] for name, g in
                scores.groupby("model")}
        results["tasks"][task] = {
            "n_triplets": int(scores["n_triplets"].iloc[0]), "mfcc_error": mfcc,
            "best": {k: {"layer": v["layer"], "error": float(v["error"])}
                     for k, v in best.items()},
            "held_out": {r["model"]: {"error": float(r["error"]), "layers": r["layers"],
                                      "n_folds": int(r["n_folds"])}
                         for r in pd.concat(held).to_dict(orient="records")},
            "profile": scores[["model", "layer", "error"]].to_dict(orient="list"),
            "figure": str(fig_path)}
    print(f"\nTiny model trained {args.steps} steps (seed {args.seed}) in "
          f"{t_train:.0f} s; work folder {work}\n")
    print("| task | triplets | trained: best layer (error %) | random twin: best layer "
          "(error %) | held-out choice: trained / random (error %) | MFCC error % |")
    print("|---|---|---|---|---|---|")
    for task, r in results["tasks"].items():
        b, h = r["best"], r["held_out"]
        print(f"| {task} | {r['n_triplets']} | {b['trained']['layer']} "
              f"({100 * b['trained']['error']:.1f}) | {b['random']['layer']} "
              f"({100 * b['random']['error']:.1f}) | "
              f"{100 * h['trained']['error']:.1f} / {100 * h['random']['error']:.1f} "
              f"| {100 * r['mfcc_error']:.1f} |")
    res = args.output or ROOT / "benchmarks" / "results" / (
        "abx_real_speech.json" if args.corpus == "real" else "abx_synth_speech.json")
    res.write_text(json.dumps(results, indent=2))
    print(f"wrote {res}")


if __name__ == "__main__":
    main()
