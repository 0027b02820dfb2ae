"""The fixed choices of the command-line options, as ``Literal`` types.

typer turns a ``Literal`` annotation into a choice: the help lists the values and
an invalid one is a usage error (exit 2) before any work starts, reworded by
:func:`choice_error` as the library's own check says it (``Error: 'test' must be
one of ['auto', 'wilcoxon', 'signflip', 'ttest'], got 'wilcox'. Did you mean
'wilcoxon'?``). The values are spelled out here, not imported from the stages, so that
``brainscore-speech --help`` imports no torch; ``tests/foundation/test_cli_choices.py``
checks that each one equals the library's own list.
"""

from __future__ import annotations

from typing import Literal

# score
Repeated = Literal["group", "first"]  # workflows.score.REPEATED_STIMULI
Solver = Literal["fast", "fast-local", "exact"]  # encoding.scoring.SOLVERS
SearchDtype = Literal["auto", "float32", "bfloat16"]  # encoding.scoring.SEARCH_DTYPES
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


def choice_error(err: Exception) -> Exception:
    """Reword typer's invalid-choice error as the library's own check does.

    ``Invalid value for '--test': Value error, 'wilcox' is not one of 'auto', ...``
    becomes the usage error ``'test' must be one of ['auto', 'wilcoxon', 'signflip',
    'ttest'], got 'wilcox'. Did you mean 'wilcoxon'?`` (the message
    :func:`brainscore_speech._validation.check_option` gives library callers), so
    the command line and the library say the same thing. Other errors are
    returned unchanged.
    """
    import ast
    import re

    from .._validation import suggest

    match = re.fullmatch(r"(?:Value error, )?('.*') is not one of ('.*')\.",
                         str(getattr(err, "message", "")), flags=re.S)
    param = getattr(err, "param", None)
    if match is None or param is None or not getattr(param, "name", None):
        return err
    try:
        value = ast.literal_eval(match.group(1))
        choices = list(ast.literal_eval(f"[{match.group(2)}]"))
    except (ValueError, SyntaxError):
        return err
    new = type(err).__mro__[1](  # the click UsageError typer vendors
        f"{param.name!r} must be one of {choices}, got {value!r}."
        + suggest(value, choices), ctx=getattr(err, "ctx", None))
    return new
