"""Behaviour: ABX phone discrimination of model layers and the comparison with human
listeners (Perceptimatic; Millet & Dunbar 2020, 2022; METHODS.md §12).

See :mod:`~brainscore_speech.behaviour.dtw` for the two DTW conventions,
:mod:`~brainscore_speech.behaviour.items` for the item / triplet formats,
:mod:`~brainscore_speech.behaviour.abx` for the scores and
:mod:`~brainscore_speech.behaviour.humans` for the human comparison.
"""

from .abx import (
    AbxScore,
    abx_deltas,
    abx_error,
    held_out_best_layer,
    item_features,
    score_abx,
    slice_frames,
)
from .baselines import compute_mfcc, extract_mfcc, mel_filterbank
from .dtw import (
    CONVENTIONS,
    DISTANCES,
    NORMALIZATIONS,
    dtw_batch,
    frame_distances,
    pairwise_dtw,
    resolve_convention,
)
from .humans import (
    HUMAN_COLUMNS,
    abx_accuracy,
    agreement_accuracy,
    attach_deltas,
    bootstrap_samples,
    compare_humans,
    contrast_means,
    native_effect,
    probit_loglik,
    read_humans,
    spearman_contrast,
)
from .items import Items, item_labels, make_triplets, read_items, read_triplets
from .run import DELTA_COLUMNS, load_abx_deltas, run_abx, run_abx_humans
from .synthetic import (
    MINIMAL_PAIRS,
    SYNTH_SPEAKERS,
    VOWEL_FORMANTS,
    make_minimal_pair_abx,
    make_synthetic_abx,
)

__all__ = [
    "CONVENTIONS",
    "DELTA_COLUMNS",
    "HUMAN_COLUMNS",
    "MINIMAL_PAIRS",
    "SYNTH_SPEAKERS",
    "VOWEL_FORMANTS",
    "abx_accuracy",
    "agreement_accuracy",
    "attach_deltas",
    "bootstrap_samples",
    "compare_humans",
    "compute_mfcc",
    "contrast_means",
    "extract_mfcc",
    "held_out_best_layer",
    "load_abx_deltas",
    "make_minimal_pair_abx",
    "make_synthetic_abx",
    "mel_filterbank",
    "native_effect",
    "probit_loglik",
    "read_humans",
    "run_abx",
    "run_abx_humans",
    "spearman_contrast",
    "DISTANCES",
    "NORMALIZATIONS",
    "AbxScore",
    "Items",
    "abx_deltas",
    "abx_error",
    "dtw_batch",
    "frame_distances",
    "item_features",
    "item_labels",
    "make_triplets",
    "pairwise_dtw",
    "read_items",
    "read_triplets",
    "resolve_convention",
    "score_abx",
    "slice_frames",
]
