"""Generative pieces of the ``realistic`` simulator that the analysis does not assume.

The analysis convolves features with nilearn's Glover (double-gamma) HRF, samples
them at ``(j + slice_time_ref) * TR`` and treats vertices as independent. The
``realistic`` generator of :mod:`brainscore_speech.data.simulate` instead uses

- an **inverse-logit HRF** (Lindquist & Wager 2007, Hum. Brain Mapp. 28:764): a
  sum of three logistic functions (rise, fall, undershoot recovery), another
  family than the gamma functions, with a per-vertex lag and width;
- **AR(1) noise** with a per-vertex coefficient (0.3-0.5 at TR 2 s, as measured
  in resting cortex), smoothed **spatially over the mesh adjacency**, plus a few
  shared physiological components with smooth spatial loadings.

Each function is pure and deterministic given its random generator.
"""

from __future__ import annotations

import math

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
