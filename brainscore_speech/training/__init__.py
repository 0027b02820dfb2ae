"""Training stage: pretrain wav2vec 2.0, HuBERT and WavLM under controlled regimes.

- :mod:`.config`: :class:`TrainConfig`, presets (``tiny``, ``base``, ``large``) and
  regimes (YAML files in ``training/regimes/``: ``random``, ``sound``,
  ``speech-en``, ``speech-fr``, ``speech-zh``, ``speech-nl``).
- :mod:`.model`: ``Wav2Vec2ForPreTraining`` built from a preset (no hub).
- :mod:`.criterion`: contrastive + diversity + feature-penalty loss, ``(loss, logs)``.
- :mod:`.dataset`: fairseq manifests, random crops, length-bucketed batches.
- :mod:`.loop`: ``train(cfg) -> Checkpoint``.
- :mod:`.health`: collapse checks.
- :mod:`.checkpoint`: the HF-format checkpoint directory.
- :mod:`.targets`: HuBERT hidden-unit targets (MFCC / layer features, k-means,
  PNMI, codebook usage).
- :mod:`.hubert`: HuBERT / WavLM masked-prediction model, criterion, utterance
  mixing and health checks (``--objective hubert|wavlm``).
"""

from .checkpoint import Checkpoint, load_train_state, read_metrics, save_checkpoint
from .config import (
    OBJECTIVES,
    PRESETS,
    REGIME_KINDS,
    Regime,
    TrainConfig,
    list_regimes,
    load_regime,
    make_config,
)
from .criterion import perplexity, sample_masks, sample_negatives, wav2vec2_loss
from .dataset import (
    Corpus,
    MicroBatch,
    build_manifest,
    load_corpus,
    read_manifest,
    sample_update,
    write_manifest,
)
from .health import CollapseWarning, HealthMonitor, check_health
from .hubert import (
    MaskedHealthMonitor,
    build_masked_prediction_model,
    check_masked_health,
    interior_mask,
    masked_prediction_loss,
    mix_utterances,
)
from .loop import estimate_loss, get_gumbel_temperature, get_lr, train
from .model import FeatureTap, build_model, make_feature_extractor, make_model_config
from .targets import (
    Targets,
    build_targets,
    codebook_usage,
    compute_mfcc,
    fit_kmeans,
    load_targets,
    pnmi,
)

__all__ = [
    "Checkpoint", "CollapseWarning", "Corpus", "FeatureTap", "HealthMonitor",
    "MicroBatch", "PRESETS", "REGIME_KINDS", "Regime", "TrainConfig", "build_manifest",
    "build_model", "check_health", "estimate_loss", "get_gumbel_temperature", "get_lr",
    "list_regimes", "load_corpus", "load_regime", "load_train_state",
    "make_config", "make_feature_extractor", "make_model_config", "perplexity",
    "read_manifest", "read_metrics", "sample_masks", "sample_negatives",
    "sample_update", "save_checkpoint", "train", "wav2vec2_loss", "write_manifest",
    "MaskedHealthMonitor", "OBJECTIVES", "Targets", "build_masked_prediction_model",
    "build_targets", "check_masked_health", "codebook_usage", "compute_mfcc",
    "fit_kmeans", "interior_mask", "load_targets", "masked_prediction_loss",
    "mix_utterances", "pnmi",
]
