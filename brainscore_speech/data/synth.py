"""Offline audio for the demo and the simulator: synthetic speech and non-speech sounds.

Speech comes from the espeak-ng library bundled in the ``espeakng-loader`` wheel,
driven through ``ctypes`` (no system install, no network; see FINDINGS.md §6). It is
deterministic: the same text, voice, rate and pitch give the same samples. Non-speech
sounds are procedural (tones, chirps, amplitude-modulated noise, bird-like sweeps,
rain-like clicks, harmonic instrument notes): structured enough for a model to learn
from, but without the formant / syllable structure of speech.

All waveforms are float32, mono, in [-1, 1], at ``sfreq`` Hz (16 kHz by default).
"""

from __future__ import annotations

import ctypes
import functools
import os
import struct
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .. import layout
from .._io import atomic_path, write_json
from .._logging import logger
from .._validation import check_option, check_random_state, check_scalar

__all__ = [
    "SAMPLE_TEXTS",
    "STORY_TEXTS",
    "NONSPEECH_KINDS",
    "speech_available",
    "synthesize_speech",
    "make_speech_corpus",
    "make_story_audio",
    "make_nonspeech_sound",
    "make_nonspeech_corpus",
]

# ---------------------------------------------------------------------------- texts
# Original simple sentences (everyday scenes), written for this package.
SAMPLE_TEXTS: dict[str, list[str]] = {
    "en": [
        "The baker opens his shop before the sun comes up.",
        "A small dog is sleeping under the kitchen table.",
        "My sister painted the garden fence a bright shade of blue.",
        "The bus was late again, so we walked to school.",
        "Please put the fresh apples in the wooden basket.",
        "Rain tapped softly on the window all afternoon.",
        "He forgot his umbrella on the train this morning.",
        "The children built a tall tower out of red blocks.",
        "We usually drink tea with milk after dinner.",
        "An old man feeds the ducks by the pond every Sunday.",
        "The library closes early on Friday evenings.",
        "She found a silver key at the bottom of her bag.",
        "Our neighbours are moving to a town near the sea.",
        "The soup needs a little more salt and pepper.",
        "A yellow kite was flying high above the hill.",
        "Could you tell me where the nearest post office is?",
        "The cat watched the birds from the warm windowsill.",
        "I am reading a long book about sailors and islands.",
        "The market is full of people on Saturday mornings.",
        "Her grandfather repairs clocks in a tiny workshop.",
        "The students laughed when the teacher dropped the chalk.",
        "We picked strawberries until our fingers were sticky.",
        "The lights in the stadium came on one by one.",
        "Nobody knew who had left the door wide open.",
        "The river is very cold at this time of year.",
        "Tomorrow we will visit my aunt in the mountains.",
        "He carefully wrapped the present in green paper.",
        "The phone rang twice, and then the house was quiet.",
        "A gentle wind carried the smell of bread down the street.",
        "They sat on the bench and counted the passing boats.",
    ],
    "fr": [
        "Le boulanger ouvre sa boutique avant le lever du soleil.",
        "Un petit chien dort sous la table de la cuisine.",
        "Ma soeur a peint la barrière du jardin en bleu vif.",
        "Le bus était encore en retard, alors nous sommes allés à pied.",
        "Mets les pommes fraîches dans le panier en bois, s'il te plaît.",
        "La pluie a tapé doucement sur la fenêtre tout l'après-midi.",
        "Il a oublié son parapluie dans le train ce matin.",
        "Les enfants ont construit une grande tour avec des cubes rouges.",
        "Nous buvons souvent du thé après le dîner.",
        "Un vieil homme nourrit les canards près de l'étang chaque dimanche.",
        "La bibliothèque ferme tôt le vendredi soir.",
        "Elle a trouvé une clé en argent au fond de son sac.",
        "Nos voisins vont s'installer dans une ville au bord de la mer.",
        "La soupe a besoin d'un peu plus de sel et de poivre.",
        "Un cerf-volant jaune volait très haut au-dessus de la colline.",
        "Pouvez-vous me dire où se trouve la poste la plus proche?",
        "Le chat regardait les oiseaux depuis le rebord de la fenêtre.",
        "Je lis un long livre sur les marins et les îles.",
        "Le marché est plein de monde le samedi matin.",
        "Son grand-père répare des horloges dans un petit atelier.",
        "Les élèves ont ri quand le professeur a fait tomber la craie.",
        "Nous avons cueilli des fraises jusqu'à avoir les doigts collants.",
        "Les lumières du stade se sont allumées une à une.",
        "Personne ne savait qui avait laissé la porte grande ouverte.",
        "La rivière est très froide à cette période de l'année.",
        "Demain, nous rendrons visite à ma tante à la montagne.",
        "Il a soigneusement emballé le cadeau dans du papier vert.",
        "Le téléphone a sonné deux fois, puis la maison est redevenue calme.",
        "Un vent léger portait l'odeur du pain dans la rue.",
        "Ils se sont assis sur le banc pour compter les bateaux.",
    ],
    "cmn": [
        "面包师在太阳升起之前打开了他的小店。",
        "一只小狗在厨房的桌子下面睡觉。",
        "我姐姐把花园的篱笆涂成了亮蓝色。",
        "公共汽车又晚了，所以我们走路去学校。",
        "请把新鲜的苹果放进木头篮子里。",
        "整个下午，雨轻轻地打在窗户上。",
        "他今天早上把雨伞忘在火车上了。",
        "孩子们用红色的积木搭了一座高塔。",
        "我们晚饭以后常常喝一杯茶。",
        "每个星期天，一位老人在池塘边喂鸭子。",
        "图书馆星期五晚上关门比较早。",
        "她在包的底部找到了一把银色的钥匙。",
        "我们的邻居要搬到海边的一个小城。",
        "这碗汤需要再放一点盐和胡椒。",
        "一只黄色的风筝在山坡上高高地飞着。",
        "请问最近的邮局在哪里？",
        "小猫坐在温暖的窗台上看着小鸟。",
        "我正在读一本关于水手和岛屿的长书。",
        "星期六早上，市场里到处都是人。",
        "她的爷爷在一个小工作室里修理钟表。",
        "老师把粉笔掉在地上，学生们都笑了。",
        "我们摘草莓，一直摘到手指都黏黏的。",
        "体育场的灯一盏一盏地亮了起来。",
        "没有人知道是谁把门开着的。",
        "每年这个时候，河水都很冷。",
        "明天我们要去山里看望我的阿姨。",
        "他小心地用绿色的纸把礼物包好。",
        "电话响了两声，然后房子里又安静了。",
        "微风把面包的香味吹到了街上。",
        "他们坐在长椅上，数着经过的小船。",
    ],
}

# A little original story per language: the simulator's audiobook sections.
STORY_TEXTS: dict[str, list[str]] = {
    "en": [
        "Once upon a time, a girl named Lina lived in a house at the edge of a forest.",
        "Every morning she walked to the well to fetch water for her mother.",
        "One day she heard a strange song coming from behind the old oak tree.",
        "She put down her bucket and followed the music between the trees.",
        "In a small clearing, she found a fox playing a tiny wooden flute.",
        "The fox stopped playing and looked at her with bright, curious eyes.",
        "Do not be afraid, said the fox, I only play for those who listen.",
        "Lina sat on a mossy stone and asked the fox to play once more.",
        "The fox played a song about rivers, mountains and faraway towns.",
        "When the song ended, the sun was already low in the sky.",
        "Lina ran home with her bucket, but she had forgotten the water.",
        "Her mother laughed and asked where she had been all day.",
        "Lina told her about the fox, the flute and the beautiful song.",
        "The next morning, she went back to the clearing, but it was empty.",
        "Only a small feather lay on the stone where the fox had been.",
        "She kept the feather in a box beside her bed for many years.",
        "When she grew up, Lina became a musician and travelled far.",
        "In every town, she played the song she had heard in the forest.",
        "People stopped in the streets to listen, and some of them cried.",
        "And sometimes, at the edge of the crowd, a fox was quietly watching.",
    ],
    "fr": [
        "Il était une fois une fille nommée Lina qui vivait au bord d'une forêt.",
        "Chaque matin, elle marchait jusqu'au puits pour chercher de l'eau.",
        "Un jour, elle entendit une chanson étrange derrière le vieux chêne.",
        "Elle posa son seau et suivit la musique entre les arbres.",
        "Dans une petite clairière, elle trouva un renard qui jouait de la flûte.",
        "Le renard s'arrêta et la regarda avec des yeux brillants et curieux.",
        "N'aie pas peur, dit le renard, je ne joue que pour ceux qui écoutent.",
        "Lina s'assit sur une pierre couverte de mousse et demanda encore une chanson.",
        "Le renard joua un air sur les rivières, les montagnes et les villes "
        "lointaines.",
        "Quand la chanson se termina, le soleil était déjà bas dans le ciel.",
        "Lina rentra en courant avec son seau, mais elle avait oublié l'eau.",
        "Sa mère rit et lui demanda où elle avait passé la journée.",
        "Lina lui raconta le renard, la flûte et la belle chanson.",
        "Le lendemain, elle retourna à la clairière, mais elle était vide.",
        "Seule une petite plume était posée sur la pierre.",
        "Elle garda la plume dans une boîte près de son lit pendant des années.",
        "Devenue grande, Lina devint musicienne et voyagea très loin.",
        "Dans chaque ville, elle jouait la chanson entendue dans la forêt.",
        "Les gens s'arrêtaient dans la rue pour écouter, et certains pleuraient.",
        "Et parfois, au bord de la foule, un renard regardait en silence.",
    ],
    "cmn": [
        "从前，有一个叫丽娜的女孩住在森林边上的一座房子里。",
        "每天早上，她都走到井边给妈妈打水。",
        "有一天，她听见老橡树后面传来一首奇怪的歌。",
        "她放下水桶，跟着音乐走进了树林。",
        "在一片小空地上，她看见一只狐狸在吹一支小木笛。",
        "狐狸停了下来，用明亮好奇的眼睛看着她。",
        "狐狸说，别害怕，我只为愿意听的人演奏。",
        "丽娜坐在长满青苔的石头上，请狐狸再吹一次。",
        "狐狸吹了一首关于河流、高山和远方小城的歌。",
        "歌声结束的时候，太阳已经快落山了。",
        "丽娜提着水桶跑回家，可是她忘了打水。",
        "妈妈笑了，问她一整天去了哪里。",
        "丽娜给妈妈讲了狐狸、笛子和那首好听的歌。",
        "第二天早上，她又回到那片空地，可是那里什么也没有。",
        "只有一根小羽毛留在狐狸坐过的石头上。",
        "很多年里，她都把羽毛放在床边的一个盒子里。",
        "长大以后，丽娜成了一名音乐家，去了很远的地方。",
        "在每一个城市，她都演奏那首在森林里听到的歌。",
        "人们在街上停下来听，有些人还流下了眼泪。",
        "有时候，在人群的边上，一只狐狸正在静静地看着。",
    ],
}

# language code -> espeak-ng voice file name (FINDINGS.md §6: "fr-fr" does not exist)
_VOICES = {"en": "en-us", "en-us": "en-us", "fr": "fr", "fr-fr": "fr", "cmn": "cmn",
           "zh": "cmn", "zh-cn": "cmn", "mandarin": "cmn"}
_TEXT_LANG = {"en-us": "en", "fr": "fr", "cmn": "cmn"}

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_ESPEAK_CHARS_UTF8 = 1
_ESPEAK_RATE, _ESPEAK_PITCH = 1, 3
_DEFAULT_RATE, _DEFAULT_PITCH = 175, 50  # words per minute; 0..100
_RATE_RANGE, _PITCH_RANGE = (80, 450), (0, 100)

_LOCK = threading.RLock()
_ENGINE: dict[str, object] = {}
_CALLBACK_TYPE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short),
                                  ctypes.c_int, ctypes.c_void_p)
_CHUNKS: list[np.ndarray] = []


@_CALLBACK_TYPE
def _synth_callback(wav, n_samples, events):  # pragma: no cover - called from C
    if wav and n_samples > 0:
        _CHUNKS.append(np.ctypeslib.as_array(wav, shape=(n_samples,)).copy())
    return 0


def _engine():
    """Load and initialise the bundled espeak-ng once; return (lib, native sfreq)."""
    with _LOCK:
        if "lib" in _ENGINE:
            return _ENGINE["lib"], _ENGINE["sfreq"]
        try:
            import espeakng_loader
        except ImportError:
            raise ImportError(
                "Speech synthesis needs the 'espeakng-loader' package (bundled "
                "espeak-ng); install it with: pip install 'brainscore-speech[demo]'."
            ) from None
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p,
                                          ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint,
                                     ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                     ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK_TYPE]
        # espeak-ng draws noise (fricatives, jitter) from a PRNG: reseed per call.
        seeder = getattr(lib, "espeak_ng_SetRandSeed", None)
        if seeder is not None:
            seeder.argtypes = [ctypes.c_long]
        data_path = espeakng_loader.get_data_path().encode()
        sfreq = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, 0)
        if sfreq <= 0:
            raise RuntimeError(f"espeak-ng failed to initialise (returned {sfreq}) "
                               f"with data path {data_path.decode()}.")
        lib.espeak_SetSynthCallback(_synth_callback)
        _ENGINE.update(lib=lib, sfreq=int(sfreq), seeder=seeder)
        return lib, int(sfreq)


def speech_available() -> bool:
    """Whether offline speech synthesis works (``espeakng_loader`` importable, loads).

    Returns
    -------
    bool
        False (never an exception) when the package is missing or the library fails.
    """
    try:
        _engine()
    except (ImportError, OSError, RuntimeError, AttributeError):
        return False
    return True


def _check_int_range(name: str, value, bounds: tuple[int, int]) -> int:
    lo, hi = bounds
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) \
            or not lo <= value <= hi:
        raise ValueError(f"{name!r} must be an integer in [{lo}, {hi}], got {value!r}.")
    return int(value)


def _check_sfreq(sfreq) -> int:
    if (isinstance(sfreq, bool) or not isinstance(sfreq, (int, np.integer))
            or sfreq < 1000):
        raise ValueError(f"'sfreq' must be an integer sampling rate >= 1000 Hz, got "
                         f"{sfreq!r}.")
    return int(sfreq)


def _check_duration(duration_s) -> float:
    check_scalar("duration_s", duration_s, low=0, inclusive="neither",
                 expected="a positive number of seconds")
    return float(duration_s)


def _voice(language: str) -> str:
    if not isinstance(language, str) or not language.strip():
        raise ValueError(f"'language' must be a non-empty string such as 'en', 'fr' or "
                         f"'cmn', got {language!r}.")
    return _VOICES.get(language.lower(), language)


_NO_VOICE = -1


def _synth_raw(lib, text: str, voice: str, rate: int, pitch: int):
    """Synthesise in this process: (status, int16 samples at espeak's rate)."""
    if lib.espeak_SetVoiceByName(voice.encode()) != 0:
        return _NO_VOICE, np.zeros(0, np.int16)
    lib.espeak_SetParameter(_ESPEAK_RATE, rate, 0)
    lib.espeak_SetParameter(_ESPEAK_PITCH, pitch, 0)
    if _ENGINE.get("seeder") is not None:
        _ENGINE["seeder"](0)
    buf = text.encode("utf-8") + b"\0"
    _CHUNKS.clear()
    try:
        err = lib.espeak_Synth(buf, len(buf), 0, _POS_CHARACTER, 0, _ESPEAK_CHARS_UTF8,
                               None, None)
        lib.espeak_Synchronize()
        chunks = list(_CHUNKS)
    finally:
        _CHUNKS.clear()
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
    return int(err), samples.astype(np.int16)


def _in_fork(work) -> tuple[bytes, int]:
    """Run ``work()`` (returning bytes) in a forked child; (payload, exit code)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child process (coverage does not follow it)
        code = 0
        try:
            os.close(read_fd)
            view = memoryview(work())
            while view:
                view = view[os.write(write_fd, view):]
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        payload = pipe.read()
    _, status = os.waitpid(pid, 0)
    return payload, os.waitstatus_to_exitcode(status)


def _synth_forked(lib, text: str, voice: str, rate: int, pitch: int):
    """Synthesise in a forked child, so every call starts from the same engine state.

    espeak-ng keeps waveform-generator state in C statics (pitch flutter index,
    wave phase...) that carry over from one utterance to the next, so the same text
    gives slightly different samples depending on what was spoken before. This
    process only ever initialises the engine; each utterance is generated by a
    fresh fork of that pristine state, which makes synthesis reproducible across
    calls and processes.
    """
    def work() -> bytes:
        status, samples = _synth_raw(lib, text, voice, rate, pitch)
        return struct.pack("<qq", status, samples.size) + samples.tobytes()

    payload, wait_status = _in_fork(work)
    if len(payload) < 16 or wait_status != 0:
        raise RuntimeError(f"espeak-ng synthesis of {text[:40]!r} failed in its worker "
                           f"process (exit status {wait_status}).")
    status, n = struct.unpack("<qq", payload[:16])
    samples = np.frombuffer(payload[16:16 + 2 * n], dtype=np.int16).copy()
    return int(status), samples


@functools.lru_cache(maxsize=1024)
def _synth_cached(text: str, voice: str, rate: int, pitch: int):
    """Deterministic, so results are cached (int16 samples, read-only)."""
    lib, _ = _engine()
    with _LOCK:
        status, samples = (_synth_forked if hasattr(os, "fork") else _synth_raw)(
            lib, text, voice, rate, pitch)
    samples.setflags(write=False)
    return status, samples


def synthesize_speech(text: str, language: str, *, sfreq: int = 16000,
                      rate: int | None = None, pitch: int | None = None) -> np.ndarray:
    """Synthesise ``text`` with espeak-ng, offline and deterministically.

    Parameters
    ----------
    text : str
        UTF-8 text (Han characters for Mandarin).
    language : str
        ``"en"`` (voice ``en-us``), ``"fr"`` (``fr``), ``"cmn"`` or ``"zh"``
        (``cmn``), or any espeak-ng voice file name.
    sfreq : int, default=16000
        Output sampling rate in Hz (espeak-ng's 22,050 Hz is resampled with soxr).
    rate : int, optional
        Speaking rate in words per minute, 80..450; default 175.
    pitch : int, optional
        Base pitch, 0..100; default 50.

    Returns
    -------
    audio : ndarray of shape (n_samples,), float32
        Mono waveform in [-1, 1] at ``sfreq`` Hz (with espeak's short leading and
        trailing silences).

    Raises
    ------
    ImportError
        ``espeakng-loader`` is not installed (see :func:`speech_available`).
    ValueError
        Empty text, a language with no espeak-ng voice, or rate/pitch/sfreq out of
        range.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"'text' must be a non-empty string, got {text!r}.")
    sfreq = _check_sfreq(sfreq)
    rate = (_DEFAULT_RATE if rate is None
            else _check_int_range("rate", rate, _RATE_RANGE))
    pitch = (_DEFAULT_PITCH if pitch is None
             else _check_int_range("pitch", pitch, _PITCH_RANGE))
    voice = _voice(language)
    _, native = _engine()
    status, samples = _synth_cached(text, voice, rate, pitch)
    if status == _NO_VOICE:
        raise ValueError(
            f"espeak-ng has no voice {voice!r} for language {language!r}; use one "
            f"of {sorted(set(_VOICES))} or an espeak-ng voice file name."
        )
    if status != 0 or samples.size == 0:
        raise RuntimeError(f"espeak-ng produced no audio for {text[:40]!r} with voice "
                           f"{voice!r} (status {status}).")
    audio = samples.astype(np.float32) / 32768.0
    if sfreq != native:
        import soxr

        audio = soxr.resample(audio, native, sfreq).astype(np.float32)
    return np.clip(audio, -1.0, 1.0)


def _trim(audio: np.ndarray, sfreq: int, threshold: float = 1e-3) -> np.ndarray:
    """Strip leading/trailing near-silence (keeps 10 ms margins)."""
    loud = np.flatnonzero(np.abs(audio) > threshold)
    if loud.size == 0:
        return audio[:0]
    margin = int(0.01 * sfreq)
    return audio[max(loud[0] - margin, 0): loud[-1] + margin + 1]


def _texts(language: str, texts: dict[str, list[str]], what: str) -> list[str]:
    key = _TEXT_LANG.get(_voice(language))
    if key is None:
        raise ValueError(f"No {what} for language {language!r}; available: "
                         f"{sorted(texts)} (aliases: {sorted(_VOICES)}).")
    return texts[key]


def _write_wav(path: Path, audio: np.ndarray, sfreq: int) -> Path:
    import soundfile as sf

    with atomic_path(path) as tmp:
        sf.write(tmp, audio, sfreq, subtype="PCM_16", format="WAV")
    return path


def make_story_audio(language: str, duration_s: float, *, sfreq: int = 16000,
                     start: int = 0, pause_s: tuple[float, float] = (0.25, 0.7),
                     rate: int | None = None, pitch: int | None = None,
                     random_state=None, return_segments: bool = False):
    """One long audiobook-like stimulus: story sentences read with pauses between them.

    Sentences of ``STORY_TEXTS[language]`` are read in order from sentence ``start``
    (cycling back to the first after the last), each trimmed of its silences and
    followed by a pause drawn uniformly from ``pause_s``, until ``duration_s`` is
    filled; the result is cut (or zero-padded) to exactly ``duration_s``.

    Parameters
    ----------
    language : str
        ``"en"``, ``"fr"`` or ``"cmn"`` (aliases ``"zh"``, ``"en-us"``...).
    duration_s : float
        Length of the stimulus in seconds.
    sfreq : int, default=16000
        Sampling rate in Hz.
    start : int, default=0
        Index of the first sentence (use different values for different runs).
    pause_s : (float, float), default=(0.25, 0.7)
        Range of the pause after each sentence, in seconds.
    rate, pitch : int, optional
        Speaking rate (words/min) and pitch (0..100); default: espeak's defaults.
    random_state : int | numpy.random.Generator | None
        Seeds the pauses; the audio is deterministic for a given seed.
    return_segments : bool, default=False
        Also return the sentence segments.

    Returns
    -------
    audio : ndarray of shape (round(duration_s * sfreq),), float32
    segments : list of dict, optional
        ``{"onset_s", "offset_s", "text"}`` per (possibly truncated) sentence.

    Raises
    ------
    ValueError
        Bad duration, language without story text, bad ``pause_s`` or ``start``.
    """
    duration_s = _check_duration(duration_s)
    sfreq = _check_sfreq(sfreq)
    sentences = _texts(language, STORY_TEXTS, "story text")
    if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or start < 0:
        raise ValueError(f"'start' must be a non-negative integer, got {start!r}.")
    lo, hi = _check_range("pause_s", pause_s)
    rng = check_random_state(random_state)
    n_total = int(round(duration_s * sfreq))
    pieces, segments, n = [], [], 0
    i = int(start)
    cache: dict[int, np.ndarray] = {}
    while n < n_total:
        k = i % len(sentences)
        if k not in cache:
            cache[k] = _trim(synthesize_speech(sentences[k], language, sfreq=sfreq,
                                               rate=rate, pitch=pitch), sfreq)
        speech = cache[k]
        pause = np.zeros(int(round(rng.uniform(lo, hi) * sfreq)), np.float32)
        segments.append({"onset_s": n / sfreq,
                         "offset_s": min(n + speech.size, n_total) / sfreq,
                         "text": sentences[k]})
        pieces += [speech, pause]
        n += speech.size + pause.size
        i += 1
    audio = np.concatenate(pieces)[:n_total].astype(np.float32)
    return (audio, segments) if return_segments else audio


def _check_range(name: str, value) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name!r} must be a (min, max) pair of seconds, got "
                         f"{value!r}.") from None
    if not 0 <= lo <= hi or hi <= 0:
        raise ValueError(f"{name!r} must satisfy 0 <= min <= max and max > 0, got "
                         f"{value!r}.")
    return lo, hi


def _prepare_out_dir(out_dir, prefix: str) -> Path:
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"'out_dir' is not a directory: {out_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob(f"{prefix}_*.wav"):  # a previous, different corpus
        stale.unlink()
    return out_dir


def make_speech_corpus(out_dir: str | os.PathLike, language: str, duration_s: float, *,
                       sfreq: int = 16000, clip_s: tuple[float, float] = (2.0, 8.0),
                       rate_range: tuple[int, int] = (130, 230),
                       pitch_range: tuple[int, int] = (25, 75),
                       random_state=None) -> list[Path]:
    """Write a synthetic read-speech corpus: wav clips of varied speakers' settings.

    Each clip reads one or more random sentences of ``SAMPLE_TEXTS[language]`` with a
    rate and pitch drawn per clip (a crude stand-in for speaker variety), until the
    clip reaches a length drawn from ``clip_s`` (it is capped at ``clip_s[1]``). Clips
    are added until their total length reaches ``duration_s``.

    Parameters
    ----------
    out_dir : path-like
        Output folder; clips are ``<language>_<index:05d>.wav`` (16-bit PCM), and
        ``<language>_corpus.json`` records the parameters and clip list. Earlier clips
        with the same prefix are removed first.
    language : str
        ``"en"``, ``"fr"`` or ``"cmn"`` (aliases accepted).
    duration_s : float
        Total audio length to produce, in seconds.
    sfreq : int, default=16000
        Sampling rate in Hz.
    clip_s : (float, float), default=(2.0, 8.0)
        Range of clip lengths in seconds.
    rate_range : (int, int), default=(130, 230)
        Range of speaking rates (words per minute).
    pitch_range : (int, int), default=(25, 75)
        Range of base pitches (0..100).
    random_state : int | numpy.random.Generator | None
        Seed; the same seed gives byte-identical files.

    Returns
    -------
    paths : list of Path
        The clips written, in order.
    """
    duration_s = _check_duration(duration_s)
    sfreq = _check_sfreq(sfreq)
    sentences = _texts(language, SAMPLE_TEXTS, "sample texts")
    cmin, cmax = _check_range("clip_s", clip_s)
    for name, rng_, bounds in (("rate_range", rate_range, _RATE_RANGE),
                               ("pitch_range", pitch_range, _PITCH_RANGE)):
        if len(rng_) != 2 or rng_[0] > rng_[1]:
            raise ValueError(f"{name!r} must be a (min, max) pair, got {rng_!r}.")
        for v in rng_:
            _check_int_range(name, v, bounds)
    rng = check_random_state(random_state)
    prefix = _TEXT_LANG[_voice(language)]
    out_dir = _prepare_out_dir(out_dir, prefix)
    total, paths = 0, []
    n_target = int(round(duration_s * sfreq))
    while total < n_target:
        rate = int(rng.integers(rate_range[0], rate_range[1] + 1))
        pitch = int(rng.integers(pitch_range[0], pitch_range[1] + 1))
        target = int(round(rng.uniform(cmin, cmax) * sfreq))
        parts, n = [np.zeros(int(0.05 * sfreq), np.float32)], 0
        while n < target:  # whole sentences until the clip is long enough
            text = sentences[int(rng.integers(len(sentences)))]
            speech = _trim(synthesize_speech(text, language, sfreq=sfreq, rate=rate,
                                             pitch=pitch), sfreq)
            gap = np.zeros(int(rng.uniform(0.1, 0.4) * sfreq), np.float32)
            parts += [speech, gap]
            n += speech.size + gap.size
        clip = np.concatenate(parts)[: int(round(cmax * sfreq))]
        paths.append(_write_wav(layout.corpus_clip(out_dir, prefix, len(paths)), clip,
                                sfreq))
        total += clip.size
    write_json(layout.corpus_description(out_dir, prefix), {
        "kind": "speech", "language": prefix, "duration_s": total / sfreq,
        "sfreq": sfreq, "clip_s": [cmin, cmax], "rate_range": list(rate_range),
        "pitch_range": list(pitch_range), "files": [p.name for p in paths],
        "synthesizer": "espeak-ng (espeakng-loader)",
    })
    logger.info("Wrote %d %s speech clips (%.1f s) to %s.", len(paths), prefix,
                total / sfreq, out_dir)
    return paths


# ---------------------------------------------------------------------- non-speech
NONSPEECH_KINDS = ("tone", "chirp", "am_noise", "bird", "rain", "instrument")


def _envelope(n: int, sfreq: int, attack_s: float, release_s: float) -> np.ndarray:
    env = np.ones(n, np.float64)
    a = min(int(attack_s * sfreq), n // 2)
    r = min(int(release_s * sfreq), n - a)
    if a:
        env[:a] = np.linspace(0.0, 1.0, a)
    if r:
        env[n - r:] *= np.exp(-np.linspace(0.0, 5.0, r))
    return env


def _event(kind: str, n: int, sfreq: int, rng: np.random.Generator) -> np.ndarray:
    """One sound event of ``n`` samples (float64, peak about 1)."""
    t = np.arange(n) / sfreq
    dur = n / sfreq
    nyq = sfreq / 2
    if kind == "tone":  # steady pure tone (sometimes with slow vibrato)
        f0 = rng.uniform(200, min(3000, 0.4 * nyq))
        vib = rng.uniform(0, 0.02) * np.sin(2 * np.pi * rng.uniform(3, 7) * t)
        x = np.sin(2 * np.pi * f0 * t * (1 + vib))
        return x * _envelope(n, sfreq, 0.02, min(0.1, dur / 3))
    if kind == "chirp":  # exponential sweep up or down
        f0, f1 = rng.uniform(150, 0.35 * nyq, size=2)
        phase = 2 * np.pi * f0 * dur / np.log(f1 / f0) * ((f1 / f0) ** (t / dur) - 1)
        return np.sin(phase) * _envelope(n, sfreq, 0.01, min(0.05, dur / 4))
    if kind == "am_noise":  # band-limited noise, amplitude-modulated (engines, wind)
        noise = rng.standard_normal(n)
        spec = np.fft.rfft(noise)
        freqs = np.fft.rfftfreq(n, 1 / sfreq)
        centre, width = rng.uniform(300, 0.5 * nyq), rng.uniform(100, 1500)
        spec *= np.exp(-0.5 * ((freqs - centre) / width) ** 2)
        band = np.fft.irfft(spec, n)
        band /= np.abs(band).max() + 1e-12
        mod = 1 + rng.uniform(0.3, 0.9) * np.sin(2 * np.pi * rng.uniform(0.5, 30) * t)
        return band * mod / 2 * _envelope(n, sfreq, 0.05, 0.05)
    if kind == "bird":  # trains of fast, high frequency-modulated chirps
        x = np.zeros(n)
        f_lo = rng.uniform(1500, 0.45 * nyq)
        f_hi = min(f_lo * rng.uniform(1.2, 1.8), 0.9 * nyq)
        period = int(rng.uniform(0.08, 0.25) * sfreq)
        length = max(int(period * rng.uniform(0.4, 0.8)), 8)
        tt = np.arange(length) / sfreq
        direction = rng.choice([-1.0, 1.0])
        inst = f_lo + (f_hi - f_lo) * (0.5 + 0.5 * direction * np.cos(
            np.pi * tt / tt[-1] if tt[-1] > 0 else 0))
        syll = np.sin(2 * np.pi * np.cumsum(inst) / sfreq) * np.hanning(length)
        for onset in range(0, max(n - length, 1), period):
            x[onset: onset + length] += syll[: n - onset]
        return x
    if kind == "rain":  # random clicks (Poisson) through a decaying resonance
        x = np.zeros(n)
        density = rng.uniform(30, 400)  # drops per second
        n_drops = rng.poisson(density * dur)
        for pos in rng.integers(0, n, size=n_drops):
            m = min(int(rng.uniform(0.002, 0.01) * sfreq), n - pos)
            f = rng.uniform(1000, 0.8 * nyq)
            tt = np.arange(m) / sfreq
            x[pos: pos + m] += (rng.uniform(0.2, 1.0) * np.sin(2 * np.pi * f * tt)
                                * np.exp(-tt * rng.uniform(300, 1500)))
        return x / (np.abs(x).max() + 1e-12)
    if kind == "instrument":  # a harmonic note: decaying partials, slight inharmonicity
        f0 = 110.0 * 2 ** (rng.integers(0, 36) / 12)  # A2..G#5, equal temperament
        n_harm = int(min(12, (0.9 * nyq) // f0))
        decay = rng.uniform(0.5, 4.0)
        x = np.zeros(n)
        for h in range(1, max(n_harm, 1) + 1):
            fh = f0 * h * (1 + rng.uniform(0, 3e-4) * h * h)
            if fh >= 0.95 * nyq:
                break
            x += (rng.uniform(0.3, 1.0) / h) * np.sin(2 * np.pi * fh * t) \
                * np.exp(-t * decay * h ** 0.5)
        return x * _envelope(n, sfreq, rng.uniform(0.002, 0.05), 0.05)
    raise AssertionError(kind)  # pragma: no cover - kinds are checked by callers


def make_nonspeech_sound(duration_s: float, *, sfreq: int = 16000,
                         kinds: Sequence[str] | str | None = None,
                         random_state=None) -> np.ndarray:
    """A procedural non-speech sound scene: a sequence of sound events.

    Events of the chosen ``kinds`` (tones, chirps, amplitude-modulated noise,
    bird-like chirp trains, rain-like clicks, harmonic instrument notes) of 0.15 to
    1.5 s are laid out one after the other with short gaps, sometimes overlapping a
    second event, over a faint noise floor; the scene is peak-normalised to 0.5-0.9.

    Parameters
    ----------
    duration_s : float
        Length in seconds.
    sfreq : int, default=16000
        Sampling rate in Hz.
    kinds : str or sequence of str, optional
        Subset of ``NONSPEECH_KINDS``; default: one to three kinds drawn at random.
    random_state : int | numpy.random.Generator | None
        Seed; the same seed gives the same samples.

    Returns
    -------
    audio : ndarray of shape (round(duration_s * sfreq),), float32

    Raises
    ------
    ValueError
        Bad duration, sampling rate or kind name.
    """
    duration_s = _check_duration(duration_s)
    sfreq = _check_sfreq(sfreq)
    rng = check_random_state(random_state)
    if kinds is None:
        kinds = list(rng.choice(NONSPEECH_KINDS, size=int(rng.integers(1, 4)),
                                replace=False))
    elif isinstance(kinds, str):
        kinds = [kinds]
    if not len(kinds):
        raise ValueError(f"'kinds' must name at least one of {list(NONSPEECH_KINDS)}.")
    for kind in kinds:
        check_option("kinds", kind, NONSPEECH_KINDS)
    n = int(round(duration_s * sfreq))
    out = 0.003 * rng.standard_normal(n)
    pos = int(rng.uniform(0, 0.2) * sfreq)
    while pos < n:
        length = min(int(rng.uniform(0.15, 1.5) * sfreq), n - pos)
        if length < int(0.02 * sfreq):
            break
        for _ in range(1 + int(rng.random() < 0.25)):  # sometimes two events at once
            kind = str(kinds[int(rng.integers(len(kinds)))])
            out[pos: pos + length] += rng.uniform(0.3, 1.0) * _event(kind, length,
                                                                      sfreq, rng)
        pos += length + int(rng.uniform(0.0, 0.3) * sfreq)
    out *= rng.uniform(0.5, 0.9) / (np.abs(out).max() + 1e-12)
    return out.astype(np.float32)


def make_nonspeech_corpus(out_dir: str | os.PathLike, duration_s: float, *,
                          sfreq: int = 16000, clip_s: tuple[float, float] = (2.0, 8.0),
                          kinds: Sequence[str] | None = None,
                          random_state=None) -> list[Path]:
    """Write a corpus of procedural non-speech clips (the demo's "sound" regime).

    Parameters
    ----------
    out_dir : path-like
        Output folder; clips are ``sound_<index:05d>.wav`` (16-bit PCM) and
        ``sound_corpus.json`` records the parameters. Earlier ``sound_*.wav`` clips
        are removed first.
    duration_s : float
        Total length in seconds (the last clip is shortened to fit; a leftover
        under 50 ms is dropped).
    sfreq : int, default=16000
        Sampling rate in Hz.
    clip_s : (float, float), default=(2.0, 8.0)
        Range of clip lengths in seconds.
    kinds : sequence of str, optional
        Restrict to these ``NONSPEECH_KINDS``; default: each clip draws its own mix.
    random_state : int | numpy.random.Generator | None
        Seed; the same seed gives byte-identical files.

    Returns
    -------
    paths : list of Path
    """
    duration_s = _check_duration(duration_s)
    sfreq = _check_sfreq(sfreq)
    cmin, cmax = _check_range("clip_s", clip_s)
    rng = check_random_state(random_state)
    out_dir = _prepare_out_dir(out_dir, "sound")
    n_target, total, paths = int(round(duration_s * sfreq)), 0, []
    while total < n_target:
        remaining = (n_target - total) / sfreq
        if remaining < 0.05 and paths:  # not worth a clip
            break
        length = max(min(rng.uniform(cmin, cmax), remaining), 0.05)
        clip = make_nonspeech_sound(length, sfreq=sfreq, kinds=kinds, random_state=rng)
        paths.append(_write_wav(layout.corpus_clip(out_dir, "sound", len(paths)), clip,
                                sfreq))
        total += clip.size
    write_json(layout.corpus_description(out_dir, "sound"), {
        "kind": "nonspeech", "duration_s": total / sfreq, "sfreq": sfreq,
        "clip_s": [cmin, cmax],
        "kinds": list(kinds) if kinds else list(NONSPEECH_KINDS),
        "files": [p.name for p in paths],
    })
    logger.info("Wrote %d non-speech clips (%.1f s) to %s.", len(paths), total / sfreq,
                out_dir)
    return paths
