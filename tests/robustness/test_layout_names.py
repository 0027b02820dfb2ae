"""Every file a pipeline writes is named by a builder of brainscore_speech.layout.

Walks the outputs of the session's ``world`` (simulate -> score -> group, extract)
plus ``figures`` of its group, and rebuilds each expected name from the layout
module's builders; a file no builder names fails the test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from brainscore_speech import layout as L
from brainscore_speech.spaces import HEMIS

from .conftest import World

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


def _study_names(world: World) -> set[Path]:
    truth = json.loads((world.study / "truth" / "truth.json").read_text())
    task, space = truth["task"], truth["space"]
    bids, truth_dir = world.bids, L.study_part(world.study, "truth")
    deriv = L.fmriprep_dir(bids)
    subjects = [p.name[4:] for p in sorted(bids.glob("sub-*"))]
    names = {L.derivatives_description(bids), L.derivatives_description(deriv),
             L.bids_participants(bids), L.sim_truth_json(truth_dir)}
    names |= {L.sim_stimulus(bids, s) for s in truth["run_stimuli"]}
    names |= {L.activation_file(world.stages, s) for s in truth["run_stimuli"]}
    names.add(L.activation_index(world.stages))
    names |= {L.sim_truth_map(truth_dir, h, d) for h in HEMIS
              for d in ("stage", "driven", "contrast")}
    for sub in subjects:
        func, dfunc = L.bids_func(bids, sub), L.bids_func(deriv, sub)
        names.add(L.sim_truth(truth_dir, sub))
        for r in range(1, len(truth["run_stimuli"]) + 1):
            names |= {L.sim_events(func, sub, task, r),
                      L.sim_raw_sidecar(func, sub, task, r),
                      L.sim_confounds(dfunc, sub, task, r, "tsv"),
                      L.sim_confounds(dfunc, sub, task, r, "json")}
            names |= {f(dfunc, sub, task, r, space, h) for h in HEMIS
                      for f in (L.sim_bold, L.sim_bold_sidecar)}
    return names


def _score_names(world: World) -> set[Path]:
    names = {L.derivatives_description(world.deriv)}
    for prov in world.deriv.glob("sub-*/*_provenance.json"):
        rec = json.loads(prov.read_text())
        sub, p = rec["params"]["subject"], rec["params"]
        ents = (world.deriv, sub, p["task"], p["space"], "stages")
        names |= {L.score_layerscores(*ents),
                  L.container_sidecar(L.score_layerscores(*ents)), L.score_table(*ents),
                  L.score_provenance(*ents), L.score_checksums(*ents)}
        names |= set(L.score_maps(*ents, p["layers"], list(HEMIS)).values())
        for layer, key in rec["inputs"]["layer_keys"].items():
            cache = L.score_layer_cache(*ents, layer, key)
            names |= {cache, L.container_sidecar(cache)}
    return names


def _group_names(world: World) -> set[Path]:
    g, space = world.group, "fsaverage5"
    names = {L.group_file(g, n) for n in (L.GROUP_PROVENANCE, L.GROUP_CHECKSUMS,
                                          L.GROUP_SUMMARY)}
    names |= {L.group_hierarchymap(g, "stages"), L.group_brainscore(g, "stages"),
              L.group_layerprofile(g, "stages")}
    names |= {L.container_sidecar(p) for p in list(names) if p.suffix == ".npz"}
    names |= {L.group_statmap(g, space, f"model-stages_desc-{d}", h) for h in HEMIS
              for d in ("brainscore", "brainscorethresh", "bestlayer", "preference")}
    return names


def _extract_names(world: World) -> set[Path]:
    stims = [p.stem for p in (world.bids / "stimuli").glob("*.wav")]
    return ({L.activation_file(world.acts, s) for s in stims}
            | {L.activation_index(world.acts), L.activation_checksums(world.acts)})


def test_every_written_file_has_a_layout_builder(world: World, tmp_path):
    from tests.conftest import run_cli

    figs = tmp_path / "figs"
    code, _, err = run_cli(["figures", world.group, "--out", figs, "--dpi", "20",
                            "--no-html"])
    assert code == 0, err
    expected = (_study_names(world) | _score_names(world) | _group_names(world)
                | _extract_names(world))
    expected |= {L.figure_file(figs, f"model-stages_desc-{d}")
                 for d in ("brainscore", "bestlayer", "preference", "layerprofile")}
    written = set()
    for root in (world.study, world.deriv, world.group, world.acts, figs):
        written |= _files(root)
    unnamed = sorted(str(p) for p in written - expected)
    assert not unnamed, f"files without a layout builder: {unnamed}"
    missing = sorted(str(p) for p in expected - written)
    assert not missing, f"builders naming files that were not written: {missing}"


def test_group_models_reads_back_the_builders(tmp_path):
    for m in ("a", "b"):
        L.group_hierarchymap(tmp_path, m).touch()
        L.group_brainscore(tmp_path, m).touch()
    L.group_contrast(tmp_path, "a-vs-b").touch()
    assert list(L.group_models(tmp_path, "hierarchy")) == ["a", "b"]
    assert list(L.group_models(tmp_path, "brainscore")) == ["a", "b"]
    assert list(L.group_models(tmp_path, "contrasts")) == ["a-vs-b"]
