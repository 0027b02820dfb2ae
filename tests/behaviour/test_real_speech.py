"""ABX on real / synthesised speech: a trained tiny model vs its random-init twin.

Slow (trains the tiny preset for 300 updates on the real EN + FR clips of
``../shared/data/speech``, FINDINGS §10); ``benchmarks/abx_real_speech.py`` runs
the same comparison on all three tasks and draws the layer profiles.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from brainscore_speech.behaviour import make_minimal_pair_abx, run_abx
from brainscore_speech.data.synth import speech_available

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    from tests.conftest import SHARED_DATA

    if not SHARED_DATA.is_dir():
        pytest.skip(f"real third-party data not found at {SHARED_DATA}")
    from brainscore_speech.training import build_manifest, make_config, train

    root = tmp_path_factory.mktemp("twins")
    manifests = [str(build_manifest(SHARED_DATA / "speech" / lang,
                                    root / f"{lang}.tsv")) for lang in ("en", "fr")]
    out = {}
    for name, regime in (("trained", "speech-en"), ("random", "random")):
        cfg = make_config(regime=regime, preset="tiny", corpus=manifests,
                          out=str(root / name), seed=0, max_steps=300,
                          checkpoint_every=300)
        train(cfg)
        out[name] = root / name
    return out, SHARED_DATA


@pytest.mark.skipif(not speech_available(), reason="espeak-ng (espeakng-loader) is "
                                                   "not installed")
def test_trained_best_layer_beats_random_twin_on_english_vowels(twins, tmp_path):
    ckpts, _ = twins
    items = make_minimal_pair_abx(tmp_path / "en", "en")
    audio = tmp_path / "en" / "audio"
    best = {}
    for name, ck in ckpts.items():
        scores = run_abx(items, tmp_path / name, model=ck, audio=audio,
                         by="context")
        best[name] = scores["error"].min()
    mfcc = run_abx(items, tmp_path / "mfcc", baseline="mfcc", audio=audio,
                   by="context")["error"].iloc[0]
    # measured (seed 0): trained conv1 6.5 %, random conv1 15.2 %, MFCC 1.0 % on
    # 480 triplets; a 5-point margin is ~3 binomial SE of a 10 % error
    assert best["trained"] < best["random"] - 0.05, best
    assert mfcc < 0.1


def test_mandarin_tones_task_runs_on_real_syllables(twins, tmp_path):
    ckpts, shared = twins
    folder = shared / "speech" / "zh" / "gcin_voice_debian"
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
    scores = run_abx(items, tmp_path / "zh", model=ckpts["trained"], audio=folder,
                     on="tone", by="syllable", across="speaker")
    deltas = pd.read_csv(tmp_path / "zh" / "abx_deltas.tsv", sep="\t")
    # 8 syllables x their tone pairs x 2 speaker orders = 168 triplets per layer
    assert set(scores["n_triplets"]) == {168}
    assert len(deltas) == 168 * len(scores)
    assert np.isfinite(deltas["delta"]).all()
    assert ((scores["error"] >= 0) & (scores["error"] <= 1)).all()
