"""Speed of offline speech synthesis: fork-isolated (deterministic) vs in-process.

``synthesize_speech`` runs espeak-ng in a forked child per utterance so that the
output does not depend on what was synthesised before (espeak-ng keeps generator
state in C statics). This measures what that costs against the in-process call
(the peer, measured in the same run), plus the real-time factor of the story and
non-speech generators.

Usage: ``python benchmarks/synth_speed.py [--repeats 3]``; prints a table and writes
``benchmarks/results/synth_speed.json``.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np

from brainscore_speech._io import write_json
from brainscore_speech.data import synth


def _time(fn, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if not synth.speech_available():
        raise SystemExit("espeakng-loader is not installed; nothing to benchmark.")
    lib, native = synth._engine()
    texts = synth.SAMPLE_TEXTS["en"][:10]
    audio_s = sum(synth._synth_raw(lib, t, "en-us", 175, 50)[1].size
                  for t in texts) / native

    def forked():
        for t in texts:
            synth._synth_forked(lib, t, "en-us", 175, 50)

    def in_process():
        for t in texts:
            synth._synth_raw(lib, t, "en-us", 175, 50)

    rows = {}
    t_fork = _time(forked, args.repeats)
    t_raw = _time(in_process, args.repeats)
    rows["synth_forked"] = {"seconds": t_fork, "audio_s": audio_s}
    rows["synth_in_process (peer)"] = {"seconds": t_raw, "audio_s": audio_s}

    def story():
        synth._synth_cached.cache_clear()
        synth.make_story_audio("en", 60.0, random_state=0)

    rows["make_story_audio 60 s"] = {"seconds": _time(story, args.repeats),
                                     "audio_s": 60.0}
    rows["make_nonspeech_sound 60 s"] = {
        "seconds": _time(lambda: synth.make_nonspeech_sound(60.0, random_state=0),
                         args.repeats), "audio_s": 60.0}
    for row in rows.values():
        row["real_time_factor"] = row["seconds"] / row["audio_s"]
    ratio = t_fork / t_raw
    print(f"{'case':<28} {'seconds':>9} {'audio s':>8} {'RTF':>8}")
    for name, row in rows.items():
        print(f"{name:<28} {row['seconds']:>9.3f} {row['audio_s']:>8.1f} "
              f"{row['real_time_factor']:>8.4f}")
    print(f"forked / in-process time ratio: {ratio:.2f}")
    out = Path(__file__).resolve().parent / "results" / "synth_speed.json"
    write_json(out, {
        "benchmark": "synth_speed", "repeats": args.repeats,
        "machine": platform.platform(), "n_sentences": len(texts), "rows": rows,
        "ratio_forked_vs_in_process": ratio,
    })
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
