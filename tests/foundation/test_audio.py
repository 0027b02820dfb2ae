import numpy as np
import pytest
import soundfile as sf

from brainscore_speech.data.audio import audio_info, find_audio, load_audio
from brainscore_speech.exceptions import DataError


def test_load_audio_resamples_and_downmixes(tmp_path):
    sr = 44100
    t = np.arange(sr) / sr
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    sf.write(tmp_path / "s.wav", np.stack([left, left], 1), sr)
    x = load_audio(tmp_path / "s.wav")
    assert x.dtype == np.float32 and x.shape == (16000,)
    # a 440 Hz tone survives resampling: its spectrum peaks at 440 Hz
    spec = np.abs(np.fft.rfft(x))
    assert abs(np.argmax(spec) * 16000 / x.size - 440) < 2
    assert audio_info(tmp_path / "s.wav") == (sr, sr, 2)


def test_audio_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="Audio file not found"):
        load_audio(tmp_path / "none.wav")
    with pytest.raises(FileNotFoundError, match="Audio file not found"):
        audio_info(tmp_path / "none.wav")
    (tmp_path / "bad.wav").write_bytes(b"RIFFjunk")
    with pytest.raises(DataError, match="Cannot read audio file .*bad.wav"):
        load_audio(tmp_path / "bad.wav")
    with pytest.raises(DataError, match="Cannot read audio file .*bad.wav"):
        audio_info(tmp_path / "bad.wav")
    sf.write(tmp_path / "empty.wav", np.zeros((0,)), 16000)
    with pytest.raises(DataError, match="is empty"):
        load_audio(tmp_path / "empty.wav")


def test_find_audio(tmp_path):
    (tmp_path / "d").mkdir()
    for name in ("b.wav", "a.flac"):
        sf.write(tmp_path / "d" / name, np.zeros(160), 16000)
    (tmp_path / "d" / "notes.txt").write_text("x")
    assert [p.name for p in find_audio(tmp_path / "d")] == ["a.flac", "b.wav"]
    lst = tmp_path / "list.txt"
    lst.write_text("# stimuli\nd/b.wav\n\n")
    assert find_audio(lst) == [tmp_path / "d" / "b.wav"]
    assert find_audio(tmp_path / "d" / "b.wav") == [tmp_path / "d" / "b.wav"]
    assert find_audio(["x.wav"])[0].name == "x.wav"
    (tmp_path / "e").mkdir()
    with pytest.raises(FileNotFoundError, match="No audio files"):
        find_audio(tmp_path / "e")
    with pytest.raises(FileNotFoundError, match="Stimuli not found"):
        find_audio(tmp_path / "zzz")
