"""Layerwise activations of a speech model to audio stimuli, with exact frame times.

The stimulus is cut into windows (see
:func:`~brainscore_speech.features.frames.plan_windows`); windows of equal length
are batched through the model under ``torch.inference_mode``
(SDPA attention where supported), conv blocks are read with forward hooks and the
transformer states with ``output_hidden_states``. Each layer's frames are pooled to
at most ``pool_hz`` inside the window, averaged over the windows that contain them
and handed to a sink as soon as no later window can touch them, so memory does not
grow with stimulus length when writing to disk (:func:`extract_stimuli`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from .. import layout
from .._io import (
    array_hash,
    atomic_path,
    check_output_dir,
    file_hash,
    make_provenance,
    params_hash,
    remove_stale_temps,
    to_jsonable,
    write_json,
)
from .._logging import logger, progress, verbose
from .._validation import check_option, suggest
from ..containers import StimulusActivations, read_activation_meta
from ..data.audio import find_audio, load_audio
from ..exceptions import DataError, UsageError
from ..integrity import record_outputs
from ._fastconv import fast_feature_encoder, supports_fast_encoder
from .frames import SFREQ, LayerGeometry, Window, plan_windows
from .models import SpeechModel, load_speech_model, wrap_model

__all__ = ["extract_activations", "extract_stimuli", "resolve_layers"]

MODES = ("window", "full", "causal")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16,
          "float16": torch.float16}
# parameters that do not change the stored values (beyond float rounding)
_NON_RESULT_PARAMS = ("batch_size", "device")


# --------------------------------------------------------------------------- #
# inputs
# --------------------------------------------------------------------------- #
def _as_speech_model(model, *, device: str, model_id: str | None) -> SpeechModel:
    if isinstance(model, SpeechModel):
        model.model.to(device)
        return dataclasses.replace(model, model_id=model_id) if model_id else model
    if isinstance(model, (str, os.PathLike)):
        return load_speech_model(model, device=device, model_id=model_id)
    if isinstance(model, torch.nn.Module):
        sm = wrap_model(model, model_id=model_id or "model")
        sm.model.to(device)
        return sm
    raise TypeError(
        "'model' must be a checkpoint directory, a SpeechModel or a HF model, got "
        f"{type(model).__name__}."
    )


def resolve_layers(model: SpeechModel, layers: Sequence[str] | str | None) -> list[str]:
    """Validate layer names against ``model`` and return them in hierarchy order.

    Parameters
    ----------
    model : SpeechModel
    layers : sequence of str, str or None
        ``None`` means every layer.

    Returns
    -------
    layers : list of str

    Raises
    ------
    ValueError
        For an unknown name (the message lists the valid names).
    """
    valid = model.layer_names
    if layers is None:
        return list(valid)
    if isinstance(layers, str):
        layers = [layers]
    layers = list(layers)
    if not layers:
        raise ValueError(
            f"'layers' must name at least one layer; valid layers are {valid}.")
    for name in layers:
        if name not in valid:
            raise ValueError(
                f"Unknown layer {name!r} for model {model.model_id!r}; valid layers "
                f"are {valid}." + suggest(name, valid)
            )
    wanted = set(layers)
    return [name for name in valid if name in wanted]


def _check_device(device: str) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise UsageError(f"'device' must be a torch device such as 'cpu' or 'cuda:0', "
                         f"got {device!r}.") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"'device' is {device!r} but CUDA is not available; use 'cpu'.")
    return dev


def _load_waveform(audio, *, sfreq: int, name: str
                   ) -> tuple[np.ndarray, dict[str, Any]]:
    if isinstance(audio, (str, os.PathLike)):
        path = Path(audio)
        wave = load_audio(path)  # FileNotFoundError / DataError name the file
        return wave, {"path": str(path), "sha256": file_hash(path)}
    arr = np.asarray(audio)
    if arr.ndim != 1 or arr.dtype.kind not in "fiu":
        raise ValueError(
            f"'audio' must be a path or a 1-D waveform array, got an array of shape "
            f"{arr.shape} and dtype {arr.dtype}."
        )
    if arr.size == 0:
        raise DataError(f"Stimulus {name!r}: the waveform is empty (0 samples).")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"Stimulus {name!r}: the waveform contains NaN or inf.")
    arr = arr.astype(np.float32)
    if sfreq != SFREQ:
        import soxr

        arr = soxr.resample(arr, sfreq, SFREQ, quality="HQ").astype(np.float32)
    return np.ascontiguousarray(arr), {"array_sha256": array_hash(arr)}


def _resolve_params(sm: SpeechModel, *, layers, window_s, stride_s, mode, pool_hz,
                    normalize, batch_size, device, dtype) -> dict[str, Any]:
    check_option("mode", mode, MODES)
    check_option("dtype", dtype, list(DTYPES))
    if not (isinstance(batch_size, (int, np.integer)) and batch_size >= 1):
        raise UsageError(
            f"'batch_size' must be a positive integer, got {batch_size!r}.")
    names = resolve_layers(sm, layers)
    geo_all = sm.geometry(pool_hz)
    geo = {n: geo_all[n] for n in names}
    align, rf_total = geo_all["encoder_input"].hop, geo_all["encoder_input"].rf
    params: dict[str, Any] = {"mode": mode, "pool_hz": pool_hz, "layers": names,
                              "normalize": bool(sm.do_normalize if normalize is None
                                                else normalize),
                              "dtype": dtype, "attn_implementation":
                              sm.attn_implementation, "batch_size": int(batch_size),
                              "device": str(device)}
    if mode != "full":
        for key, val in (("window_s", window_s), ("stride_s", stride_s)):
            if not (isinstance(val, (int, float)) and val > 0):
                raise UsageError(f"{key!r} must be a positive number of seconds, got "
                                 f"{val!r}.")
        window = int(round(window_s * SFREQ))
        stride = int(round(stride_s * SFREQ))
        if stride % align:
            good = max(1, round(stride / align)) * align / SFREQ
            raise UsageError(
                f"'stride_s' must be a multiple of the model's frame hop ({align} "
                f"samples = {align / SFREQ} s at 16 kHz) so that windows share the "
                f"frame grid; got {stride_s} s. Use e.g. {good:g} s."
            )
        span = max(g.group_span for g in geo_all.values())
        if window < stride + span:
            raise UsageError(
                f"'window_s' ({window_s} s) must exceed 'stride_s' ({stride_s} s) by "
                f"at least the largest receptive field ({span / SFREQ} s) so that "
                "every frame lies inside some window."
            )
        if mode == "causal" and stride < rf_total:
            raise UsageError(
                f"'stride_s' must be at least the model's receptive field "
                f"({rf_total / SFREQ} s) in causal mode, got {stride_s} s."
            )
        params.update(window_s=float(window_s), stride_s=float(stride_s),
                      window_samples=window, stride_samples=stride)
    params["geometry"] = {n: g.to_dict() for n, g in geo.items()}
    params["_geo"] = geo
    # one layer axis across models: stage, relative depth and frame rate per layer
    all_info = sm.layer_info(pool_hz)
    params["_layer_info"] = {n: all_info[n] for n in names}
    params["_align"], params["_rf_total"] = align, rf_total
    return params


# --------------------------------------------------------------------------- #
# sinks and accumulators
# --------------------------------------------------------------------------- #
class _MemorySink:
    def __init__(self, shapes: dict[str, tuple[int, int]]):
        self.data = {n: np.zeros(s, dtype=np.float32) for n, s in shapes.items()}

    def write(self, name: str, row: int, values: np.ndarray) -> None:
        self.data[name][row:row + len(values)] = values


class _H5Sink:
    """Streams rows into the layout of :meth:`StimulusActivations.save`."""

    def __init__(self, h5file, shapes: dict[str, tuple[int, int]],
                 times: dict[str, np.ndarray], dtype: str):
        grp = h5file.create_group("layers")
        self.data = {name: layout.add_activation_layer(grp, name, times[name],
                                                       shape=shape, dtype=dtype)
                     for name, shape in shapes.items()}

    def write(self, name: str, row: int, values: np.ndarray) -> None:
        self.data[name][row:row + len(values)] = values


class _Accumulator:
    """Rolling sum/count of one layer's stored frames; flushes final rows to a sink."""

    def __init__(self, name: str, n_units: int, sink):
        self.name, self.sink = name, sink
        self.base = 0
        self.sum = np.zeros((0, n_units), dtype=np.float32)
        self.cnt = np.zeros(0, dtype=np.int32)

    def add(self, j0: int, rows: np.ndarray) -> None:
        if len(rows) == 0:
            return
        assert j0 >= self.base, (self.name, j0, self.base)
        end = j0 + len(rows) - self.base
        if end > len(self.cnt):
            extra = end - len(self.cnt)
            self.sum = np.concatenate(
                [self.sum, np.zeros((extra, self.sum.shape[1]), np.float32)])
            self.cnt = np.concatenate([self.cnt, np.zeros(extra, np.int32)])
        self.sum[j0 - self.base:end] += rows
        self.cnt[j0 - self.base:end] += 1

    def flush(self, upto: int) -> None:
        k = upto - self.base
        if k <= 0:
            return
        assert len(self.cnt) >= k and np.all(self.cnt[:k] > 0), (self.name, upto)
        self.sink.write(self.name, self.base, self.sum[:k] / self.cnt[:k, None])
        self.sum, self.cnt = self.sum[k:].copy(), self.cnt[k:].copy()
        self.base = upto


def _pool_window(x: torch.Tensor, time_axis: int, geo: LayerGeometry, window: Window
                 ) -> tuple[int, np.ndarray]:
    """Pool one window's native frames (time on ``time_axis``) onto the stored grid."""
    j0, j1 = window.group_range(geo)
    n = j1 - j0
    first = j0 * geo.pool - window.start // geo.hop
    seg = x.narrow(time_axis, first, n * geo.pool)
    if time_axis == 0:  # (T, C)
        if geo.pool > 1:
            seg = seg.reshape(n, geo.pool, seg.shape[1]).mean(1)
    else:  # (C, T)
        if geo.pool > 1:
            seg = seg.reshape(seg.shape[0], n, geo.pool).mean(2)
        seg = seg.transpose(0, 1)
    return j0, seg.float().cpu().numpy()


def _run_windows(sm: SpeechModel, wave: np.ndarray, windows: list[Window],
                 geo: dict[str, LayerGeometry], sink, *, normalize: bool,
                 batch_size: int, device: torch.device, dtype: str) -> None:
    model = sm.model
    names = list(geo)
    conv_names = [n for n in names if n.startswith("conv")]
    need_transformer = any(not n.startswith("conv") for n in names)
    accs = {n: _Accumulator(n, geo[n].n_units, sink) for n in names}
    # rows below the smallest first row of the remaining windows are final
    firsts = {n: [w.group_range(geo[n])[0] for w in windows] for n in names}
    suffix_min = {n: np.minimum.accumulate(np.asarray(v)[::-1])[::-1].tolist() + [None]
                  for n, v in firsts.items()}
    n_total = {n: geo[n].n_frames(len(wave)) for n in names}

    current: list[Window] = []
    captured: dict[str, list] = {}

    def capture(name, output, time_axis):
        captured[name] = [_pool_window(output[b], time_axis, geo[name], w)
                          for b, w in enumerate(current)]

    autocast = (torch.autocast(device_type=device.type, dtype=DTYPES[dtype])
                if dtype != "float32" else contextlib.nullcontext())
    with contextlib.ExitStack() as stack:
        if dtype != "float32":
            stack.enter_context(float32_positional_conv(model))
        if device.type == "cpu" and supports_fast_encoder(model):
            # conv blocks as strided matrix products in (B, T, C) layout (_fastconv)
            conv_ids = {int(n[4:]): n for n in conv_names}

            def on_block(i, h):
                if i in conv_ids:
                    capture(conv_ids[i], h, 0)

            stack.enter_context(fast_feature_encoder(model, on_block))
        else:
            for n in conv_names:
                layer = model.feature_extractor.conv_layers[int(n[4:])]
                stack.callback(layer.register_forward_hook(
                    lambda _m, _i, out, n=n: capture(n, out, 1)).remove)
        i = 0
        while i < len(windows):
            batch = [windows[i]]
            while (len(batch) < batch_size and i + len(batch) < len(windows)
                   and windows[i + len(batch)].length == batch[0].length):
                batch.append(windows[i + len(batch)])
            current[:] = batch
            captured.clear()
            x = torch.from_numpy(np.stack([wave[w.start:w.stop] for w in batch]))
            x = x.to(device)
            with torch.inference_mode(), autocast:
                if normalize:
                    mean = x.mean(dim=1, keepdim=True)
                    var = x.var(dim=1, unbiased=False, keepdim=True)
                    x = (x - mean) / torch.sqrt(var + 1e-7)
                if need_transformer:
                    hidden = model(x, output_hidden_states=True).hidden_states
                    for k, state in enumerate(hidden):
                        name = "encoder_input" if k == 0 else f"transf{k - 1}"
                        if name in geo:
                            captured[name] = [_pool_window(state[b], 0, geo[name], w)
                                              for b, w in enumerate(batch)]
                else:
                    model.feature_extractor(x)
            for name in names:
                for j0, rows in captured[name]:
                    accs[name].add(j0, rows)
            i += len(batch)
            for name in names:
                nxt = suffix_min[name][i]
                upto = n_total[name] if nxt is None else min(nxt, n_total[name])
                accs[name].flush(upto)
    for name in names:
        if accs[name].base != n_total[name]:  # pragma: no cover - internal invariant
            raise RuntimeError(f"layer {name}: {accs[name].base} of {n_total[name]} "
                               "frames computed")


@contextlib.contextmanager
def float32_positional_conv(model: torch.nn.Module) -> Iterator[None]:
    """Run the transformer's positional convolution in float32 under autocast.

    The positional convolution (kernel 128, 16 groups, weight-normalised) sums
    ~128 x C/16 products per output. Under bfloat16 autocast, oneDNN's AMX kernels
    (Sapphire Rapids and later) do not keep that sum in float32 and ``encoder_input``
    onwards correlated at r = 0.955 with float32 on the tiny model, whereas the
    AVX512-BF16 kernels gave r = 1.0000. It is ~1 % of a BASE forward, so it is
    always computed in float32 here (as conv0 is, see ``_fastconv``), whatever the
    ISA; the output is cast back to the input's dtype.

    Parameters
    ----------
    model : transformers model
        A wav2vec2 / HuBERT / WavLM model; one without ``encoder.pos_conv_embed``
        is left as it is.
    """
    module = getattr(getattr(model, "encoder", None), "pos_conv_embed", None)
    if module is None:
        yield
        return
    cls_forward = type(module).forward

    def forward(hidden_states: torch.Tensor) -> torch.Tensor:
        with torch.autocast(hidden_states.device.type, enabled=False):
            out = cls_forward(module, hidden_states.float())
        return out.to(hidden_states.dtype)

    module.forward = forward
    try:
        yield
    finally:
        del module.forward  # back to the class's forward


def _prepare(model, *, layers, window_s, stride_s, mode, pool_hz,
             normalize, batch_size, device, dtype, model_id):
    dev = _check_device(device)
    sm = _as_speech_model(model, device=str(dev), model_id=model_id)
    params = _resolve_params(sm, layers=layers, window_s=window_s, stride_s=stride_s,
                             mode=mode, pool_hz=pool_hz, normalize=normalize,
                             batch_size=batch_size, device=dev, dtype=dtype)
    return dev, sm, params


def _plan(params: dict[str, Any], n_samples: int, name: str) -> list[Window]:
    if n_samples < params["_rf_total"]:
        raise DataError(
            f"Stimulus {name!r} is too short: {n_samples} samples "
            f"({n_samples / SFREQ:.4f} s) at 16 kHz, fewer than the model's receptive "
            f"field ({params['_rf_total']} samples)."
        )
    if params["mode"] == "full":
        return plan_windows(n_samples, window=n_samples, stride=n_samples, mode="full",
                            align=params["_align"])
    return plan_windows(n_samples, window=params["window_samples"],
                        stride=params["stride_samples"], mode=params["mode"],
                        align=params["_align"])


def _public(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if not k.startswith("_")}


def _provenance(sm: SpeechModel, params: dict[str, Any], audio_input: dict[str, Any],
                extra: dict[str, Any] | None = None) -> dict[str, Any]:
    model_input = {"path": str(sm.path) if sm.path else None, "sha256": sm.weights_hash,
                   "model_id": sm.model_id}
    if sm.source is not None:  # where it came from: hub repo id, revision, commit
        model_input["source"] = dict(sm.source)
    pub = dict(_public(params), **(extra or {}))
    return make_provenance("extract", params=pub,
                           inputs={"model": model_input, "audio": audio_input})


# --------------------------------------------------------------------------- #
# public API
# --------------------------------------------------------------------------- #
@verbose
def extract_activations(
    model, audio, *, layers: Sequence[str] | str | None = None, window_s: float = 10.0,
    stride_s: float = 5.0, mode: Literal["window", "full", "causal"] = "window",
    pool_hz: float | None = 100.0, normalize: bool | None = None, batch_size: int = 1,
    device: str = "cpu", dtype: Literal["float32", "bfloat16", "float16"] = "float32",
    sfreq: int = SFREQ, stimulus: str | None = None, model_id: str | None = None,
    verbose: bool | int | str | None = None,
) -> StimulusActivations:
    """Activations of every (or the chosen) layer of a speech model to one stimulus.

    Parameters
    ----------
    model : path-like, SpeechModel or transformers model
        A checkpoint directory (see :func:`load_speech_model`), a loaded model,
        or an in-memory HF model (e.g. from :func:`make_random_model`).
    audio : path-like or array of shape (n_samples,)
        An audio file (any format/rate/channels; read as 16 kHz mono) or a
        waveform sampled at ``sfreq`` Hz.
    layers : list of str, optional
        Layer names (see :func:`layer_names`); default all, in hierarchy order.
    window_s : float, default=10.0
        Context window in seconds (``mode`` "window" and "causal").
    stride_s : float, default=5.0
        Stride between windows in seconds; a multiple of the model's hop (0.02 s).
    mode : {"window", "full", "causal"}, default="window"
        See :func:`~brainscore_speech.features.frames.plan_windows`. "window":
        the paper's overlapping windows, overlapping frames averaged. "full": the
        whole stimulus in one pass (memory grows with length). "causal": each frame
        sees ``window_s`` of past context and at most ``stride_s`` of future.
    pool_hz : float or None, default=100.0
        Layers faster than this are average-pooled by an integer factor (recorded
        in the provenance); ``None`` keeps native rates (conv0 at 3200 Hz).
    normalize : bool, optional
        z-score each window; default as the model was trained.
    batch_size : int, default=1
        Windows of equal length per forward pass (raise it on a GPU).
    device : str, default="cpu"
    dtype : {"float32", "bfloat16", "float16"}, default="float32"
        Compute precision (autocast); stored values are float32. On a CPU with
        native bfloat16 (AVX512-BF16 / AMX) "bfloat16" is ~1.5x faster; the
        activations then correlate with the float32 ones at r > 0.999 per unit
        (``benchmarks/bench_extract.py`` measures both). float32 extraction is
        already at ~95 % of the machine's float32 matrix-product rate.
    sfreq : int, default=16000
        Sample rate of an array ``audio`` (resampled to 16 kHz with soxr).
    stimulus : str, optional
        Stimulus name; default the file stem (or ``"stimulus"`` for arrays).
    model_id : str, optional
        Overrides the model's name.
    verbose : bool, int, str or None

    Returns
    -------
    activations : StimulusActivations
        ``layers[name]`` of shape (n_frames, n_units) float32 and
        ``frame_times_s[name]`` of shape (n_frames,) in seconds (centre of the
        receptive field, mean over pooled frames), ``duration_s``, ``model_meta``
        and ``provenance`` (model and audio sha256, parameters, versions).

    Raises
    ------
    FileNotFoundError, DataError
        Missing, unreadable, empty or too-short audio (the message names it).
    ValueError
        Unknown layer (lists valid names) or invalid parameter.
    """
    name = stimulus or (Path(audio).stem if isinstance(audio, (str, os.PathLike))
                        else "stimulus")
    dev, sm, params = _prepare(model, layers=layers,
                               window_s=window_s, stride_s=stride_s, mode=mode,
                               pool_hz=pool_hz, normalize=normalize,
                               batch_size=batch_size, device=device, dtype=dtype,
                               model_id=model_id)
    wave, audio_input = _load_waveform(audio, sfreq=sfreq, name=name)
    windows = _plan(params, len(wave), name)
    geo = params["_geo"]
    sink = _MemorySink({n: (g.n_frames(len(wave)), g.n_units) for n, g in geo.items()})
    t0 = time.perf_counter()
    _run_windows(sm, wave, windows, geo, sink, normalize=params["normalize"],
                 batch_size=batch_size, device=dev, dtype=dtype)
    logger.debug("Extracted %d layers of %r (%.1f s of audio, %d windows) in %.1f s",
                 len(geo), name, len(wave) / SFREQ, len(windows),
                 time.perf_counter() - t0)
    return StimulusActivations(
        stimulus=name, layers=sink.data,
        frame_times_s={n: g.frame_times_s(g.n_frames(len(wave)))
                       for n, g in geo.items()},
        model_id=sm.model_id, layer_order=tuple(geo), duration_s=len(wave) / SFREQ,
        model_meta=dict(sm.model_meta), provenance=_provenance(sm, params, audio_input),
        layer_info=params["_layer_info"])


def _extraction_key(params: dict, model_sha: str | None, audio_sha: str | None
                    ) -> str | None:
    """What makes an activation file's content: result parameters, model, audio."""
    if model_sha is None:  # in-memory model: cannot tell
        return None
    return params_hash({"params": {k: v for k, v in params.items()
                                   if k not in _NON_RESULT_PARAMS},
                        "model": model_sha, "audio": audio_sha})


def _stored_extraction(path: Path) -> dict[str, Any]:
    """The resume record of an activation file: the key of its provenance."""
    old = read_activation_meta(path)["provenance"]
    inputs = old.get("inputs", {})
    return {"key": _extraction_key(old.get("params", {}),
                                   inputs.get("model", {}).get("sha256"),
                                   inputs.get("audio", {}).get("sha256"))}


def _extraction_cache(path: Path, prov: dict[str, Any]) -> layout.Cached:
    """The one resume helper (:func:`~brainscore_speech.layout.cached`) of ``path``."""
    key = _extraction_key(to_jsonable(prov["params"]),
                          prov["inputs"]["model"]["sha256"],
                          prov["inputs"]["audio"]["sha256"])
    return layout.cached("extract", None, record=path, key=key, key_field="key",
                         reader=_stored_extraction)


def _same_extraction(path: Path, prov: dict[str, Any]) -> bool:
    return _extraction_cache(path, prov).fresh()


@verbose
def extract_stimuli(
    model_path, stimuli, out_dir: str | os.PathLike, *,
    layers: Sequence[str] | str | None = None, window_s: float = 10.0,
    stride_s: float = 5.0, mode: Literal["window", "full", "causal"] = "window",
    pool_hz: float | None = 100.0, normalize: bool | None = None, batch_size: int = 1,
    device: str = "cpu", dtype: Literal["float32", "bfloat16", "float16"] = "float32",
    float16: bool = False, skip_existing: bool = True, model_id: str | None = None,
    verbose: bool | int | str | None = None,
) -> list[Path]:
    """Extract every stimulus to ``out_dir/<stem>.h5``, streaming to disk.

    Memory stays flat in stimulus length: frames are written to the HDF5 file as
    soon as they are final. Files have the layout of
    :meth:`StimulusActivations.save` and are written atomically; a stimulus whose
    file already holds the same parameters, model hash and audio hash is skipped.
    ``out_dir/activations.json`` indexes the stimuli and the model.

    Parameters
    ----------
    model_path : path-like, SpeechModel or transformers model
        See :func:`extract_activations` (loaded once).
    stimuli : path-like or list of path-like
        A directory (searched recursively), an audio file, a ``.txt``/``.lst`` list
        of files, or a list of paths (see
        :func:`~brainscore_speech.data.audio.find_audio`).
    out_dir : path-like
        Output folder ``ACT``.
    layers, window_s, stride_s, mode, pool_hz, normalize, batch_size, device, dtype
        See :func:`extract_activations`.
    float16 : bool, default=False
        Store activations as float16 (half the size).
    skip_existing : bool, default=True
        Skip stimuli already extracted with the same provenance.
    model_id : str, optional
        Overrides the model's name (default: the checkpoint folder's name).
    verbose : bool, int, str or None

    Returns
    -------
    paths : list of Path
        One ``.h5`` file per stimulus, in input order.
    """
    import h5py

    check_output_dir(out_dir, what="--out")  # before the model is loaded
    files = find_audio(stimuli)
    if not files:
        raise FileNotFoundError(f"No stimuli given in {stimuli!r}.")
    for stale in (p for f in files for p in Path(out_dir).glob(f"{f.stem}.tmp-*.h5")):
        stale.unlink(missing_ok=True)  # left by a killed run of these stimuli
    stems: dict[str, Path] = {}
    for f in files:
        if f.stem in stems:
            raise ValueError(f"Two stimuli share the name {f.stem!r} ({stems[f.stem]} "
                             f"and {f}); output files are named by stem.")
        stems[f.stem] = f
    # every input checked before the model loads and anything is written
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(
            f"Audio file not found: {missing[0]} ({len(missing)} of {len(files)} "
            f"stimuli missing: {missing[:5]}{' ...' if len(missing) > 5 else ''}; "
            "nothing extracted).")
    out = Path(out_dir)
    for p in remove_stale_temps(
            out, names=[layout.activation_file(out, f.stem).name for f in files]):
        logger.info("Removed %s, left by an interrupted extraction.", p.name)
    dev, sm, params = _prepare(model_path, layers=layers, window_s=window_s,
                               stride_s=stride_s,
                               mode=mode, pool_hz=pool_hz, normalize=normalize,
                               batch_size=batch_size, device=device, dtype=dtype,
                               model_id=model_id)
    geo = params["_geo"]
    store = "float16" if float16 else "float32"
    t0, done, paths = time.perf_counter(), 0, []
    for f in progress(files, desc="extract", unit="stimulus"):
        dest = layout.activation_file(out, f.stem)
        paths.append(dest)
        if not f.is_file():
            raise FileNotFoundError(f"Audio file not found: {f}")
        audio_input = {"path": str(f), "sha256": file_hash(f)}
        prov = _provenance(sm, params, audio_input, {"store_dtype": store})
        if skip_existing and dest.is_file() and _same_extraction(dest, prov):
            logger.debug("Skipping %s: %s is up to date", f, dest)
            continue
        wave = load_audio(f)
        windows = _plan(params, len(wave), f.name)
        n = len(wave)
        with atomic_path(dest) as tmp:
            with h5py.File(tmp, "w") as h5:
                layout.write_activation_attrs(
                    h5, stimulus=f.stem, model_id=sm.model_id, layer_order=list(geo),
                    duration_s=n / SFREQ, model_meta=sm.model_meta, provenance=prov,
                    layer_info=params["_layer_info"])
                shapes = {k: (g.n_frames(n), g.n_units) for k, g in geo.items()}
                times = {k: g.frame_times_s(g.n_frames(n)) for k, g in geo.items()}
                sink = _H5Sink(h5, shapes, times, store)
                _run_windows(sm, wave, windows, geo, sink,
                             normalize=params["normalize"], batch_size=batch_size,
                             device=dev, dtype=dtype)
        done += 1
    index = sorted(p.stem for p in out.glob("*.h5") if ".tmp-" not in p.name)
    write_json(layout.activation_index(out),
               {"model_id": sm.model_id, "model_meta": sm.model_meta,
                "model_sha256": sm.weights_hash, "layer_order": list(geo),
                "stimuli": index, "model_source": sm.source,
                "layer_info": params["_layer_info"]})
    record_outputs(layout.activation_checksums(out), step="extract", merge=True,
                   outputs=[*paths, layout.activation_index(out)],
                   inputs=[*files, *sorted(Path(sm.path).glob("*.safetensors"))]
                   if sm.path else files)  # for `verify`
    logger.info("Extracted %d layers x %d stimuli (%d up to date) in %.1f s",
                len(geo), done, len(files) - done, time.perf_counter() - t0)
    return paths
