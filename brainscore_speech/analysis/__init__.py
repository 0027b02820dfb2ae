"""Group analysis: statistics, hierarchy and regime maps, noise ceiling, ROIs.

Public API (see each function's docstring):

- :func:`make_synthetic_layer_scores`, :func:`make_synthetic_mesh` (planted truth)
- :func:`stack_layer_scores` (checks space, mesh, model and layers across subjects)
- :func:`group_test`, :func:`cluster_test`, :func:`signflip_pvalues`,
  :func:`fdr_by_hemi`, :func:`mesh_adjacency`
- :func:`compute_hierarchy`, :func:`preference_index`, :func:`best_layer_by_roi`,
  :func:`roi_order_correlation`
- :func:`compare_models`, :func:`regime_contrasts`, :func:`best_regime_map`
- :func:`compute_noise_ceiling`, :func:`normalize_scores`
- :func:`load_surface_atlas`, :func:`speech_rois`, :func:`roi_layer_profiles`,
  :func:`summarize_profiles`
- :func:`run_group`, :func:`load_group_outputs`, :func:`load_mesh_adjacency`
- :func:`brain_score_map`, :func:`reduce_layer_scores`, :func:`cv_selected_scores`,
  :func:`default_layers`
  (one score per subject without selection bias; the paper's layer set)
- :func:`simulate_layer_scores`, :func:`simulate_encoding_data`,
  :func:`make_icosphere` (validity-check generator
  with structure the analysis does not assume)
"""

from .ceiling import compute_noise_ceiling, normalize_scores
from .collect import SubjectStack, stack_layer_scores
from .group import (
    discover_layer_scores,
    fsaverage_adjacency,
    load_group_outputs,
    load_mesh_adjacency,
    run_group,
    write_surface_map,
)
from .hierarchy import (
    best_layer_by_roi,
    compute_hierarchy,
    preference_index,
    roi_order_correlation,
)
from .nullsim import make_icosphere, simulate_encoding_data, simulate_layer_scores
from .regimes import (
    REGIME_LABELS,
    best_regime_map,
    compare_models,
    regime_contrasts,
    regime_of,
    summarize_model,
)
from .roi import (
    SPEECH_ROI_MAPPINGS,
    SurfaceAtlas,
    check_atlas_matches,
    fetch_destrieux_atlas,
    load_surface_atlas,
    roi_layer_profiles,
    speech_rois,
    summarize_profiles,
)
from .selection import (
    brain_score_map,
    cv_selected_scores,
    default_layers,
    reduce_layer_scores,
)
from .stats import (
    cluster_test,
    fdr_by_hemi,
    group_test,
    hemi_slices,
    mesh_adjacency,
    signflip_pvalues,
)
from .synthetic import (
    FSAVERAGE5_N_VERTICES,
    SPEECH_ROI_ORDER,
    make_synthetic_layer_scores,
    make_synthetic_mesh,
)

__all__ = [
    "compute_noise_ceiling", "normalize_scores", "SubjectStack", "stack_layer_scores",
    "discover_layer_scores", "fsaverage_adjacency", "load_group_outputs", "run_group",
    "write_surface_map", "best_layer_by_roi", "compute_hierarchy", "preference_index",
    "roi_order_correlation", "REGIME_LABELS", "best_regime_map", "compare_models",
    "regime_contrasts", "regime_of", "summarize_model", "SPEECH_ROI_MAPPINGS",
    "SurfaceAtlas", "check_atlas_matches", "fetch_destrieux_atlas",
    "load_surface_atlas", "roi_layer_profiles", "speech_rois", "summarize_profiles",
    "cluster_test", "fdr_by_hemi", "group_test", "hemi_slices", "mesh_adjacency",
    "signflip_pvalues", "FSAVERAGE5_N_VERTICES", "SPEECH_ROI_ORDER",
    "make_synthetic_layer_scores", "make_synthetic_mesh",
    "load_mesh_adjacency", "make_icosphere", "simulate_layer_scores",
    "simulate_encoding_data",
    "cv_selected_scores", "default_layers", "reduce_layer_scores", "brain_score_map",
]

# one layer axis across models of different depth (relative depth; see depth.py)
from .depth import compute_depth_hierarchy, layer_depths, stack_by_depth  # noqa: E402

__all__ += ["compute_depth_hierarchy", "layer_depths", "stack_by_depth"]
