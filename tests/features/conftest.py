"""Fixtures of the features tests: tiny random wav2vec2 models and checkpoints."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def tiny_model():
    """Tiny random Wav2Vec2ForPreTraining, GroupNorm feature encoder (as BASE)."""
    from brainscore_speech.features import make_random_model, make_tiny_config

    return make_random_model(make_tiny_config(), seed=0)


@pytest.fixture(scope="session")
def tiny_layer_model():
    """Tiny random model with a LayerNorm feature encoder (context-free conv blocks)."""
    from brainscore_speech.features import make_random_model, make_tiny_config

    return make_random_model(make_tiny_config(feat_extract_norm="layer",
                                              do_stable_layer_norm=True), seed=1)


@pytest.fixture(scope="session")
def tiny_ckpt(tiny_model, tmp_path_factory):
    """``tiny_model`` saved in our checkpoint format."""
    from brainscore_speech.features import save_hf_checkpoint

    return save_hf_checkpoint(
        tiny_model, tmp_path_factory.mktemp("ckpt") / "tiny",
        meta={"regime": "speech", "language": "en", "preset": "tiny", "seed": 0,
              "step": 10})


@pytest.fixture
def noise(rng):
    """Six seconds of white noise at 16 kHz, float32."""
    return rng.standard_normal(6 * 16000).astype(np.float32)


def write_wav(path, wave, sfreq=16000):
    import soundfile as sf

    sf.write(str(path), wave, sfreq)
    return path
