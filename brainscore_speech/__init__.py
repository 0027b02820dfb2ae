"""brainscore_speech: speech models vs. the brain, from training to cortical maps.

Stages (one subpackage each) exchange the typed containers of
:mod:`brainscore_speech.containers`::

    data      -> audio, BIDS/fMRIPrep BOLD, atlases, simulator, dataset manifest
    training  -> wav2vec 2.0 pretraining under controlled regimes
    features  -> layerwise activations with exact frame times
    align     -> HRF convolution onto the scanner's TR grid
    encoding  -> cross-validated ridge with one alpha per vertex
    analysis  -> group statistics, hierarchy, noise ceiling, ROIs
    plotting  -> surface figures, layer profiles, HTML report
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
