"""Generative pieces of the ``realistic`` simulator that the analysis does not assume.

The analysis convolves features with nilearn's Glover (double-gamma) HRF, samples
them at ``(j + slice_time_ref) * TR`` and treats vertices as independent. The
``realistic`` generator of :mod:`brainscore_speech.workflows.simulate` instead uses

- an **inverse-logit HRF** (Lindquist & Wager 2007, Hum. Brain Mapp. 28:764): a
  sum of three logistic functions (rise, fall, undershoot recovery), another
  family than the gamma functions, with a per-vertex lag and width;
- **AR(1) noise** with a per-vertex coefficient (0.3-0.5 at TR 2 s, as measured
  in resting cortex), smoothed **spatially over the mesh adjacency**, plus a few
  shared physiological components with smooth spatial loadings.

The private helpers at the end build a whole study's planted signal from these
(slice timing, HRF jitter fields, the per-vertex drive, the contrast models and the
truth descriptions written to ``truth.json``). Each function is deterministic given
its random generator.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["inverse_logit_hrf", "HRF_DEFAULTS", "mesh_adjacency", "smooth_on_mesh",
           "ar1_noise", "smooth_mesh_noise"]

#: Inverse-logit HRF parameters (seconds): midpoints and widths of the rise
#: (T1, D1), fall (T2, D2) and undershoot recovery (T3, D3), and the undershoot
#: depth ``u`` (relative to the peak plateau). Peak ~5.5 s, undershoot ~12 s,
#: back to baseline by ~25 s.
HRF_DEFAULTS = {"T1": 3.0, "D1": 0.8, "T2": 7.5, "D2": 1.3, "T3": 14.0, "D3": 2.5,
                "u": 0.25}


def _logistic(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def inverse_logit_hrf(t_s: np.ndarray, *, lag_s: float = 0.0, width: float = 1.0,
                      params: dict[str, float] | None = None) -> np.ndarray:
    """Inverse-logit haemodynamic response sampled at ``t_s``.

    ``h(t) = L((t - T1) / D1) - (1 + u) L((t - T2) / D2) + u L((t - T3) / D3)``
    with ``L`` the logistic function, times a causal onset ramp
    ``L((t - 0.75) / 0.25)``; it starts at 0, returns to 0 and is normalised to
    unit sum over ``t_s``.

    Parameters
    ----------
    t_s : array of shape (n_taps,)
        Times in seconds (a regular grid from 0).
    lag_s : float, default=0.0
        Shift of the whole response (seconds).
    width : float, default=1.0
        Time-scale factor of the response (>1: slower, wider).
    params : dict, optional
        Overrides of :data:`HRF_DEFAULTS`.

    Returns
    -------
    h : ndarray of shape (n_taps,), float64, summing to 1
    """
    p = {**HRF_DEFAULTS, **(params or {})}
    t = (np.asarray(t_s, dtype=np.float64) - lag_s) / width
    h = (_logistic((t - p["T1"]) / p["D1"])
         - (1 + p["u"]) * _logistic((t - p["T2"]) / p["D2"])
         + p["u"] * _logistic((t - p["T3"]) / p["D3"]))
    # causal onset: nothing before ~0.5 s whatever the lag (a pure shift of an
    # early response would start before the stimulus)
    h = h * _logistic((np.asarray(t_s, dtype=np.float64) - 0.75) / 0.25)
    return h / h.sum()


def mesh_adjacency(faces: np.ndarray, n_vertices: int):
    """Symmetric vertex adjacency (CSR, ones on edges) of a triangle mesh."""
    from scipy.sparse import coo_matrix

    faces = np.asarray(faces)
    i = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2]])
    j = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0]])
    a = coo_matrix((np.ones(i.size), (i, j)), shape=(n_vertices, n_vertices)).tocsr()
    a = ((a + a.T) > 0).astype(np.float32)
    return a


def smooth_on_mesh(data: np.ndarray, adjacency, n_iter: int) -> np.ndarray:
    """Diffuse ``data`` (n_samples, n_vertices) over the mesh ``n_iter`` times.

    Each iteration replaces a vertex by the mean of itself and its neighbours'
    mean (a random-walk step); ``n_iter`` steps spread a point over about
    ``sqrt(n_iter)`` edge lengths (fsaverage5: ~4 mm per edge).
    """
    deg = np.asarray(adjacency.sum(1)).ravel()
    deg[deg == 0] = 1.0
    x = np.asarray(data, dtype=np.float32).T.copy()  # (n_vertices, n_samples)
    inv = (1.0 / deg).astype(np.float32)[:, None]
    for _ in range(int(n_iter)):
        x = 0.5 * (x + inv * (adjacency @ x))
    return x.T


def ar1_noise(rng: np.random.Generator, n_samples: int, phi: np.ndarray
              ) -> np.ndarray:
    """Stationary AR(1) noise with one coefficient per column, unit variance.

    Parameters
    ----------
    rng : Generator
    n_samples : int
    phi : array of shape (n_columns,)
        Lag-1 autocorrelations, each in (-1, 1).

    Returns
    -------
    noise : ndarray of shape (n_samples, n_columns), float32
    """
    phi = np.asarray(phi, dtype=np.float32)
    e = rng.standard_normal((n_samples, phi.size)).astype(np.float32)
    out = np.empty_like(e)
    out[0] = e[0]
    scale = np.sqrt(1.0 - phi ** 2).astype(np.float32)
    for t in range(1, n_samples):
        out[t] = phi * out[t - 1] + scale * e[t]
    return out


def smooth_mesh_noise(rng: np.random.Generator, n_samples: int,
                      adjacencies: list, *, phi_range: tuple[float, float] = (0.3, 0.5),
                      n_iter: int = 8, n_shared: int = 3, shared_fraction: float = 0.1
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Spatially smooth, temporally AR(1) noise on the hemispheres' meshes.

    White noise is AR(1)-filtered per vertex (``phi`` drawn uniformly in
    ``phi_range``), diffused over each hemisphere's adjacency (``n_iter``
    steps), and mixed with ``n_shared`` shared slow components (AR 0.9) whose
    loadings are themselves smooth on the mesh (``shared_fraction`` of the
    variance). Every vertex has unit variance.

    Returns
    -------
    noise : ndarray of shape (n_samples, n_vertices_total), float32
        Hemispheres concatenated in the order of ``adjacencies``.
    phi : ndarray of shape (n_vertices_total,)
        The AR(1) coefficient drawn for each vertex.
    """
    sizes = [a.shape[0] for a in adjacencies]
    n_total = int(sum(sizes))
    phi = rng.uniform(*phi_range, n_total).astype(np.float32)
    raw = ar1_noise(rng, n_samples, phi)
    parts, start = [], 0
    for adj, size in zip(adjacencies, sizes):
        parts.append(smooth_on_mesh(raw[:, start:start + size], adj, n_iter))
        start += size
    noise = np.concatenate(parts, axis=1)
    noise /= noise.std(0, keepdims=True) + 1e-8
    if n_shared and shared_fraction > 0:
        shared = ar1_noise(rng, n_samples, np.full(n_shared, 0.9))
        load_parts, start = [], 0
        for adj, size in zip(adjacencies, sizes):
            white = rng.standard_normal((n_shared, size)).astype(np.float32)
            load_parts.append(smooth_on_mesh(white, adj, 4 * n_iter))
            start += size
        loads = np.concatenate(load_parts, axis=1)
        comp = shared @ loads
        comp /= comp.std(0, keepdims=True) + 1e-8
        noise = (math.sqrt(1 - shared_fraction) * noise
                 + math.sqrt(shared_fraction) * comp)
    noise /= noise.std(0, keepdims=True) + 1e-8
    return noise.astype(np.float32), phi


# --------------------------------------------------------------------------- #
# The realistic study generator (used by brainscore_speech.workflows.simulate)
# --------------------------------------------------------------------------- #
_GRID_S = 0.1          # neural-drive grid (the HRF is a low-pass filter)
_N_SLICES = 32         # interleaved acquisition
_LAG_SD_S, _LAG_MAX_S = 0.6, 1.5
_WIDTH_SD = 0.12


def _slice_timing(tr_s: float) -> tuple[list[float], float]:
    """Interleaved (even then odd) slice times and fMRIPrep's reference tzero."""
    order = list(range(0, _N_SLICES, 2)) + list(range(1, _N_SLICES, 2))
    times = [0.0] * _N_SLICES
    for k, sl in enumerate(order):
        times[sl] = round(k * tr_s / _N_SLICES, 4)
    first, last = min(times), max(times)
    return times, float(np.round(first + 0.5 * (last - first), 3))


def _mesh_adjacencies() -> dict[str, Any]:
    from nilearn.datasets import load_fsaverage

    mesh = load_fsaverage("fsaverage5")["pial"]
    out = {}
    for hemi, part in (("L", "left"), ("R", "right")):
        faces = np.asarray(mesh.parts[part].faces)
        n = np.asarray(mesh.parts[part].coordinates).shape[0]
        out[hemi] = mesh_adjacency(faces, n)
    return out


def _on_grid(feats: np.ndarray, times: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Features on the drive grid: bin means for fast layers, linear interpolation
    for slow ones; 0 (silence) outside the stimulus."""
    hop = float(np.median(np.diff(times))) if len(times) > 1 else _GRID_S
    out = np.zeros((grid.size, feats.shape[1]), dtype=np.float64)
    if hop < _GRID_S:
        idx = np.floor(times / _GRID_S + 0.5).astype(int)
        ok = (idx >= 0) & (idx < grid.size)
        counts = np.bincount(idx[ok], minlength=grid.size).astype(np.float64)
        for j in range(feats.shape[1]):
            out[:, j] = np.bincount(idx[ok], weights=feats[ok, j], minlength=grid.size)
        out[counts > 0] /= counts[counts > 0, None]
        return out
    for j in range(feats.shape[1]):
        out[:, j] = np.interp(grid, times, feats[:, j], left=0.0, right=0.0)
    return out


def _sample(conv: np.ndarray, scan_t: np.ndarray) -> np.ndarray:
    pos = scan_t / _GRID_S
    i0 = np.clip(np.floor(pos).astype(int), 0, conv.shape[0] - 2)
    f = (pos - i0)[:, None]
    return conv[i0] * (1 - f) + conv[i0 + 1] * f


def _realistic_signal(srng: np.random.Generator, *, layer_feats, layer_names,
                      run_stims, scans, tr_s, tzero, stage, units, lag, width,
                      story_locked, seed) -> np.ndarray:
    """Unit-variance planted signal per driven vertex (zeros elsewhere).

    Vertex v of stage k is driven by ``F_k(t)[:, units[v]] @ w_v`` (features on a
    0.1 s grid, scaled by their study-wide SD, 0 in silence), convolved with its
    own inverse-logit HRF (lag, width) within each run and sampled at the
    slice-timing-corrected scan times ``j * TR + tzero``.
    """
    from scipy.signal import fftconvolve

    n_targets = stage.size
    n_total = int(sum(scans))
    bounds = np.cumsum([0] + list(scans))
    sd = {layer: np.concatenate([f[0][layer] for f in layer_feats.values()]).std(0)
          + 1e-8 for layer in layer_names}
    taps = np.arange(0.0, 32.0, _GRID_S)
    variants = sorted({(float(a), float(b)) for a, b in zip(lag[stage >= 0],
                                                         width[stage >= 0])})
    kernels = {v: inverse_logit_hrf(taps, lag_s=v[0], width=v[1]) for v in variants}
    feat_part = np.zeros((n_total, n_targets), dtype=np.float32)
    story_part = np.zeros((n_total, n_targets), dtype=np.float32)
    stories = sorted(set(run_stims))
    for li, layer in enumerate(layer_names):
        idx = np.flatnonzero(stage == li)
        if idx.size == 0:
            continue
        n_units = layer_feats[run_stims[0]][0][layer].shape[1]
        w = srng.standard_normal((n_units, idx.size)).astype(np.float32)
        w *= units[:n_units, idx]
        u = srng.standard_normal((8, idx.size)).astype(np.float32)
        for r, stim in enumerate(run_stims):
            n = scans[r]
            grid = np.arange(0.0, n * tr_s + _GRID_S, _GRID_S)
            feats, times = layer_feats[stim][0][layer], layer_feats[stim][1][layer]
            drive = _on_grid(feats / sd[layer], times, grid) @ w
            blocks = [drive]
            if story_locked:
                lrng = np.random.default_rng([seed, 1000 + stories.index(stim)])
                latent = lrng.standard_normal((grid.size, 8))
                k = int(round(1.0 / _GRID_S))
                latent = np.cumsum(np.pad(latent, ((k, 0), (0, 0))), 0)
                latent = (latent[k:] - latent[:-k]) / k  # 1 s moving average
                blocks.append(latent @ u)
            scan_t = np.arange(n) * tr_s + tzero
            for b, dest in zip(blocks, (feat_part, story_part)):
                sampled = np.zeros((n, idx.size), dtype=np.float32)
                for v in variants:
                    cols = np.flatnonzero((lag[idx] == v[0]) & (width[idx] == v[1]))
                    if cols.size == 0:
                        continue
                    conv = fftconvolve(b[:, cols], kernels[v][:, None], axes=0)
                    sampled[:, cols] = _sample(conv[: grid.size], scan_t)
                dest[bounds[r]:bounds[r + 1], idx] = sampled
    out = np.zeros((n_total, n_targets), dtype=np.float32)
    driven = stage >= 0
    for part, frac in ((feat_part, 1.0 - story_locked), (story_part, story_locked)):
        if frac <= 0:
            continue
        x = part[:, driven]
        x = (x - x.mean(0)) / (x.std(0) + 1e-8)
        out[:, driven] += np.float32(math.sqrt(frac)) * x
    out[:, driven] /= out[:, driven].std(0) + 1e-8
    return out


def _hrf_jitter(seed: int, adjacencies: dict[str, Any]
                ) -> tuple[np.ndarray, np.ndarray]:
    """Spatially smooth per-vertex HRF lag (s, 0.25 s steps) and width (3 levels)."""
    rng = np.random.default_rng([seed, 77])
    fields = []
    for hemi in ("L", "R"):
        adj = adjacencies[hemi]
        f = smooth_on_mesh(rng.standard_normal((2, adj.shape[0])), adj, 30)
        fields.append((f - f.mean(1, keepdims=True)) / (f.std(1, keepdims=True) + 1e-8))
    z = np.concatenate(fields, axis=1)
    lag = np.clip(np.round(_LAG_SD_S * z[0] / 0.25) * 0.25, -_LAG_MAX_S, _LAG_MAX_S)
    width = np.exp(_WIDTH_SD * z[1])
    width = np.choose(np.digitize(width, [0.94, 1.06]), [0.88, 1.0, 1.13])
    return lag.astype(np.float64), width.astype(np.float64)


def _roll_units(layer_feats: dict, layer_names: list[str], n_keep: int,
                fraction: float) -> dict:
    """Each stage's units from ``n_keep`` on circularly shifted by ``fraction``
    of the story: same statistics, unrelated in time to the unshifted units.

    Contrast mode: ``stages`` = shift 1/4 (its private units P), ``partial`` =
    shift 1/2 (unrelated to both the shared units S and P)."""
    out = {}
    for name, (feats, times) in layer_feats.items():
        new = {}
        for layer in layer_names:
            x = np.array(feats[layer], copy=True)
            x[:, n_keep:] = np.roll(x[:, n_keep:], int(x.shape[0] * fraction),
                                    axis=0)
            new[layer] = x
        out[name] = (new, dict(times))
    return out


def _describe_generator(generator: str) -> dict[str, Any]:
    if generator == "legacy":
        return {"hrf": "Glover (nilearn glover_hrf, the analysis' own kernel)",
                "feature_scaling": "min-max per run (as the analysis)",
                "sampling": "scan j at j * TR (StartTime 0)",
                "noise": "AR(1) independent per vertex"}
    return {"hrf": {"family": "inverse logit (Lindquist & Wager 2007)",
                    "params_s": HRF_DEFAULTS, "lag_sd_s": _LAG_SD_S,
                    "lag_max_s": _LAG_MAX_S, "width_sd_log": _WIDTH_SD,
                    "jitter": "smooth on the mesh; per-vertex values in the truth npz "
                              "(hrf_lag_s, hrf_width)"},
            "feature_scaling": "each unit divided by its SD over the whole study "
                               "(0 in silence; not per-run min-max)",
            "sampling": f"{_N_SLICES} interleaved slices, corrected to the middle of "
                        "the acquisition (StartTime in the fMRIPrep sidecars)",
            "runs": "each run convolved on its own; the tail decays in the final "
                    "silence (padding_end_s)",
            "noise": "AR(1), phi ~ U(0.3, 0.5) per vertex (truth npz 'noise_ar'), "
                     "diffused over the fsaverage5 mesh (8 steps) + 3 shared slow "
                     "components with smooth loadings (10 % of the variance)"}


def _describe_truth_maps(mode: str, model_id: str, has_contrast: bool
                         ) -> dict[str, str]:
    """What each map of a ``group`` report should show on this study."""
    if mode == "null":
        return {m: "nothing: no vertex is driven (global null)" for m in
                ("brain_score", "hierarchy", "regime_contrast", "best_regime",
                 "cluster", "noise_ceiling")}
    out = {"brain_score": f"{model_id}: r > 0 exactly where 'driven' (truth npz), "
                          "0 elsewhere",
           "hierarchy": "best layer = 'stage' on driven vertices, none elsewhere",
           "noise_ceiling": "> 0 on driven vertices only"}
    if has_contrast:
        out.update({
            "regime_contrast": "stages - partial > 0 exactly on 'contrast'; 0 "
                               "elsewhere (the models are equal there)",
            "best_regime": "'stages' on 'contrast'; no preference elsewhere",
            "cluster": "one left-hemisphere cluster (the 'contrast' annulus) for "
                       "stages > partial; none for partial > stages"})
    else:
        out.update({"regime_contrast": "not planted: differences between other "
                                       "models only reflect how well their features "
                                       "approximate the stage features driving the "
                                       "BOLD (none outside 'driven')",
                    "cluster": "brain-score clusters only within 'driven'"})
    return out
