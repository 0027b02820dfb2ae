"""Fixtures of the behaviour tests: small item sets with features."""

from __future__ import annotations

import pytest


def make_item_set(rng, *, n_speakers=3, phones=("a", "b", "c"), contexts=2,
                  tokens=2, n_units=6, separation=0.0, lengths=(3, 9)):
    """Random frame sequences with labels; ``separation`` plants a phone effect."""
    import pandas as pd

    from brainscore_speech.behaviour import Items

    rows, feats = [], []
    centres = {p: rng.standard_normal(n_units) for p in phones}
    for s in range(n_speakers):
        shift = rng.standard_normal(n_units) * 0.3
        for p in phones:
            for c in range(contexts):
                for _ in range(tokens):
                    n = int(rng.integers(lengths[0], lengths[1] + 1))
                    f = (rng.standard_normal((n, n_units)) + separation * centres[p]
                         + shift)
                    feats.append(f)
                    rows.append({"file": f"f{len(rows)}", "onset": 0.0,
                                 "offset": n * 0.02, "phone": p,
                                 "prev-phone": f"x{c}", "next-phone": "y",
                                 "speaker": f"s{s}"})
    table = pd.DataFrame(rows)
    table.index = pd.Index([str(k) for k in range(len(rows))], name="item")
    return Items(table=table), feats


@pytest.fixture
def item_set(rng):
    return make_item_set(rng)
