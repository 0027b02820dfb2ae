"""Offline speech synthesis (espeak-ng via espeakng-loader) and procedural sounds."""

from __future__ import annotations

import json
import re
import sys
import threading

import numpy as np
import pytest

from brainscore_speech.data import synth
from brainscore_speech.data.audio import audio_info, load_audio
from brainscore_speech.data.synth import (
    NONSPEECH_KINDS,
    SAMPLE_TEXTS,
    STORY_TEXTS,
    make_nonspeech_corpus,
    make_nonspeech_sound,
    make_speech_corpus,
    make_story_audio,
    speech_available,
    synthesize_speech,
)

SFREQ = 16000
LANGS = ("en", "fr", "cmn")


@pytest.fixture
def needs_speech():
    if not speech_available():
        pytest.skip("espeakng-loader (bundled espeak-ng) is not installed")


def _modulation_fraction(audio: np.ndarray, sfreq: int) -> float:
    """Share of the 0.5-20 Hz energy-envelope modulation power that lies in 2-8 Hz."""
    hop = sfreq // 100  # 10 ms RMS frames -> 100 Hz envelope
    n = audio.size // hop
    env = np.sqrt((audio[: n * hop].reshape(n, hop).astype(np.float64) ** 2).mean(1))
    power = np.abs(np.fft.rfft((env - env.mean()) * np.hanning(n))) ** 2
    freqs = np.fft.rfftfreq(n, 1 / 100)
    return float(power[(freqs >= 2) & (freqs <= 8)].sum()
                 / power[(freqs >= 0.5) & (freqs <= 20)].sum())


def _f0(audio: np.ndarray, sfreq: int) -> float:
    """Median autocorrelation pitch (Hz, 60-400 Hz) over the loudest 40 ms frames."""
    frame = int(0.04 * sfreq)
    frames = audio[: audio.size // frame * frame].reshape(-1, frame).astype(np.float64)
    loud = frames[np.argsort((frames ** 2).sum(1))[-30:]]
    lags = np.arange(sfreq // 400, sfreq // 60)
    f0s = []
    for x in loud:
        x = x - x.mean()
        ac = np.correlate(x, x, "full")[frame - 1:]
        f0s.append(sfreq / lags[np.argmax(ac[lags])])
    return float(np.median(f0s))


# ------------------------------------------------------------------ texts

def test_sample_and_story_texts():
    for texts, n_min in ((SAMPLE_TEXTS, 24), (STORY_TEXTS, 15)):
        assert set(texts) == set(LANGS)
        for lang, sentences in texts.items():
            assert len(sentences) >= n_min, lang
            assert len(set(sentences)) == len(sentences), lang
            assert all(isinstance(s, str) and s.strip() for s in sentences)
    assert all(re.search(r"[\u4e00-\u9fff]", s) for s in SAMPLE_TEXTS["cmn"])
    assert any(re.search(r"[éèàçêû]", s) for s in SAMPLE_TEXTS["fr"])


# ------------------------------------------------------------------ synthesize_speech

@pytest.mark.parametrize("language", LANGS)
def test_synthesize_speech_languages(needs_speech, language):
    audio = synthesize_speech(SAMPLE_TEXTS[language][0], language)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert 1.0 < audio.size / SFREQ < 8.0  # one short sentence
    assert np.abs(audio).max() <= 1.0 and np.abs(audio).max() > 0.1
    # speech-band energy: most of the power below 4 kHz
    spec = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(audio.size, 1 / SFREQ)
    assert spec[freqs < 4000].sum() / spec.sum() > 0.8


def test_synthesize_speech_sampling_rate(needs_speech):
    text = SAMPLE_TEXTS["en"][1]
    a16 = synthesize_speech(text, "en", sfreq=16000)
    a22 = synthesize_speech(text, "en", sfreq=22050)
    np.testing.assert_allclose(a22.size / 22050, a16.size / 16000, atol=2e-3)


def test_synthesize_speech_deterministic_regardless_of_history(needs_speech):
    text = SAMPLE_TEXTS["fr"][3]
    synth._synth_cached.cache_clear()
    first = synthesize_speech(text, "fr", rate=160, pitch=40)
    synthesize_speech(SAMPLE_TEXTS["en"][2], "en", rate=300, pitch=90)
    synth._synth_cached.cache_clear()  # force a real second synthesis
    second = synthesize_speech(text, "fr", rate=160, pitch=40)
    np.testing.assert_array_equal(first, second)


def test_synthesize_speech_thread_safe(needs_speech):
    texts = SAMPLE_TEXTS["en"][:6]
    synth._synth_cached.cache_clear()
    serial = [synthesize_speech(t, "en") for t in texts]
    synth._synth_cached.cache_clear()
    results: dict[int, np.ndarray] = {}

    def work(i):
        results[i] = synthesize_speech(texts[i], "en")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, ref in enumerate(serial):
        np.testing.assert_array_equal(results[i], ref)


def test_synthesize_speech_rate_and_pitch(needs_speech):
    text = SAMPLE_TEXTS["en"][4]
    slow = synthesize_speech(text, "en", rate=120)
    fast = synthesize_speech(text, "en", rate=300)
    assert fast.size < 0.7 * slow.size  # 2.5x the words per minute
    low = _f0(synthesize_speech(text, "en", pitch=10), SFREQ)
    high = _f0(synthesize_speech(text, "en", pitch=90), SFREQ)
    assert high > 1.2 * low, (low, high)
    english = synthesize_speech("Le chat dort.", "en")
    french = synthesize_speech("Le chat dort.", "fr")
    assert english.size != french.size or not np.array_equal(english, french)


@pytest.mark.parametrize("kwargs, match", [
    ({"text": "hello", "language": "xx-nowhere"},
     r"espeak-ng has no voice 'xx-nowhere' for language 'xx-nowhere'"),
    ({"text": "  ", "language": "en"}, r"'text' must be a non-empty string"),
    ({"text": "hi", "language": ""}, r"'language' must be a non-empty string"),
    ({"text": "hi", "language": "en", "rate": 10},
     r"'rate' must be an integer in \[80, 450\], got 10"),
    ({"text": "hi", "language": "en", "pitch": 101},
     r"'pitch' must be an integer in \[0, 100\], got 101"),
    ({"text": "hi", "language": "en", "sfreq": 100},
     r"'sfreq' must be an integer sampling rate >= 1000 Hz, got 100"),
])
def test_synthesize_speech_errors(needs_speech, kwargs, match):
    with pytest.raises(ValueError, match=match):
        synthesize_speech(**kwargs)


def test_speech_available_false_without_espeakng_loader(monkeypatch):
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)  # import fails
    monkeypatch.setattr(synth, "_ENGINE", {})
    assert speech_available() is False
    synth._synth_cached.cache_clear()
    with pytest.raises(ImportError, match=r"needs the 'espeakng-loader' package"):
        synthesize_speech("hello there", "en")
    synth._synth_cached.cache_clear()


# ------------------------------------------------------------------ stories

@pytest.mark.parametrize("language", LANGS)
def test_make_story_audio_is_speech_like(needs_speech, language):
    audio, segments = make_story_audio(language, 20.0, random_state=0,
                                       return_segments=True)
    assert audio.shape == (20 * SFREQ,) and audio.dtype == np.float32
    # Syllabic rhythm: speech envelopes are modulated at 2-8 Hz (Ding et al. 2017);
    # measured 0.66-0.72 for these voices vs <= 0.39 for tones/notes/noise.
    assert _modulation_fraction(audio, SFREQ) > 0.5
    tone = make_nonspeech_sound(20.0, kinds=["tone", "instrument"], random_state=0)
    assert _modulation_fraction(tone, SFREQ) < 0.45
    onsets = [s["onset_s"] for s in segments]
    assert onsets[0] == 0.0 and np.all(np.diff(onsets) > 0)
    assert all(s["offset_s"] <= 20.0 for s in segments)
    assert [s["text"] for s in segments] == [
        STORY_TEXTS[language][i % len(STORY_TEXTS[language])]
        for i in range(len(segments))]


def test_make_story_audio_start_seed_and_determinism(needs_speech):
    a = make_story_audio("en", 6.0, start=3, random_state=1)
    b = make_story_audio("en", 6.0, start=3, random_state=1)
    np.testing.assert_array_equal(a, b)
    c = make_story_audio("en", 6.0, start=3, random_state=2)
    assert not np.array_equal(a, c)
    _, segs = make_story_audio("en", 6.0, start=len(STORY_TEXTS["en"]) + 3,
                               return_segments=True, sfreq=8000)
    assert segs[0]["text"] == STORY_TEXTS["en"][3]  # cycles
    assert make_story_audio("zh", 1.5, sfreq=8000).shape == (12000,)  # alias of cmn


@pytest.mark.parametrize("args, kwargs, match", [
    (("en", 0.0), {}, r"'duration_s' must be a positive number of seconds, got 0.0"),
    (("de", 2.0), {}, r"No story text for language 'de'; available: \['cmn', 'en', "
                      r"'fr'\]"),
    (("en", 2.0), {"pause_s": (1.0, 0.5)}, r"'pause_s' must satisfy 0 <= min <= max"),
    (("en", 2.0), {"pause_s": 3}, r"'pause_s' must be a \(min, max\) pair of seconds"),
    (("en", 2.0), {"start": -1}, r"'start' must be a non-negative integer, got -1"),
])
def test_make_story_audio_errors(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_story_audio(*args, **kwargs)


# ------------------------------------------------------------------ speech corpus

def test_make_speech_corpus(needs_speech, tmp_path):
    paths = make_speech_corpus(tmp_path / "a", "fr", 12.0, clip_s=(2.0, 4.0),
                               random_state=3)
    assert len(paths) >= 3
    lengths = []
    for path in paths:
        n_frames, sfreq, n_channels = audio_info(path)
        assert (sfreq, n_channels) == (SFREQ, 1)
        lengths.append(n_frames / sfreq)
        assert n_frames / sfreq <= 4.0 + 1e-6
    assert sum(lengths) >= 12.0
    meta = json.loads((tmp_path / "a" / "fr_corpus.json").read_text())
    assert meta["files"] == [p.name for p in paths] and meta["language"] == "fr"
    # the rates vary between clips: a crude speaker variety
    assert len({round(load_audio(p).std(), 3) for p in paths}) > 1
    again = make_speech_corpus(tmp_path / "b", "fr", 12.0, clip_s=(2.0, 4.0),
                               random_state=3)
    assert [p.read_bytes() for p in paths] == [p.read_bytes() for p in again]
    # a smaller corpus in the same folder replaces the previous clips
    fewer = make_speech_corpus(tmp_path / "a", "fr", 3.0, clip_s=(2.0, 4.0),
                               random_state=4)
    assert sorted((tmp_path / "a").glob("fr_*.wav")) == sorted(fewer)


@pytest.mark.parametrize("kwargs, match", [
    ({"rate_range": (300, 100)}, r"'rate_range' must be a \(min, max\) pair"),
    ({"pitch_range": (0, 120)}, r"'pitch_range' must be an integer in \[0, 100\]"),
    ({"clip_s": (0.0, 0.0)}, r"'clip_s' must satisfy 0 <= min <= max and max > 0"),
    ({"language": "xx"}, r"No sample texts for language 'xx'"),
])
def test_make_speech_corpus_errors(tmp_path, kwargs, match):
    args = {"language": "en", **kwargs}
    with pytest.raises(ValueError, match=match):
        make_speech_corpus(tmp_path, duration_s=2.0, **args)


# ------------------------------------------------------------------ non-speech

@pytest.mark.parametrize("kind", NONSPEECH_KINDS)
def test_make_nonspeech_sound_kinds(kind):
    audio = make_nonspeech_sound(1.5, kinds=kind, random_state=5)
    assert audio.shape == (int(1.5 * SFREQ),) and audio.dtype == np.float32
    assert np.isfinite(audio).all()
    assert 0.5 - 1e-6 <= np.abs(audio).max() <= 0.9 + 1e-6
    assert audio.std() > 0.01  # not silent


def test_make_nonspeech_sound_diverse_and_deterministic():
    a = make_nonspeech_sound(2.0, random_state=7)
    np.testing.assert_array_equal(a, make_nonspeech_sound(2.0, random_state=7))
    assert not np.array_equal(a, make_nonspeech_sound(2.0, random_state=8))
    # each kind has its own spectrum: spectral centroids differ between kinds
    centroids = []
    for kind in NONSPEECH_KINDS:
        x = make_nonspeech_sound(2.0, kinds=kind, random_state=0)
        spec = np.abs(np.fft.rfft(x)) ** 2
        freqs = np.fft.rfftfreq(x.size, 1 / SFREQ)
        centroids.append((spec * freqs).sum() / spec.sum())
    assert len({round(c, -1) for c in centroids}) == len(NONSPEECH_KINDS)
    assert make_nonspeech_sound(0.5, sfreq=8000, random_state=0).shape == (4000,)


@pytest.mark.parametrize("kwargs, match", [
    ({"kinds": ["tone", "chrip"]}, r"'kinds' must be one of .*got 'chrip'\. Did you "
                                   r"mean 'chirp'\?"),
    ({"kinds": []}, r"'kinds' must name at least one of"),
    ({"duration_s": -1.0}, r"'duration_s' must be a positive number of seconds"),
    ({"sfreq": 16000.5}, r"'sfreq' must be an integer sampling rate"),
])
def test_make_nonspeech_sound_errors(kwargs, match):
    args = {"duration_s": 1.0, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_nonspeech_sound(**args)


def test_make_nonspeech_corpus(tmp_path):
    paths = make_nonspeech_corpus(tmp_path / "s", 7.0, clip_s=(1.0, 3.0),
                                  random_state=9)
    total = 0.0
    for path in paths:
        n_frames, sfreq, n_channels = audio_info(path)
        assert (sfreq, n_channels) == (SFREQ, 1) and n_frames / sfreq <= 3.0 + 1e-6
        total += n_frames / sfreq
    np.testing.assert_allclose(total, 7.0, atol=0.06)  # leftovers < 50 ms dropped
    meta = json.loads((tmp_path / "s" / "sound_corpus.json").read_text())
    assert meta["files"] == [p.name for p in paths]
    again = make_nonspeech_corpus(tmp_path / "t", 7.0, clip_s=(1.0, 3.0),
                                  random_state=9)
    assert [p.read_bytes() for p in paths] == [p.read_bytes() for p in again]
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="'out_dir' is not a directory"):
        make_nonspeech_corpus(tmp_path / "file", 1.0)
    with pytest.raises(ValueError, match=r"'clip_s' must be a \(min, max\) pair"):
        make_nonspeech_corpus(tmp_path / "u", 1.0, clip_s=None)
