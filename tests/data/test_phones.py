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
