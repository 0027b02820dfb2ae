"""Frame-time arithmetic of wav2vec2-style models and the window plan of an extraction.

Everything here is pure integer arithmetic on sample counts at 16 kHz (no torch),
so that downstream alignment never has to guess a frame time.

Layer geometry
--------------
Conv block ``i`` has kernel ``k_i`` and stride ``s_i``. Its hop and receptive field
in input samples are::

    hop_0 = s_0,                 rf_0 = k_0
    hop_i = hop_{i-1} * s_i,     rf_i = rf_{i-1} + (k_i - 1) * hop_{i-1}

and its frame count on ``n`` input samples is ``floor((n - rf_i) / hop_i) + 1``
(equivalently ``L_i = floor((L_{i-1} - k_i) / s_i) + 1`` block by block). Frame ``g``
covers samples ``[g * hop, g * hop + rf)`` and its time is the centre of that span,
``(g * hop + rf / 2) / 16000`` seconds. ``encoder_input`` and the transformer layers
share the geometry of the last conv block (hop 320, rf 400 for wav2vec2 BASE).

Layers faster than ``pool_hz`` are average-pooled over ``pool`` consecutive frames
(``pool = ceil(rate / pool_hz)``, so the stored rate is at most ``pool_hz``); an
incomplete trailing group is dropped, and the time of a pooled frame is the mean
of its frames' times.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .._validation import check_scalar

__all__ = [
    "SFREQ",
    "LayerGeometry",
    "Window",
    "conv_geometry",
    "n_conv_frames",
    "pool_factor",
    "layer_geometry",
    "plan_windows",
]

SFREQ = 16_000


@dataclass(frozen=True)
class LayerGeometry:
    """Hop, receptive field and pooling of one layer.

    Parameters
    ----------
    name : str
        Layer name (``conv0`` ... ``conv6``, ``encoder_input``, ``transf0`` ...).
    hop : int
        Native hop between frames, in input samples.
    rf : int
        Receptive field of a native frame, in input samples.
    pool : int, default=1
        Number of native frames averaged into one stored frame.
    n_units : int, default=0
        Number of units (channels) of the layer.
    sfreq : int, default=16000
        Input sample rate in Hz.
    """

    name: str
    hop: int
    rf: int
    pool: int = 1
    n_units: int = 0
    sfreq: int = SFREQ

    @property
    def native_rate_hz(self) -> float:
        """Native frame rate in Hz."""
        return self.sfreq / self.hop

    @property
    def rate_hz(self) -> float:
        """Stored (pooled) frame rate in Hz."""
        return self.sfreq / (self.hop * self.pool)

    @property
    def group_span(self) -> int:
        """Samples spanned by one stored (pooled) frame: ``(pool - 1) * hop + rf``."""
        return (self.pool - 1) * self.hop + self.rf

    def n_native(self, n_samples: int) -> int:
        """Native frame count on ``n_samples`` input samples (0 when too short)."""
        if n_samples < self.rf:
            return 0
        return (n_samples - self.rf) // self.hop + 1

    def n_frames(self, n_samples: int) -> int:
        """Stored frame count on ``n_samples`` input samples (after pooling)."""
        return self.n_native(n_samples) // self.pool

    def frame_times_s(self, n_frames: int) -> np.ndarray:
        """Times (s) of the first ``n_frames`` stored frames, shape (n_frames,).

        The centre of the receptive field of each native frame, averaged over the
        ``pool`` native frames of a stored frame.
        """
        j = np.arange(n_frames, dtype=np.float64)
        first = j * self.pool * self.hop
        mean_start = first + (self.pool - 1) / 2.0 * self.hop
        return (mean_start + self.rf / 2.0) / self.sfreq

    def to_dict(self) -> dict:
        """JSON-able description (recorded in the provenance)."""
        return {"hop": self.hop, "rf": self.rf, "pool": self.pool,
                "native_rate_hz": self.native_rate_hz, "rate_hz": self.rate_hz}


def conv_geometry(conv_kernel: Sequence[int], conv_stride: Sequence[int]
                  ) -> list[tuple[int, int]]:
    """Hop and receptive field, in input samples, of every conv block.

    Parameters
    ----------
    conv_kernel, conv_stride : sequence of int, length n_blocks
        Kernel sizes and strides of the feature-encoder blocks.

    Returns
    -------
    geometry : list of (hop, rf) tuples, length n_blocks

    Examples
    --------
    >>> conv_geometry((10, 3, 3, 3, 3, 2, 2), (5, 2, 2, 2, 2, 2, 2))[-1]
    (320, 400)
    """
    if len(conv_kernel) != len(conv_stride) or not conv_kernel:
        raise ValueError(
            "'conv_kernel' and 'conv_stride' must be non-empty and of equal length; "
            f"got {len(conv_kernel)} kernels and {len(conv_stride)} strides."
        )
    out = []
    hop, rf = 1, 1
    for k, s in zip(conv_kernel, conv_stride):
        rf = rf + (int(k) - 1) * hop
        hop = hop * int(s)
        out.append((hop, rf))
    return out


def n_conv_frames(n_samples: int, conv_kernel: Sequence[int],
                  conv_stride: Sequence[int]) -> list[int]:
    """Output length of every conv block, applying ``floor((L - k) / s) + 1``.

    Parameters
    ----------
    n_samples : int
        Input length in samples.
    conv_kernel, conv_stride : sequence of int

    Returns
    -------
    n_frames : list of int, length n_blocks (0 where the input is too short)
    """
    out = []
    length = int(n_samples)
    for k, s in zip(conv_kernel, conv_stride):
        length = (length - int(k)) // int(s) + 1 if length >= int(k) else 0
        out.append(length)
    return out


def pool_factor(hop: int, pool_hz: float | None, sfreq: int = SFREQ) -> int:
    """Integer pooling factor bringing a layer's rate to at most ``pool_hz``.

    Parameters
    ----------
    hop : int
        Native hop in samples.
    pool_hz : float or None
        Highest stored frame rate in Hz; ``None`` keeps the native rate.
    sfreq : int, default=16000

    Returns
    -------
    pool : int
        ``ceil(sfreq / hop / pool_hz)``, at least 1.
    """
    if pool_hz is None:
        return 1
    check_scalar("pool_hz", pool_hz, low=0, inclusive="neither",
                 expected="positive or None")
    rate = sfreq / hop
    return max(1, math.ceil(rate / pool_hz - 1e-9))


def layer_geometry(conv_kernel: Sequence[int], conv_stride: Sequence[int],
                   num_hidden_layers: int, *, conv_dim: Sequence[int] | None = None,
                   hidden_size: int = 0, pool_hz: float | None = 100.0,
                   sfreq: int = SFREQ) -> dict[str, LayerGeometry]:
    """Geometry of every layer in hierarchy order.

    Parameters
    ----------
    conv_kernel, conv_stride : sequence of int
        Feature-encoder kernels and strides.
    num_hidden_layers : int
        Number of transformer blocks ``L``.
    conv_dim : sequence of int, optional
        Channels of each conv block (sets ``n_units``).
    hidden_size : int, default=0
        Width of the transformer states.
    pool_hz : float or None, default=100.0
        Highest stored rate (see :func:`pool_factor`).
    sfreq : int, default=16000

    Returns
    -------
    geometry : dict of str to LayerGeometry
        Keys ``conv0 .. conv{n-1}``, ``encoder_input``, ``transf0 .. transf{L-1}``.
    """
    geo: dict[str, LayerGeometry] = {}
    convs = conv_geometry(conv_kernel, conv_stride)
    dims = list(conv_dim) if conv_dim is not None else [0] * len(convs)
    for i, (hop, rf) in enumerate(convs):
        geo[f"conv{i}"] = LayerGeometry(f"conv{i}", hop, rf,
                                        pool_factor(hop, pool_hz, sfreq), int(dims[i]),
                                        sfreq)
    hop, rf = convs[-1]
    pool = pool_factor(hop, pool_hz, sfreq)
    names = ["encoder_input"] + [f"transf{i}" for i in range(num_hidden_layers)]
    for name in names:
        geo[name] = LayerGeometry(name, hop, rf, pool, int(hidden_size), sfreq)
    return geo


@dataclass(frozen=True)
class Window:
    """One model pass over samples ``[start, stop)``.

    A stored frame whose samples span ``[s, e)`` is taken from this window when
    ``start <= s``, ``e <= stop`` and ``lo < e <= hi``; frames taken from several
    windows are averaged.

    Parameters
    ----------
    start, stop : int
        Samples of the audio fed to the model.
    lo, hi : int
        Sample range whose frame ends this window owns.
    """

    start: int
    stop: int
    lo: int
    hi: int

    @property
    def length(self) -> int:
        """Number of input samples of the window."""
        return self.stop - self.start

    def group_range(self, geo: LayerGeometry) -> tuple[int, int]:
        """Stored-frame indices ``[j0, j1)`` that this window provides for ``geo``."""
        step = geo.pool * geo.hop
        tail = geo.group_span - step  # e_j = j * step + step + tail
        j0 = -(-self.start // step)  # ceil: s_j = j * step >= start
        j0 = max(j0, (self.lo - tail - step) // step + 1)  # e_j > lo
        j1 = (min(self.stop, self.hi) - tail - step) // step + 1  # e_j <= stop, hi
        return j0, max(j0, j1)


def plan_windows(n_samples: int, *, window: int, stride: int, mode: str,
                 align: int) -> list[Window]:
    """Plan the model passes over a stimulus of ``n_samples`` samples.

    Parameters
    ----------
    n_samples : int
        Stimulus length in samples (16 kHz).
    window : int
        Window (context) length in samples.
    stride : int
        Stride between windows in samples; a multiple of ``align``.
    mode : {"window", "full", "causal"}
        ``"window"``: windows ``[k * stride, k * stride + window)`` while they end
        before the stimulus does, then one last window ending at the stimulus end
        (start rounded up to ``align``, so at most ``window`` long); every frame is
        averaged over all windows containing it, and nothing wraps around.
        ``"full"``: one pass over the whole stimulus. ``"causal"``: block ``k``
        (samples ``[k * stride, (k + 1) * stride)``) is computed from a window of
        ``window`` samples ending at the block's end, and keeps the frames that end
        inside the block: a frame sees only the past plus at most ``stride``.
    align : int
        Window starts are multiples of ``align`` (the model's total hop), so every
        layer's frames fall on the whole-file frame grid.

    Returns
    -------
    windows : list of Window, sorted by start
    """
    n = int(n_samples)
    if mode == "full" or (mode == "window" and n <= window):
        return [Window(0, n, -1, n)]
    if mode == "window":
        out = []
        k = 0
        while k * stride + window < n:
            out.append(Window(k * stride, k * stride + window, -1, k * stride + window))
            k += 1
        start = -(-(n - window) // align) * align
        out.append(Window(start, n, -1, n))
        return out
    if mode == "causal":
        out = []
        for k in range(-(-n // stride)):
            end = min((k + 1) * stride, n)
            start = max(0, ((k + 1) * stride - window) // align * align)
            out.append(Window(start, end, k * stride, end))
        return out
    raise ValueError(
        f"'mode' must be one of ['window', 'full', 'causal'], got {mode!r}.")
