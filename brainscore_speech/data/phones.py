"""Synthesised speech with its phone alignment (espeak-ng phoneme events).

:func:`synthesize_aligned` speaks a sentence with the bundled espeak-ng (as
:mod:`.synth` does) with phoneme events switched on, and returns the waveform and
the start time of every phone, so frame-level phone labels exist for the
synthesised speech: the ground truth of phone-purity measures such as HuBERT's
PNMI. Each call runs in a forked child (the engine is initialised there with
``espeakINITIALIZE_PHONEME_EVENTS``), so the parent's engine is left untouched.
"""

from __future__ import annotations

import ctypes
import json
import struct
from dataclasses import dataclass

import numpy as np

from . import synth

__all__ = ["AlignedSpeech", "synthesize_aligned", "frame_phones", "make_aligned_corpus"]

_EVENT_PHONEME = 7
_EVENT_END = 0
_INIT_PHONEME_EVENTS = 0x0001


class _EspeakEvent(ctypes.Structure):
    class _Id(ctypes.Union):
        _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p),
                    ("string", ctypes.c_char * 8)]

    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _Id)]


@dataclass(frozen=True)
class AlignedSpeech:
    """A synthesised utterance and its phones.

    Attributes
    ----------
    audio : ndarray of shape (n_samples,), float32
        At ``sfreq`` Hz.
    sfreq : int
    onsets_s : ndarray of shape (n_phones,)
        Start of each phone (s); a phone lasts until the next onset (the last one
        until the end of the audio).
    phones : tuple of str
        espeak-ng phoneme mnemonics (``"_:"`` etc. are pauses).
    """

    audio: np.ndarray
    sfreq: int
    onsets_s: np.ndarray
    phones: tuple[str, ...]


def _child(text: str, voice: str, rate: int, pitch: int) -> bytes:  # pragma: no cover
    import espeakng_loader

    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p,
                                      ctypes.c_int]
    lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint,
                                 ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                 ctypes.c_void_p, ctypes.c_void_p]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    cb_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short),
                               ctypes.c_int, ctypes.POINTER(_EspeakEvent))
    lib.espeak_SetSynthCallback.argtypes = [cb_type]
    sfreq = lib.espeak_Initialize(synth._AUDIO_OUTPUT_SYNCHRONOUS, 0,
                                  espeakng_loader.get_data_path().encode(),
                                  _INIT_PHONEME_EVENTS)
    chunks, events = [], []

    @cb_type
    def callback(wav, n, ev):
        if wav and n > 0:
            chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        i = 0
        while ev and ev[i].type != _EVENT_END:
            if ev[i].type == _EVENT_PHONEME:
                name = bytes(ev[i].id.string).split(b"\0")[0].decode("utf-8", "replace")
                events.append((int(ev[i].audio_position), name))
            i += 1
        return 0

    lib.espeak_SetSynthCallback(callback)
    if lib.espeak_SetVoiceByName(voice.encode()) != 0:
        return struct.pack("<qq", -1, 0)
    lib.espeak_SetParameter(synth._ESPEAK_RATE, rate, 0)
    lib.espeak_SetParameter(synth._ESPEAK_PITCH, pitch, 0)
    seeder = getattr(lib, "espeak_ng_SetRandSeed", None)
    if seeder is not None:
        seeder.argtypes = [ctypes.c_long]
        seeder(0)
    buf = text.encode("utf-8") + b"\0"
    lib.espeak_Synth(buf, len(buf), 0, synth._POS_CHARACTER, 0,
                     synth._ESPEAK_CHARS_UTF8, None, None)
    lib.espeak_Synchronize()
    samples = (np.concatenate(chunks).astype(np.int16) if chunks
               else np.zeros(0, np.int16))
    meta = json.dumps({"sfreq": int(sfreq), "events": events}).encode()
    return struct.pack("<qq", len(meta), samples.size) + meta + samples.tobytes()


def synthesize_aligned(text: str, language: str = "en", *, sfreq: int = 16000,
                       rate: int | None = None, pitch: int | None = None
                       ) -> AlignedSpeech:
    """Synthesise ``text`` and return its phone onsets (espeak-ng events).

    Parameters
    ----------
    text : str
    language : str, default="en"
        As :func:`~brainscore_speech.data.synth.synthesize_speech`.
    sfreq : int, default=16000
    rate, pitch : int, optional
        Words per minute (80..450) and base pitch (0..100).

    Returns
    -------
    AlignedSpeech

    Raises
    ------
    ImportError
        ``espeakng-loader`` is not installed.
    ValueError
        Empty text or no voice for ``language``.
    RuntimeError
        The worker process failed or produced no phones.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"'text' must be a non-empty string, got {text!r}.")
    import espeakng_loader  # noqa: F401  (a clear ImportError before forking)

    voice = synth._voice(language)
    rate = synth._DEFAULT_RATE if rate is None else synth._check_int_range(
        "rate", rate, synth._RATE_RANGE)
    pitch = synth._DEFAULT_PITCH if pitch is None else synth._check_int_range(
        "pitch", pitch, synth._PITCH_RANGE)
    payload, status = synth._in_fork(lambda: _child(text, voice, rate, pitch))
    if len(payload) < 16 or status != 0:
        raise RuntimeError(f"espeak-ng aligned synthesis of {text[:40]!r} failed in "
                           f"its worker process (exit status {status}).")
    n_meta, n = struct.unpack("<qq", payload[:16])
    if n_meta < 0:
        raise ValueError(f"espeak-ng has no voice {voice!r} for language "
                         f"{language!r}.")
    meta = json.loads(payload[16:16 + n_meta])
    samples = np.frombuffer(payload[16 + n_meta:16 + n_meta + 2 * n], dtype=np.int16)
    if not meta["events"] or samples.size == 0:
        raise RuntimeError(f"espeak-ng produced no phones for {text[:40]!r}.")
    audio = samples.astype(np.float32) / 32768.0
    native = int(meta["sfreq"])
    if sfreq != native:
        import soxr

        audio = soxr.resample(audio, native, sfreq).astype(np.float32)
    onsets = np.array([t for t, _ in meta["events"]], dtype=np.float64) / 1000.0
    order = np.argsort(onsets, kind="stable")
    return AlignedSpeech(audio=np.clip(audio, -1, 1), sfreq=int(sfreq),
                         onsets_s=onsets[order],
                         phones=tuple(meta["events"][i][1] for i in order))


def frame_phones(aligned: AlignedSpeech, n_frames: int, *, hop: int = 320,
                 window: int = 400, strip_stress: bool = True) -> np.ndarray:
    """The phone at the centre of every model frame.

    Parameters
    ----------
    aligned : AlignedSpeech
    n_frames : int
    hop, window : int
        Frame hop and length in samples (the conv encoder's 320 / 400 at 16 kHz).
    strip_stress : bool, default=True
        Drop espeak's stress marks (``'`` primary, ``,`` secondary), so ``'eI``
        and ``eI`` are one phone.

    Returns
    -------
    ndarray of str, shape (n_frames,)
        Frames before the first phone get the first phone's label.
    """
    centres = (np.arange(n_frames) * hop + window / 2) / aligned.sfreq
    idx = np.searchsorted(aligned.onsets_s, centres, side="right") - 1
    phones = [p.replace("'", "").replace(",", "") if strip_stress else p
              for p in aligned.phones]
    return np.asarray(phones)[np.clip(idx, 0, None)]


def make_aligned_corpus(out_dir, *, n_sentences: int = 40, language: str = "en",
                        rate_range: tuple[int, int] = (140, 220),
                        pitch_range: tuple[int, int] = (30, 70), random_state=0,
                        hop: int = 320, window: int = 400) -> dict[str, np.ndarray]:
    """Synthesise sentences with frame-level phone labels (a PNMI test corpus).

    The language's sample sentences are spoken in turn (cycling when
    ``n_sentences`` exceeds them), each at a random rate and pitch, into
    ``out_dir/s<index:02d>.wav`` (16 kHz, written whole or not at all).

    Parameters
    ----------
    out_dir : path-like
    n_sentences : int, default=40
    language : str, default="en"
        As :func:`synthesize_aligned`.
    rate_range, pitch_range : (int, int)
        Half-open ranges ``[low, high)`` of the words per minute and base pitch.
    random_state : int | numpy.random.Generator | None
    hop, window : int
        Model frame geometry in samples, as :func:`frame_phones`.

    Returns
    -------
    phones : dict
        Resolved path of each file -> ndarray of str of shape (n_frames,), its
        frames' phones, ``n_frames = (n_samples - window) // hop + 1``.
    """
    from pathlib import Path

    import soundfile as sf

    from .._io import atomic_path
    from .._validation import check_random_state

    if n_sentences < 1:
        raise ValueError(f"'n_sentences' must be >= 1, got {n_sentences}.")
    rng = check_random_state(random_state)
    texts = synth.SAMPLE_TEXTS[synth._TEXT_LANG[synth._voice(language)]]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    phones = {}
    for i in range(n_sentences):
        a = synthesize_aligned(texts[i % len(texts)], language,
                               rate=int(rng.integers(*rate_range)),
                               pitch=int(rng.integers(*pitch_range)))
        path = out / f"s{i:02d}.wav"
        with atomic_path(path) as tmp:
            sf.write(str(tmp), a.audio, a.sfreq, format="WAV")
        n_frames = max(0, (len(a.audio) - window) // hop + 1)
        phones[str(path.resolve())] = frame_phones(a, n_frames, hop=hop, window=window)
    return phones
