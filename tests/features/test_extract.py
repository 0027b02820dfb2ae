"""extract_activations / extract_stimuli: frame arithmetic on real clips, windowing
equivalences, no wrap-around, pooling, streaming files, skipping and errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainscore_speech.containers import StimulusActivations, read_activation_meta
from brainscore_speech.data.audio import load_audio
from brainscore_speech.exceptions import DataError
from brainscore_speech.features import (
    extract_activations,
    extract_stimuli,
    load_speech_model,
    resolve_layers,
    wrap_model,
)

from .conftest import write_wav

# (hop, receptive field) in samples of conv0..conv6 (METHODS.md §4.2 table)
TABLE = [(5, 10), (10, 20), (20, 40), (40, 80), (80, 160), (160, 240), (320, 400)]
REAL_CLIPS = [  # format, sample rate, channels
    "speech/en/fleurs_cuttledoc/fleurs-en-003.ogg",   # ogg/vorbis 16 kHz
    "speech/en/pysptk/arctic_a0007.wav",              # wav 16 kHz
    "speech/en/speech_recognition/english.wav",       # wav 44.1 kHz
    "speech/fr/speech_recognition/french.aiff",       # aiff 44.1 kHz
    "speech/zh/speech_recognition/chinese.flac",      # flac 48 kHz
    "nonspeech/debian_sound-theme-freedesktop/alarm-clock-elapsed.oga",  # 48 kHz stereo
]


def _hf_conv_lengths(model, wave):
    """Frame counts of each conv block straight from HF (independent of our code)."""
    lengths = []
    hooks = [layer.register_forward_hook(lambda m, i, o: lengths.append(o.shape[-1]))
             for layer in model.wav2vec2.feature_extractor.conv_layers]
    with torch.inference_mode():
        model.wav2vec2.feature_extractor(torch.from_numpy(wave)[None])
    for h in hooks:
        h.remove()
    return lengths


@pytest.mark.parametrize("clip", REAL_CLIPS)
def test_frame_counts_and_times_match_conv_arithmetic_on_real_clips(
        clip, shared_data, tiny_model):
    path = shared_data / clip
    if not path.is_file():
        pytest.skip(f"{clip} not in the shared data")
    wave = load_audio(path)
    n = len(wave)
    hf = _hf_conv_lengths(tiny_model, wave)
    native = extract_activations(tiny_model, path, pool_hz=None, window_s=1.0,
                                 stride_s=0.5)
    pooled = extract_activations(tiny_model, path, window_s=1.0, stride_s=0.5)
    assert native.duration_s == pytest.approx(n / 16000, abs=1e-9)
    for i, (hop, rf) in enumerate(TABLE):
        expect = (n - rf) // hop + 1
        assert hf[i] == expect
        assert native.layers[f"conv{i}"].shape == (expect, 32)
        np.testing.assert_allclose(native.frame_times_s[f"conv{i}"],
                                   (np.arange(expect) * hop + rf / 2) / 16000,
                                   rtol=0, atol=1e-12)
        pool = max(1, int(np.ceil(16000 / hop / 100 - 1e-9)))
        assert pooled.layers[f"conv{i}"].shape == (expect // pool, 32)
        np.testing.assert_allclose(
            pooled.frame_times_s[f"conv{i}"],
            native.frame_times_s[f"conv{i}"][:expect // pool * pool]
            .reshape(-1, pool).mean(1), rtol=0, atol=1e-12)
    for name in ("encoder_input", "transf0", "transf1"):
        assert native.layers[name].shape == (hf[-1], 32)
        np.testing.assert_allclose(native.frame_times_s[name],
                                   native.frame_times_s["conv6"], rtol=0, atol=0)
    assert native.provenance["inputs"]["audio"]["sha256"]
    assert pooled.provenance["params"]["geometry"]["conv0"]["pool"] == 32


def test_pooled_frames_are_means_of_native_frames(tiny_model, noise):
    native = extract_activations(tiny_model, noise, mode="full", pool_hz=None)
    pooled = extract_activations(tiny_model, noise, mode="full", pool_hz=100.0)
    for i, pool in enumerate([32, 16, 8, 4, 2, 1, 1]):
        x = native.layers[f"conv{i}"]
        m = len(x) // pool * pool
        np.testing.assert_allclose(pooled.layers[f"conv{i}"],
                                   x[:m].reshape(-1, pool, x.shape[1]).mean(1),
                                   rtol=1e-5, atol=1e-6)


def test_windowed_equals_whole_file_for_context_free_conv_layers(tiny_layer_model,
                                                                 shared_data):
    # LayerNorm feature encoder: conv frames depend only on their receptive field, and
    # every window starts on the frame grid, so each window's estimate of a frame is
    # the whole-file value (float32 round-off from different input lengths only).
    path = shared_data / "speech/en/fleurs_cuttledoc/fleurs-en-003.ogg"
    kw = dict(normalize=False, pool_hz=None)
    full = extract_activations(tiny_layer_model, path, mode="full", **kw)
    win = extract_activations(tiny_layer_model, path, window_s=2.0, stride_s=1.0, **kw)
    for i in range(7):
        np.testing.assert_allclose(win.layers[f"conv{i}"], full.layers[f"conv{i}"],
                                   rtol=1e-5, atol=1e-5)
    # the transformer sees 2 s of context instead of the whole clip: it differs
    assert not np.allclose(win.layers["transf1"], full.layers["transf1"], atol=1e-3)


def test_window_covering_clip_equals_whole_file_for_every_layer(tiny_model,
                                                                shared_data):
    path = shared_data / "speech/en/fleurs_cuttledoc/fleurs-en-003.ogg"  # 5.76 s
    full = extract_activations(tiny_model, path, mode="full")
    win = extract_activations(tiny_model, path, window_s=10.0, stride_s=5.0)
    for name in full.layer_order:
        np.testing.assert_allclose(win.layers[name], full.layers[name], rtol=1e-6,
                                   atol=1e-7)


def test_group_norm_conv_blocks_depend_on_the_window(tiny_model, noise):
    # wav2vec2 BASE normalises conv0 over the window (GroupNorm): as in the paper's
    # windowed fairseq extraction, its conv activations are window-dependent.
    full = extract_activations(tiny_model, noise, mode="full")
    win = extract_activations(tiny_model, noise, window_s=2.0, stride_s=1.0)
    assert not np.allclose(win.layers["conv0"], full.layers["conv0"], atol=1e-4)


def test_no_wrap_around_first_frames_ignore_the_end(tiny_model, noise, rng):
    changed = noise.copy()
    changed[3 * 16000:] = rng.standard_normal(len(noise) - 3 * 16000)
    for mode in ("window", "causal"):
        a = extract_activations(tiny_model, noise, window_s=2.0, stride_s=1.0,
                                mode=mode)
        b = extract_activations(tiny_model, changed, window_s=2.0, stride_s=1.0,
                                mode=mode)
        for name in a.layer_order:
            # frames ending by 2 s only come from windows [0, 2) and [1, 3) s
            early = a.frame_times_s[name] < 1.9
            np.testing.assert_array_equal(a.layers[name][early], b.layers[name][early])
            assert not np.allclose(a.layers[name][-5:], b.layers[name][-5:])


def test_causal_frames_see_no_more_than_one_stride_ahead(tiny_model, noise, rng):
    a = extract_activations(tiny_model, noise, window_s=3.0, stride_s=1.0,
                            mode="causal")
    changed = noise.copy()
    changed[4 * 16000:] = 0.0
    b = extract_activations(tiny_model, changed, window_s=3.0, stride_s=1.0,
                            mode="causal")
    t = a.frame_times_s["transf1"]
    early = t < 3.97  # frames ending by 4 s belong to blocks ending by 4 s
    np.testing.assert_array_equal(a.layers["transf1"][early],
                                  b.layers["transf1"][early])
    full = extract_activations(tiny_model, noise, mode="full", layers=["transf1"])
    assert not np.allclose(a.layers["transf1"], full.layers["transf1"], atol=1e-3)


def test_batched_windows_match_single_windows(tiny_model, noise):
    one = extract_activations(tiny_model, noise, window_s=2.0, stride_s=1.0)
    many = extract_activations(tiny_model, noise, window_s=2.0, stride_s=1.0,
                               batch_size=3)
    for name in one.layer_order:
        np.testing.assert_allclose(many.layers[name], one.layers[name], rtol=1e-4,
                                   atol=1e-5)


def test_layer_subset_normalize_and_bfloat16(tiny_model, noise):
    sub = extract_activations(tiny_model, noise, layers=["transf1", "conv2"])
    assert sub.layer_order == ("conv2", "transf1")
    ref = extract_activations(tiny_model, noise, layers=["transf1"])
    np.testing.assert_allclose(sub.layers["transf1"], ref.layers["transf1"], rtol=1e-6,
                               atol=1e-7)
    # z-scoring the waveform changes a GroupNorm model only through the conv bias
    scaled = extract_activations(tiny_model, 3.0 * noise, layers=["transf1"],
                                 normalize=True)
    base = extract_activations(tiny_model, noise, layers=["transf1"], normalize=True)
    np.testing.assert_allclose(scaled.layers["transf1"], base.layers["transf1"],
                               rtol=1e-4, atol=1e-4)
    assert scaled.provenance["params"]["normalize"] is True
    bf = extract_activations(tiny_model, noise, layers=["transf1"], dtype="bfloat16")
    assert _per_unit_r(bf.layers["transf1"], ref.layers["transf1"]).min() > 0.999


def _per_unit_r(a, b):
    a, b = a - a.mean(0), b - b.mean(0)
    return (a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0))


def test_bfloat16_keeps_positional_conv_in_float32(tiny_model, noise):
    # the positional conv loses precision in oneDNN's AMX bf16 kernels (r 0.955);
    # under bf16 autocast it must see and return float32 inside the patch

    seen = []
    conv = tiny_model.wav2vec2.encoder.pos_conv_embed.conv
    handle = conv.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    try:
        extract_activations(tiny_model, noise[:32000], layers=["encoder_input"],
                            dtype="bfloat16")
    finally:
        handle.remove()
    assert seen and set(seen) == {torch.float32}
    assert "forward" not in vars(tiny_model.wav2vec2.encoder.pos_conv_embed)


_ISA_SCRIPT = """
import json, sys
import numpy as np
from brainscore_speech.features import (extract_activations, make_random_model,
                                        make_tiny_config)
model = make_random_model(make_tiny_config(), seed=0)
x = np.random.default_rng(0).standard_normal(4 * 16000).astype(np.float32)
ref = extract_activations(model, x)
bf = extract_activations(model, x, dtype="bfloat16")
out = {}
for n in ref.layer_order:
    a = ref.layers[n] - ref.layers[n].mean(0)
    b = bf.layers[n] - bf.layers[n].mean(0)
    out[n] = float(((a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0))).min())
print(json.dumps(out))
"""


@pytest.mark.parametrize("isa", [None, "AVX512_CORE_BF16", "AVX2"])
def test_bfloat16_per_unit_r_on_every_isa(isa):
    # oneDNN picks AMX where the CPU has it; ONEDNN_MAX_CPU_ISA caps it. Each ISA
    # runs in a fresh process (oneDNN reads the variable once).
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ)
    env.pop("ONEDNN_MAX_CPU_ISA", None)
    if isa is not None:
        env["ONEDNN_MAX_CPU_ISA"] = isa
    res = subprocess.run([sys.executable, "-c", _ISA_SCRIPT], env=env,
                         capture_output=True, text=True, timeout=300, check=True)
    r = json.loads(res.stdout.strip().splitlines()[-1])
    assert min(r.values()) >= 0.999, r


def test_array_input_is_resampled(tiny_model, noise):
    import soxr

    act = extract_activations(tiny_model, noise[:44100], sfreq=44100, layers=["conv6"])
    n = len(soxr.resample(noise[:44100], 44100, 16000))
    assert act.layers["conv6"].shape[0] == (n - 400) // 320 + 1


def test_extract_stimuli_streams_files_skips_and_indexes(tiny_ckpt, tmp_path, noise):
    stim = tmp_path / "stim"
    stim.mkdir()
    write_wav(stim / "a.wav", noise)
    write_wav(stim / "b.flac", noise[:40000])
    out = tmp_path / "ACT"
    paths = extract_stimuli(tiny_ckpt, stim, out, window_s=2.0, stride_s=1.0)
    assert [p.name for p in paths] == ["a.h5", "b.h5"]
    loaded = StimulusActivations.load(paths[0])
    ref = extract_activations(tiny_ckpt, stim / "a.wav", window_s=2.0, stride_s=1.0)
    assert loaded.layer_order == ref.layer_order and loaded.stimulus == "a"
    for name in ref.layer_order:
        np.testing.assert_allclose(loaded.layers[name], ref.layers[name], rtol=1e-6,
                                   atol=1e-7)
        np.testing.assert_array_equal(loaded.frame_times_s[name],
                                      ref.frame_times_s[name])
    assert loaded.model_meta["regime"] == "speech"
    prov = loaded.provenance
    sha = load_speech_model(tiny_ckpt).weights_hash
    assert prov["inputs"]["model"]["sha256"] == sha
    assert prov["params"]["window_s"] == 2.0
    assert prov["params"]["store_dtype"] == "float32"
    index = (out / "activations.json").read_text()
    assert '"a"' in index and '"b"' in index
    mtime = paths[0].stat().st_mtime_ns
    extract_stimuli(tiny_ckpt, stim, out, window_s=2.0, stride_s=1.0, batch_size=2)
    assert paths[0].stat().st_mtime_ns == mtime  # same provenance: skipped
    extract_stimuli(tiny_ckpt, [stim / "a.wav"], out, window_s=2.0, stride_s=1.0,
                    float16=True)
    assert paths[0].stat().st_mtime_ns != mtime  # storage changed: re-extracted
    import h5py

    with h5py.File(paths[0]) as f:
        assert f["layers/transf1/data"].dtype == np.float16
    assert read_activation_meta(paths[0])["provenance"]["params"]["store_dtype"] == \
        "float16"
    assert not list(out.glob("*.tmp-*"))


def test_audio_errors_name_the_file(tiny_model, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    with pytest.raises(DataError, match="Cannot read audio file .*bad.wav"):
        extract_activations(tiny_model, bad)
    empty = write_wav(tmp_path / "empty.wav", np.zeros(0, np.float32))
    with pytest.raises(DataError, match="empty.wav is empty"):
        extract_activations(tiny_model, empty)
    short = write_wav(tmp_path / "short.wav", np.zeros(300, np.float32))
    with pytest.raises(DataError, match="Stimulus 'short.wav' is too short: 300 "
                                        "samples"):
        extract_stimuli(tiny_model, [short], tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="Audio file not found"):
        extract_activations(tiny_model, tmp_path / "missing.wav")
    with pytest.raises(FileNotFoundError, match="Audio file not found"):
        extract_stimuli(tiny_model, [tmp_path / "missing.wav"], tmp_path / "out")
    with pytest.raises(DataError, match="Stimulus 'stimulus': the waveform is empty"):
        extract_activations(tiny_model, np.zeros(0, np.float32))
    with pytest.raises(ValueError, match="must be a path or a 1-D waveform array"):
        extract_activations(tiny_model, np.zeros((2, 100), np.float32))
    with pytest.raises(ValueError, match="the waveform contains NaN or inf"):
        extract_activations(tiny_model, np.full(1000, np.nan, np.float32))


def test_duplicate_stems_are_refused(tiny_model, tmp_path, noise):
    for sub in ("x", "y"):
        (tmp_path / sub).mkdir()
        write_wav(tmp_path / sub / "same.wav", noise[:8000])
    with pytest.raises(ValueError, match="Two stimuli share the name 'same'"):
        extract_stimuli(tiny_model, tmp_path, tmp_path / "out")


def test_unknown_layer_lists_valid_names(tiny_model, noise):
    with pytest.raises(ValueError, match=r"Unknown layer 'transf9' .*valid layers are "
                       r"\['conv0'.*'transf1'\]"):
        extract_activations(tiny_model, noise, layers=["transf9"])
    with pytest.raises(ValueError, match="'layers' must name at least one layer"):
        resolve_layers(wrap_model(tiny_model), [])


@pytest.mark.parametrize("kwargs, match", [
    ({"mode": "roll"}, "'mode' must be one of"),
    ({"dtype": "float64"}, "'dtype' must be one of"),
    ({"batch_size": 0}, "'batch_size' must be a positive integer, got 0"),
    ({"window_s": -1.0}, "'window_s' must be a positive number of seconds, got -1.0"),
    ({"stride_s": 0.123}, r"'stride_s' must be a multiple of the model's frame hop "
                          r"\(320 samples = 0.02 s .* Use e.g. 0.12 s"),
    ({"window_s": 5.0, "stride_s": 5.0}, "'window_s' .* must exceed 'stride_s'"),
    ({"mode": "causal", "stride_s": 0.02, "window_s": 1.0},
     "'stride_s' must be at least the model's receptive field"),
    ({"device": "cuda:0"}, "CUDA is not available"),
    ({"device": "gpu!"}, "'device' must be a torch device"),
    ({"pool_hz": -5}, "'pool_hz' must be positive or None"),
])
def test_parameter_errors(tiny_model, noise, kwargs, match):
    if kwargs.get("device") == "cuda:0" and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ValueError, match=match):
        extract_activations(tiny_model, noise, **kwargs)


def test_model_type_error(noise):
    with pytest.raises(TypeError, match="'model' must be a checkpoint directory"):
        extract_activations(42, noise)


def test_in_memory_model_is_re_extracted_and_model_id_override(tiny_model, tmp_path,
                                                               noise):
    sm = wrap_model(tiny_model, model_id="orig")
    wav = write_wav(tmp_path / "s.wav", noise[:16000])
    (path,) = extract_stimuli(sm, [wav], tmp_path / "o", layers=["conv6"],
                              model_id="other")
    assert read_activation_meta(path)["model_id"] == "other" and sm.model_id == "orig"
    mtime = path.stat().st_mtime_ns
    extract_stimuli(sm, [wav], tmp_path / "o", layers=["conv6"], model_id="other")
    assert path.stat().st_mtime_ns != mtime  # no weights hash: never skipped
