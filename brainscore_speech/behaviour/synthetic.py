"""A synthetic ABX item set with exact phone boundaries (no speech engine needed).

Each file is one consonant-vowel-consonant "triphone": a consonant (shaped noise
or a nasal murmur), a vowel (a glottal pulse train through two formant
resonators) and another consonant, between short silences. Speakers differ in
pitch and vocal-tract length (formants scaled), tokens in jitter and duration.
The item is the triphone, labelled with its centre vowel (``phone``), its
consonants (``prev-phone``, ``next-phone``) and its speaker, as in the
Perceptimatic item files. A representation that keeps the spectral envelope and
normalises pitch discriminates the vowels across speakers; a pitch-driven one
does not.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .. import layout
from .._io import atomic_path
from .._validation import check_random_state

__all__ = ["VOWEL_FORMANTS", "MINIMAL_PAIRS", "SYNTH_SPEAKERS", "make_synthetic_abx",
           "make_minimal_pair_abx"]

#: (F1, F2) in Hz of the synthetic vowels
VOWEL_FORMANTS = {"a": (800, 1250), "e": (450, 1900), "i": (290, 2300),
                  "o": (480, 880), "u": (320, 750)}
_CONSONANTS = ("s", "f", "m")
_SR = 16000


def _resonator(x: np.ndarray, freq: float, bw: float) -> np.ndarray:
    from scipy.signal import lfilter

    r = np.exp(-np.pi * bw / _SR)
    theta = 2 * np.pi * freq / _SR
    a = [1.0, -2 * r * np.cos(theta), r * r]
    return lfilter([1 - r], a, x)


def _vowel(n: int, f0: float, formants, scale: float, rng) -> np.ndarray:
    t = np.arange(n) / _SR
    f0_t = f0 * (1 + 0.03 * np.sin(2 * np.pi * rng.uniform(3, 6) * t))
    phase = np.cumsum(f0_t) / _SR
    pulses = np.diff(np.floor(phase), prepend=0.0)
    src = pulses + 0.02 * rng.standard_normal(n)
    y = sum(_resonator(src, f * scale, 80 + 0.1 * f) for f in formants)
    return y * np.hanning(n) ** 0.3


def _consonant(kind: str, n: int, scale: float, rng) -> np.ndarray:
    from scipy.signal import butter, lfilter

    noise = rng.standard_normal(n)
    if kind == "s":
        b, a = butter(4, min(4500 * scale, 7500) / (_SR / 2), "high")
        y = 0.4 * lfilter(b, a, noise)
    elif kind == "f":
        b, a = butter(2, [1200 / (_SR / 2), 6000 / (_SR / 2)], "band")
        y = 0.25 * lfilter(b, a, noise)
    else:  # nasal murmur
        t = np.arange(n) / _SR
        y = 0.3 * _resonator(np.sin(2 * np.pi * 120 * t) + 0.05 * noise, 250 * scale,
                             100)
    return y * np.hanning(n) ** 0.5


def make_synthetic_abx(out_dir: str | os.PathLike, *, n_speakers: int = 3,
                       vowels: tuple[str, ...] = ("a", "e", "i", "u"),
                       consonants: tuple[str, ...] = _CONSONANTS,
                       n_tokens: int = 1, random_state=0) -> Path:
    """Write a synthetic triphone ABX set: ``audio/*.wav`` and ``items.item``.

    Parameters
    ----------
    out_dir : path-like
    n_speakers : int, default=3
        Speakers differ in f0 (100..220 Hz) and formant scale (1.0..1.2).
    vowels : tuple of str, default=("a", "e", "i", "u")
        Keys of :data:`VOWEL_FORMANTS`.
    consonants : tuple of str, default=("s", "f", "m")
        Context consonants (prev and next take every value).
    n_tokens : int, default=1
        Tokens per (speaker, vowel, context).
    random_state : int, Generator or None, default=0

    Returns
    -------
    items : Path
        ``out_dir/items.item`` (ZeroSpeech format; audio in ``out_dir/audio``).
    """
    import soundfile as sf

    unknown = [v for v in vowels if v not in VOWEL_FORMANTS]
    if unknown:
        raise ValueError(f"Unknown vowel(s) {unknown}; choose from "
                         f"{sorted(VOWEL_FORMANTS)}.")
    if n_speakers < 1 or n_tokens < 1:
        raise ValueError(f"'n_speakers' and 'n_tokens' must be >= 1, got "
                         f"{n_speakers} and {n_tokens}.")
    rng = check_random_state(random_state)
    out = Path(out_dir)
    layout.corpus_audio(out).mkdir(parents=True, exist_ok=True)
    lines = ["#file onset offset #phone prev-phone next-phone speaker"]
    for s in range(n_speakers):
        f0 = 100 + 120 * s / max(n_speakers - 1, 1)
        scale = 1.0 + 0.2 * s / max(n_speakers - 1, 1)
        spk = f"spk{s + 1}"
        for v in vowels:
            for c1 in consonants:
                for c2 in consonants:
                    for k in range(n_tokens):
                        n_c1, n_v, n_c2 = (int(_SR * rng.uniform(0.07, 0.10)),
                                           int(_SR * rng.uniform(0.12, 0.17)),
                                           int(_SR * rng.uniform(0.07, 0.10)))
                        pad = int(0.05 * _SR)
                        wave = np.concatenate([
                            np.zeros(pad), _consonant(c1, n_c1, scale, rng),
                            _vowel(n_v, f0 * rng.uniform(0.95, 1.05),
                                   VOWEL_FORMANTS[v], scale, rng),
                            _consonant(c2, n_c2, scale, rng), np.zeros(pad)])
                        wave = wave + 1e-3 * rng.standard_normal(len(wave))
                        wave = (0.5 * wave / np.max(np.abs(wave))).astype(np.float32)
                        name = f"{spk}_{c1}{v}{c2}_{k}"
                        with atomic_path(layout.corpus_audio(out, name)) as tmp:
                            sf.write(str(tmp), wave, _SR, format="WAV")
                        onset = pad / _SR
                        offset = (pad + n_c1 + n_v + n_c2) / _SR
                        lines.append(f"{name} {onset:.4f} {offset:.4f} {v} {c1} {c2} "
                                     f"{spk}")
    items = layout.abx_items(out)
    with atomic_path(items) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return items


#: minimal sets of words differing only in their vowel, per consonant frame
MINIMAL_PAIRS = {
    "en": {"b_t": {"ae": "bat", "ih": "bit", "eh": "bet", "ah": "but", "iy": "beat"},
           "p_t": {"ae": "pat", "ih": "pit", "eh": "pet", "ah": "putt", "iy": "peat"},
           "h_d": {"ae": "had", "ih": "hid", "eh": "head", "ah": "hud", "iy": "heed"},
           "m_t": {"ae": "mat", "ih": "mitt", "eh": "met", "ah": "mutt", "iy": "meat"}},
    "fr": {"l_": {"i": "lit", "y": "lu", "u": "loup", "a": "la"},
           "v_": {"i": "vie", "y": "vue", "u": "vous", "a": "va"},
           "r_": {"i": "riz", "y": "rue", "u": "roue", "a": "rat"},
           "p_": {"i": "pis", "y": "pu", "u": "pou", "a": "pas"},
           "s_": {"i": "si", "y": "su", "u": "sous", "a": "sa"}},
}
#: espeak-ng "speakers": (pitch 0..100, rate in words per minute)
SYNTH_SPEAKERS = {"low": (25, 150), "mid": (50, 175), "high": (80, 200)}


def make_minimal_pair_abx(out_dir: str | os.PathLike, language: str = "en", *,
                          speakers: dict[str, tuple[int, int]] | None = None
                          ) -> Path:
    """Synthesise isolated minimal-pair words with espeak-ng and write their items.

    Every word of :data:`MINIMAL_PAIRS` is spoken by each espeak-ng "speaker"
    (pitch / rate variants of the language's voice) into ``audio/<word>_<spk>.wav``.
    The item is the word, from its first to its last sample above 1 % of the
    peak (the file's silences excluded): a consonant-vowel(-consonant) unit
    labelled with the contrasting vowel (``phone``) and its consonant frame
    (``context``), as the triphones of Perceptimatic.

    Parameters
    ----------
    out_dir : path-like
    language : {"en", "fr"}, default="en"
    speakers : dict, optional
        Name -> (pitch, rate); default :data:`SYNTH_SPEAKERS`.

    Returns
    -------
    items : Path
        ``out_dir/items.item``.

    Raises
    ------
    ImportError
        espeak-ng (``espeakng-loader``) is not installed.
    """
    import soundfile as sf

    from .._validation import check_option
    from ..data.synth import synthesize_speech

    language = check_option("language", language, tuple(MINIMAL_PAIRS))
    speakers = speakers or SYNTH_SPEAKERS
    out = Path(out_dir)
    layout.corpus_audio(out).mkdir(parents=True, exist_ok=True)
    lines = ["#file onset offset #phone context speaker"]
    for context, words in MINIMAL_PAIRS[language].items():
        for vowel, word in words.items():
            for spk, (pitch, rate) in speakers.items():
                wave = synthesize_speech(word, language, sfreq=_SR, pitch=pitch,
                                         rate=rate)
                name = f"{language}_{word}_{spk}"
                with atomic_path(layout.corpus_audio(out, name)) as tmp:
                    sf.write(str(tmp), wave, _SR, format="WAV")
                loud = np.flatnonzero(np.abs(wave) > 0.01 * np.abs(wave).max())
                onset, offset = loud[0] / _SR, (loud[-1] + 1) / _SR
                lines.append(f"{name} {onset:.4f} {offset:.4f} {vowel} {context} "
                             f"{spk}")
    items = layout.abx_items(out)
    with atomic_path(items) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return items
