"""espeak-ng phone alignment of synthesised speech (frame-level phone labels)."""

from __future__ import annotations

import numpy as np
import pytest

from brainscore_speech.data import synth
from brainscore_speech.data.phones import frame_phones, synthesize_aligned

pytestmark = pytest.mark.skipif(not synth.speech_available(),
                                reason="espeakng-loader (bundled espeak-ng) missing")

TEXT = "The baker opens his shop before the sun comes up."


def test_aligned_audio_is_the_synthesised_audio():
    a = synthesize_aligned(TEXT, "en", rate=160, pitch=40)
    b = synth.synthesize_speech(TEXT, "en", rate=160, pitch=40)
    np.testing.assert_array_equal(a.audio, b)  # same engine settings, same samples
    assert a.sfreq == 16000 and len(a.phones) == len(a.onsets_s) > 20
    assert np.all(np.diff(a.onsets_s) >= 0)
    assert 0 <= a.onsets_s[0] and a.onsets_s[-1] <= len(a.audio) / 16000 + 0.05
    # espeak's mnemonics for "baker": b 'eI k 3
    assert "b" in a.phones and "'eI" in a.phones and "k" in a.phones


def test_frame_phones_follow_the_onsets():
    a = synthesize_aligned(TEXT, "en")
    n = (len(a.audio) - 400) // 320 + 1
    ph = frame_phones(a, n)
    assert ph.shape == (n,)
    assert "eI" in set(ph) and "'eI" not in set(ph)  # stress marks stripped
    assert "'eI" in set(frame_phones(a, n, strip_stress=False))
    # a frame whose centre is just after an onset gets that phone
    i = 5
    frame = int(np.ceil((a.onsets_s[i] * 16000 - 200) / 320))
    assert ph[frame] == a.phones[i].replace("'", "").replace(",", "") or \
        a.onsets_s[i + 1] * 16000 <= frame * 320 + 200


def test_synthesize_aligned_bad_input():
    with pytest.raises(ValueError, match="'text' must be a non-empty string"):
        synthesize_aligned("  ", "en")
    with pytest.raises(ValueError, match="espeak-ng has no voice 'xx-nope'"):
        synthesize_aligned(TEXT, "xx-nope")
    with pytest.raises(ValueError, match=r"'rate' must be an integer in \[80, 450\]"):
        synthesize_aligned(TEXT, "en", rate=10)


def test_make_aligned_corpus_writes_files_and_frame_labels(tmp_path):
    import soundfile as sf

    from brainscore_speech.data.phones import make_aligned_corpus
    from brainscore_speech.training.targets import frame_count

    phones = make_aligned_corpus(tmp_path / "c", n_sentences=3, random_state=0)
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == \
        ["s00.wav", "s01.wav", "s02.wav"]
    for path, labels in phones.items():
        wave, sr = sf.read(path)
        assert sr == 16000 and len(labels) == frame_count(len(wave)) > 50
        assert "b" in set(labels) or "s" in set(labels)  # real phones, not one label
        assert len(set(labels)) > 10
    # the same seed gives the same rates / pitches, hence the same audio
    again = make_aligned_corpus(tmp_path / "d", n_sentences=3, random_state=0)
    for a, b in zip(sorted(phones), sorted(again), strict=True):
        np.testing.assert_array_equal(sf.read(a)[0], sf.read(b)[0])
    with pytest.raises(ValueError, match="'n_sentences' must be >= 1, got 0"):
        make_aligned_corpus(tmp_path / "e", n_sentences=0)
