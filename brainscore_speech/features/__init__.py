"""Layerwise activation extraction from wav2vec2 / HuBERT / WavLM checkpoints.

See :mod:`brainscore_speech.features.models` for the layer names and their mapping
to HF ``hidden_states`` and the paper, and :mod:`brainscore_speech.features.frames`
for the frame-time arithmetic.
"""

from .convert import convert_fairseq_checkpoint
from .extract import extract_activations, extract_stimuli, resolve_layers
from .frames import (
    SFREQ,
    LayerGeometry,
    Window,
    conv_geometry,
    layer_geometry,
    n_conv_frames,
    plan_windows,
    pool_factor,
)
from .hub import ModelSource, list_cached_models, load_registry, resolve_model
from .models import (
    SUPPORTED_MODEL_TYPES,
    SpeechModel,
    layer_names,
    load_speech_model,
    make_random_model,
    make_tiny_config,
    save_hf_checkpoint,
    wrap_model,
)

__all__ = [
    "ModelSource",
    "convert_fairseq_checkpoint",
    "list_cached_models",
    "load_registry",
    "resolve_model",
    "SFREQ",
    "SUPPORTED_MODEL_TYPES",
    "LayerGeometry",
    "SpeechModel",
    "Window",
    "conv_geometry",
    "extract_activations",
    "extract_stimuli",
    "layer_geometry",
    "layer_names",
    "load_speech_model",
    "make_random_model",
    "make_tiny_config",
    "n_conv_frames",
    "plan_windows",
    "pool_factor",
    "resolve_layers",
    "save_hf_checkpoint",
    "wrap_model",
]
