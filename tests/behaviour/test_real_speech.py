"""ABX on real / synthesised speech: a trained tiny model vs its random-init twin.

Slow (trains the tiny preset for 1500 updates on 15 min of espeak-ng English and
French, as ``benchmarks/abx_real_speech.py --corpus synth --steps 1500``, which runs
the same comparison on all three tasks and draws the layer profiles). The 22 real
clips of ``../shared/data/speech`` (FINDINGS §10) are few enough for a tiny model
to memorise in a few hundred updates; 15 min of varied sentences are not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from brainscore_speech.behaviour import make_minimal_pair_abx, run_abx
from brainscore_speech.data.synth import speech_available

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def synth_twins(tmp_path_factory):
    """The benchmark's recipe (``abx_real_speech.py --corpus synth --steps 1500``):
    the tiny preset trained 1500 updates on 450 s of espeak-ng English + 450 s of
    French (seed 0), and its random-init twin."""
    if not speech_available():
        pytest.skip("espeak-ng (espeakng-loader) is not installed")
    from brainscore_speech.data import synth
    from brainscore_speech.training import build_manifest, make_config, train

    root = tmp_path_factory.mktemp("synth_twins")
    manifests = []
    for lang in ("en", "fr"):
        synth.make_speech_corpus(root / lang, lang, 450.0, random_state=0)
        manifests.append(str(build_manifest(root / lang, root / f"{lang}.tsv")))
    out = {}
    for name, regime in (("trained", "speech-en"), ("random", "random")):
        cfg = make_config(regime=regime, preset="tiny", corpus=manifests,
                          out=str(root / name), seed=0, max_steps=1500,
                          checkpoint_every=1500)
        train(cfg)
        out[name] = root / name
    return out


@pytest.mark.parametrize("language", ["en", "fr"])
def test_trained_beats_random_twin_with_held_out_layer_choice(synth_twins, language,
                                                              tmp_path):
    from brainscore_speech.behaviour import held_out_best_layer

    items = make_minimal_pair_abx(tmp_path / language, language)
    audio = tmp_path / language / "audio"
    deltas, errors = [], {}
    for name, ck in synth_twins.items():
        scores = run_abx(items, tmp_path / name, model=ck, audio=audio, by="context")
        errors[name] = scores.set_index("layer")["error"]
        deltas.append(pd.read_csv(tmp_path / name / "abx_deltas.tsv", sep="\t")
                      .assign(model=name))
    # layer by layer: measured below the random twin at 11 of 11 layers, in both
    # languages and on each of seeds 0, 1, 2 (benchmark JSON); seed 0 on 2 threads
    # (another summation order, as on another CPU): en 11, fr 10 of 11
    below = (errors["trained"] < errors["random"]).sum()
    assert below >= 9, (errors["trained"].to_dict(), errors["random"].to_dict())
    # the best layer, chosen on the other contexts than it is scored on; measured
    # (seeds 0 / 1 / 2), error %: en trained 6.2 / 13.3 / 8.1 vs random
    # 15.2 / 25.0 / 18.5; fr trained 11.4 / 5.8 / 6.9 vs random 12.5 / 20.3 / 15.0;
    # seed 0 on 2 threads: en 6.2 vs 15.2, fr 6.1 vs 12.5
    held = held_out_best_layer(pd.concat(deltas))[0].set_index("model")["error"]
    assert held["trained"] < held["random"], held.to_dict()
    # the baseline, computed the same way: 1.0 % (en) and 0.0 % (fr) measured
    mfcc = run_abx(items, tmp_path / "mfcc", baseline="mfcc", audio=audio,
                   by="context")["error"].iloc[0]
    assert mfcc < 0.1


def test_mandarin_tones_task_runs_on_real_syllables(synth_twins, shared_data,
                                                     tmp_path):
    folder = shared_data / "speech" / "zh" / "gcin_voice_debian"
    lines = ["#file onset offset tone syllable speaker"]
    import soundfile as sf

    for f in sorted(folder.glob("*.ogg")):
        syl_tone, spk = f.stem.split("_")
        if syl_tone[-1] == "5":
            continue
        info = sf.info(str(f))
        lines.append(f"{f.stem} 0.0 {info.frames / info.samplerate - 1e-3:.4f} "
                     f"{syl_tone[-1]} {syl_tone[:-1]} {spk}")
    items = tmp_path / "zh.item"
    items.write_text("\n".join(lines) + "\n")
    scores = run_abx(items, tmp_path / "zh", model=synth_twins["trained"], audio=folder,
                     on="tone", by="syllable", across="speaker")
    deltas = pd.read_csv(tmp_path / "zh" / "abx_deltas.tsv", sep="\t")
    # 8 syllables x their tone pairs x 2 speaker orders = 168 triplets per layer
    assert set(scores["n_triplets"]) == {168}
    assert len(deltas) == 168 * len(scores)
    assert np.isfinite(deltas["delta"]).all()
    assert ((scores["error"] >= 0) & (scores["error"] <= 1)).all()
