"""The ``extract`` command."""

from __future__ import annotations

from brainscore_speech.containers import list_activation_layers, read_activation_layer

from ..conftest import run_cli
from .conftest import write_wav


def test_cli_extract_writes_one_file_per_stimulus(tiny_ckpt, tmp_path, noise):
    stim = tmp_path / "stim"
    stim.mkdir()
    write_wav(stim / "s1.wav", noise[:32000])
    write_wav(stim / "s2.wav", noise[:24000])
    out = tmp_path / "ACT"
    code, stdout, stderr = run_cli(["extract", "--model", tiny_ckpt, "--stimuli", stim,
                                    "--out", out, "--window-s", "1", "--stride-s",
                                    "0.5",
                                    "--layers", "conv4", "--layers", "transf1",
                                    "--float16", "--model-id", "tinyw2v"])
    assert code == 0, stderr
    assert "Wrote 2 activation file(s)" in stdout
    assert list_activation_layers(out / "s1.h5") == ["conv4", "transf1"]
    data, times = read_activation_layer(out / "s2.h5", "transf1")
    assert data.shape == ((24000 - 400) // 320 + 1, 32) and times[0] == 0.0125
    assert '"tinyw2v"' in (out / "activations.json").read_text()


def test_cli_extract_errors(tiny_ckpt, tmp_path, noise):
    stim = write_wav(tmp_path / "s.wav", noise[:16000])
    code, _, err = run_cli(["extract", "--model", tmp_path / "none", "--stimuli", stim,
                            "--out", tmp_path / "o"])
    assert code == 1 and "Error: Checkpoint directory not found" in err
    code, _, err = run_cli(["extract", "--model", tiny_ckpt, "--stimuli", stim,
                            "--out", tmp_path / "o", "--layers", "transf7"])
    assert code == 1 and "Unknown layer 'transf7'" in err and "valid layers" in err
    code, _, err = run_cli(["extract", "--model", tiny_ckpt, "--stimuli", stim,
                            "--out", tmp_path / "o", "--mode", "rolling"])
    assert code == 2 and "'mode' must be one of" in err
    code, _, err = run_cli(["extract", "--model", tiny_ckpt])
    assert code == 2
