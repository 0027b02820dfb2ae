"""The fixed choices of the command-line options, as ``Literal`` types.

typer turns a ``Literal`` annotation into a choice: the help lists the values and
an invalid one is a usage error (exit 2, one line: ``Invalid value for '--test':
'wilcox' is not one of 'auto', 'wilcoxon', 'signflip', 'ttest'.``) before any work
starts. The values are spelled out here, not imported from the stages, so that
``brainscore-speech --help`` imports no torch; ``tests/foundation/test_cli_choices.py``
checks that each one equals the library's own list.
"""

from __future__ import annotations

from typing import Literal

# score
Repeated = Literal["group", "first"]  # workflows.score.REPEATED_STIMULI
Solver = Literal["fast", "fast-local", "exact"]  # encoding.scoring.SOLVERS
# group
GroupTest = Literal["auto", "wilcoxon", "signflip", "ttest"]  # analysis.group
LayerAxis = Literal["name", "depth"]  # analysis.depth.LAYER_AXES
# extract
ExtractMode = Literal["window", "full", "causal"]  # features.extract.MODES
ExtractDtype = Literal["float32", "bfloat16", "float16"]  # features.extract.DTYPES
# train
Preset = Literal["tiny", "base", "large"]  # training.config.PRESETS
Objective = Literal["wav2vec2", "hubert", "wavlm"]  # training.config.OBJECTIVES
# simulate
SimSpace = Literal["fsaverage5"]
SimLanguage = Literal["en", "fr", "cmn", "zh"]
Generator = Literal["realistic", "legacy"]  # data.simulate.GENERATORS
SimMode = Literal["hierarchy", "null", "contrast"]  # data.simulate.MODES
# abx
Distance = Literal["cosine", "angular", "kl", "euclidean"]  # behaviour.dtw.DISTANCES
DtwNorm = Literal["max_len", "path_len", "none"]  # behaviour.dtw.NORMALIZATIONS
AbxContext = Literal["file", "item"]  # behaviour.run.CONTEXTS
Baseline = Literal["mfcc"]
# corpus synth
CorpusKind = Literal["speech", "nonspeech"]
