"""plotting stage: surface maps, layer profiles, figures folder and HTML report.

matplotlib / nilearn / seaborn are imported inside the functions.
"""

from .behaviour import plot_abx_profile, plot_human_agreement, plot_model_vs_humans
from .profiles import plot_best_layer_distribution, plot_layer_profiles
from .report import make_figures, make_report
from .surface import (
    plot_brain_score,
    plot_hierarchy,
    plot_regime_map,
    plot_surface_map,
    to_fsaverage5,
    view_surface_html,
)

__all__ = ["plot_best_layer_distribution", "plot_layer_profiles", "make_figures",
           "make_report", "plot_brain_score", "plot_hierarchy", "plot_regime_map",
           "plot_surface_map", "to_fsaverage5", "view_surface_html",
           "plot_abx_profile", "plot_human_agreement", "plot_model_vs_humans"]
