"""Load local speech checkpoints (ours or any HF wav2vec2 / HuBERT / WavLM directory).

Layer names (hierarchy order; see docs/ARCHITECTURE.md)
-------------------------------------------------------
==================  ======================================================  =========
name                what                                                    paper
==================  ======================================================  =========
``conv0..conv6``    output of feature-encoder block i (after the            ``conv_i``
                    activation; block 0 after its GroupNorm), before the
                    feature LayerNorm and projection (forward hook on
                    ``feature_extractor.conv_layers[i]``)
``encoder_input``   HF ``hidden_states[0]``: transformer input after the    (none)
                    positional conv (and, for post-LN models, LayerNorm)
``transf{i}``       output of transformer block i+1 = HF                    ``transf_i``
                    ``hidden_states[i + 1]`` (for pre-LN models, before
                    the encoder's final LayerNorm)
==================  ======================================================  =========

Input normalisation rule
------------------------
``do_normalize`` (z-score each window of waveform, as HF's processor does) is read
from ``preprocessor_config.json`` when the checkpoint has one. Otherwise it follows
the fairseq convention: models with a LayerNorm feature encoder
(``feat_extract_norm == "layer"``, e.g. wav2vec2 LARGE-LV60) were trained on
normalised audio, GroupNorm models (wav2vec2 BASE) on raw audio.
"""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .. import layout
from .._io import check_safetensors, file_hash, make_provenance, read_json, write_json
from .._layers import relative_depths
from .._logging import logger
from ..exceptions import DataError
from .frames import SFREQ, LayerGeometry, layer_geometry

__all__ = [
    "SUPPORTED_MODEL_TYPES",
    "check_pickle_weights",
    "WEIGHT_FILES",
    "SpeechModel",
    "layer_names",
    "load_speech_model",
    "make_tiny_config",
    "make_random_model",
    "save_hf_checkpoint",
    "wrap_model",
]

SUPPORTED_MODEL_TYPES = ("wav2vec2", "hubert", "wavlm")
WEIGHT_FILES = (layout.HF_WEIGHTS, "model.safetensors.index.json",
                "pytorch_model.bin", "pytorch_model.bin.index.json")
META_FILE = layout.CHECKPOINT_META


def layer_names(config) -> list[str]:
    """Names of every extractable layer of a model config, in hierarchy order.

    Parameters
    ----------
    config : transformers.PretrainedConfig
        A wav2vec2 / HuBERT / WavLM config.

    Returns
    -------
    names : list of str
        ``conv0 .. conv{n_conv-1}, encoder_input, transf0 .. transf{L-1}``.
    """
    n_conv = len(config.conv_kernel)
    return ([f"conv{i}" for i in range(n_conv)] + ["encoder_input"]
            + [f"transf{i}" for i in range(config.num_hidden_layers)])


def _default_do_normalize(config) -> bool:
    return getattr(config, "feat_extract_norm", "group") == "layer"


@dataclass
class SpeechModel:
    """A speech model ready for extraction, with what is needed to describe it.

    Parameters
    ----------
    model : torch.nn.Module
        The base model (``Wav2Vec2Model``, ``HubertModel``, ``WavLMModel``) in eval
        mode.
    do_normalize : bool
        Whether each window is z-scored before the model (as in training).
    model_id : str
        Short name used in output files.
    model_meta : dict
        ``regime``, ``language``, ``preset``, ``seed``, ``step``...
    weights_hash : str or None
        sha256 of the weight file(s) (None for an in-memory model).
    path : Path or None
        Checkpoint directory.
    source : dict or None
        Where the model came from (:meth:`ModelSource.to_dict
        <brainscore_speech.features.hub.ModelSource.to_dict>`: kind, repo id,
        revision, commit, registry name); None for an in-memory model.
    """

    model: Any
    do_normalize: bool
    model_id: str
    model_meta: dict[str, Any] = field(default_factory=dict)
    weights_hash: str | None = None
    path: Path | None = None
    source: dict[str, Any] | None = None

    @property
    def config(self):
        """The model's HF config."""
        return self.model.config

    @property
    def layer_names(self) -> list[str]:
        """Extractable layers in hierarchy order (see :func:`layer_names`)."""
        return layer_names(self.config)

    @property
    def attn_implementation(self) -> str:
        """Attention kernel in use (``"sdpa"`` or ``"eager"``)."""
        return str(getattr(self.config, "_attn_implementation", "eager"))

    def geometry(self, pool_hz: float | None = 100.0) -> dict[str, LayerGeometry]:
        """Hop, receptive field, pooling and width of every layer."""
        cfg = self.config
        return layer_geometry(cfg.conv_kernel, cfg.conv_stride, cfg.num_hidden_layers,
                              conv_dim=cfg.conv_dim, hidden_size=cfg.hidden_size,
                              pool_hz=pool_hz, sfreq=SFREQ)

    def layer_info(self, pool_hz: float | None = 100.0) -> dict[str, dict[str, Any]]:
        """Stage, relative depth (0-1 per stage) and frame rates of every layer.

        See :mod:`brainscore_speech._layers` for the depth definition; ``rate_hz``
        is the stored (pooled) frame rate, ``native_rate_hz`` the model's.
        """
        cfg = self.config
        info = relative_depths(self.layer_names, n_conv=len(cfg.conv_kernel),
                               n_transformer=cfg.num_hidden_layers)
        for name, geo in self.geometry(pool_hz).items():
            info[name].update(rate_hz=geo.rate_hz, native_rate_hz=geo.native_rate_hz,
                              n_units=geo.n_units)
        return info

    def __repr__(self) -> str:
        return (f"<SpeechModel {self.model_id!r} ({self.config.model_type}, "
                f"{len(self.layer_names)} layers, {self.attn_implementation}, "
                f"regime {self.model_meta.get('regime')!r})>")


@contextlib.contextmanager
def _quiet_transformers():
    from transformers.utils import logging as hf_logging

    old = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(old)
        if bars:
            hf_logging.enable_progress_bar()


def _weights_hash(path: Path) -> str:
    """sha256 of the weight file, or of the concatenated shard hashes."""
    import hashlib

    for name in WEIGHT_FILES:
        f = path / name
        if f.is_file():
            if not name.endswith(".index.json"):
                return file_hash(f)
            shards = sorted(set(read_json(f).get("weight_map", {}).values()))
            h = hashlib.sha256()
            for shard in shards:
                h.update(file_hash(path / shard).encode())
            return h.hexdigest()
    raise FileNotFoundError(f"no weights in {path}")  # pragma: no cover - checked


def _torch_load_supports_weights_only() -> bool:
    import inspect

    try:
        return "weights_only" in inspect.signature(torch.load).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without signature
        return False


def _pickle_weight_files(path: Path) -> list[Path]:
    index = path / "pytorch_model.bin.index.json"
    if index.is_file():
        return [path / s for s in sorted(set(read_json(index).get("weight_map",
                                                                  {}).values()))]
    return [path / "pytorch_model.bin"]


def _refusal(f: Path, reason: str) -> DataError:
    return DataError(
        f"Refusing to load {f}: {reason}, and unpickling it could run code. If you "
        "trust the file, convert it once to safetensors (e.g. in Python "
        "`AutoModel.from_pretrained(DIR, weights_only=False).save_pretrained(OUT)`; "
        "a fairseq .pt: `brainscore-speech convert`) and pass OUT.")


def check_pickle_weights(path: str | os.PathLike) -> list[Path]:
    """Check that a directory's pickle weights hold tensors only, without running code.

    Each ``pytorch_model.bin`` (or shard) is opened with
    ``torch.load(weights_only=True)`` onto the ``meta`` device: the restricted
    unpickler builds tensors, containers and primitive types only and refuses any
    other global *before* calling it, so a file whose pickle would run code
    (e.g. write a file through ``__reduce__``) is refused without running it.

    Parameters
    ----------
    path : path-like
        Checkpoint directory without safetensors weights.

    Returns
    -------
    files : list of Path
        The checked weight files.

    Raises
    ------
    DataError
        When this torch has no ``weights_only`` loading, or a file holds
        anything but a mapping of names to tensors (the message says how to
        convert it).
    """
    import pickle
    import struct

    files = _pickle_weight_files(Path(path))
    if not _torch_load_supports_weights_only():
        raise _refusal(files[0], f"torch {torch.__version__} cannot load pickle "
                                 "weights with weights_only=True (needs torch >= 1.13)")
    for f in files:
        if not f.is_file():
            raise FileNotFoundError(f"Weight file not found: {f}")
        try:
            try:
                sd = torch.load(f, map_location="meta", weights_only=True, mmap=True)
            except RuntimeError as err:
                if "mmap" not in str(err):
                    raise
                sd = torch.load(f, map_location="meta", weights_only=True)
        except pickle.UnpicklingError as err:
            lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
            why = next((ln for ln in lines if "GLOBAL" in ln or "Unsupported" in ln),
                       lines[0] if lines else "not a tensor file")
            raise _refusal(f, f"it holds pickled objects other than tensors ({why})"
                           ) from None
        except (RuntimeError, EOFError, OSError, ValueError, struct.error) as err:
            raise DataError(f"Cannot read weight file {f}: "
                            f"{str(err).splitlines()[0] if str(err) else err!r}"
                            ) from None
        if not isinstance(sd, Mapping) or not all(
                isinstance(k, str) and isinstance(v, torch.Tensor)
                for k, v in sd.items()):
            raise _refusal(f, "it does not hold a mapping of parameter names to "
                              "tensors")
        del sd
    return files


def _has_safetensors(path: Path) -> bool:
    return layout.checkpoint_weights(path).is_file() or (
        path / "model.safetensors.index.json").is_file()


def _checkpoint_meta(path: Path, source) -> dict[str, Any]:
    """Regime, language... of a checkpoint: the registry entry, then our record."""
    from .hub import load_registry

    meta: dict[str, Any] = {"regime": "pretrained", "language": None}
    if source.registry_name:
        entry = load_registry()[source.registry_name]
        meta.update(language=entry.get("language"),
                    training_data=entry.get("training_data"),
                    training_hours=entry.get("training_hours"),
                    licence=entry.get("licence"), citation=entry.get("citation"))
    meta_file = layout.checkpoint_meta(path)
    if meta_file.is_file():
        ours = read_json(meta_file)
        if not isinstance(ours, Mapping):
            raise DataError(f"{meta_file} must hold a JSON object, got "
                            f"{type(ours).__name__}.")
        meta.update({k: v for k, v in ours.items()
                     if k not in ("config", "provenance")})
    return meta


def load_speech_model(path: str | os.PathLike, *, device: str = "cpu",
                      model_id: str | None = None,
                      attn_implementation: str = "sdpa") -> SpeechModel:
    """Load a wav2vec2 / HuBERT / WavLM model (local directory, hub id, registry name).

    ``path`` is resolved by :func:`~brainscore_speech.features.hub.resolve_model`:
    a local directory is used as it is; ``org/name[@REV]`` and registry names
    (``wav2vec2-base``, ...) come from the Hugging Face cache, downloaded once
    when online (``HF_HUB_OFFLINE=1``: cache only). Our trainer's checkpoints
    (``Wav2Vec2ForPreTraining`` weights + ``brainscore_speech.json``) and plain
    HF directories (``Wav2Vec2Model``, ``...ForCTC``, ``...ForPreTraining``) are
    all loaded into the matching base model.

    Weights are loaded safely: ``model.safetensors`` first; pickle weights
    (``pytorch_model.bin``) only when they hold tensors alone, checked with
    ``torch.load(weights_only=True)`` (:func:`check_pickle_weights`), else refused
    with a message saying how to convert them.

    Parameters
    ----------
    path : path-like or str
        Directory with ``config.json`` and ``model.safetensors`` (or sharded /
        ``pytorch_model.bin`` weights), a hub repo id or a registry name.
    device : str, default="cpu"
        Torch device to put the model on.
    model_id : str, optional
        Name for output files; default the directory's name (hub: the repo's
        name; registry: the registry name).
    attn_implementation : {"sdpa", "eager"}, default="sdpa"
        Attention kernel; falls back to ``"eager"`` when the architecture has no
        SDPA support (e.g. WavLM).

    Returns
    -------
    model : SpeechModel
        Base model in eval mode, normalisation rule (see module docstring),
        ``model_meta`` from ``brainscore_speech.json`` (``regime: "pretrained"``
        when absent; registry models add their language and training data; hub
        models their ``repo_id`` and ``commit``), the weights' sha256 and
        ``source``.

    Raises
    ------
    FileNotFoundError
        When the directory, its ``config.json`` or its weights are missing, or a
        hub model is not in the cache offline.
    ValueError
        For an unsupported model type.
    DataError
        When the weights do not contain every parameter of the base model, or
        pickle weights hold anything but tensors.
    """
    from transformers import AutoConfig, AutoModel

    from .hub import resolve_model

    source = resolve_model(path)
    path = source.path
    if not path.is_dir():
        raise FileNotFoundError(f"Checkpoint directory not found: {path}")
    if not layout.checkpoint_model_file(path, layout.HF_CONFIG).is_file():
        raise FileNotFoundError(
            f"Checkpoint directory {path} has no config.json; expected a "
            "HuggingFace-format model directory (config.json + model.safetensors)."
        )
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        raise FileNotFoundError(
            f"Checkpoint directory {path} has no weights; expected one of "
            f"{list(WEIGHT_FILES)}."
        )
    for weights in sorted(path.glob("*.safetensors")):  # truncated: one-line error
        check_safetensors(weights, what="weights file")
    try:
        config = AutoConfig.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as err:
        raise DataError(f"Cannot read {path / layout.HF_CONFIG}: {err}") from None
    if config.model_type not in SUPPORTED_MODEL_TYPES:
        raise ValueError(
            f"Model type {config.model_type!r} of {path} is not supported; expected "
            f"one of {list(SUPPORTED_MODEL_TYPES)}."
        )
    if not _has_safetensors(path):
        check_pickle_weights(path)
    model = None
    for impl in dict.fromkeys((attn_implementation, "eager")):
        try:
            with _quiet_transformers():
                model, info = AutoModel.from_pretrained(
                    path, config=copy.deepcopy(config), local_files_only=True,
                    attn_implementation=impl, output_loading_info=True,
                    weights_only=True)
            break
        except (ValueError, ImportError) as err:
            if impl == "eager":
                raise
            logger.debug("attn_implementation=%r unavailable for %s (%s); using eager",
                         impl, path, err)
    missing = list(info.get("missing_keys", []))
    if missing:
        raise DataError(
            f"Weights in {path} do not match its config.json: {len(missing)} "
            f"parameter(s) of the {type(model).__name__} are missing, e.g. "
            f"{sorted(missing)[:3]}."
        )
    model.eval().to(device)

    do_normalize = _default_do_normalize(config)
    prep = layout.checkpoint_model_file(path, layout.HF_PREPROCESSOR)
    if prep.is_file():
        do_normalize = bool(read_json(prep).get("do_normalize", do_normalize))
    meta = _checkpoint_meta(path, source)
    meta["model_type"] = config.model_type
    if source.kind == "hub":
        meta.update(repo_id=source.repo_id, revision=source.revision,
                    commit=source.commit)
    return SpeechModel(model=model, do_normalize=do_normalize,
                       model_id=model_id or source.default_model_id, model_meta=meta,
                       weights_hash=_weights_hash(path), path=path,
                       source=source.to_dict())


def wrap_model(model, *, do_normalize: bool | None = None, model_id: str = "model",
               model_meta: Mapping[str, Any] | None = None) -> SpeechModel:
    """Wrap an in-memory HF speech model (base or with a head) for extraction.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        e.g. ``Wav2Vec2Model`` or ``Wav2Vec2ForPreTraining``; its base model is used
        and put in eval mode.
    do_normalize : bool, optional
        Default from the config (see module docstring).
    model_id : str, default="model"
    model_meta : mapping, optional
        Default ``{"regime": "pretrained"}``.

    Returns
    -------
    model : SpeechModel
    """
    base = getattr(model, "base_model", model)
    if not hasattr(base, "feature_extractor") or not hasattr(base, "encoder"):
        raise TypeError(
            "'model' must be a wav2vec2-style HF model with a 'feature_extractor' and "
            f"an 'encoder', got {type(model).__name__}."
        )
    base.eval()
    if do_normalize is None:
        do_normalize = _default_do_normalize(base.config)
    meta = {"regime": "pretrained", "language": None, **dict(model_meta or {})}
    meta.setdefault("model_type", base.config.model_type)
    return SpeechModel(model=base, do_normalize=bool(do_normalize), model_id=model_id,
                       model_meta=meta)


def make_tiny_config(**overrides: Any):
    """A tiny wav2vec2 config (FINDINGS §1a: hidden 32, 2 layers, conv_dim 32).

    The conv kernels and strides are those of wav2vec2 BASE, so frame arithmetic
    is the real one (hop 320, receptive field 400); about 50 k parameters.

    Parameters
    ----------
    **overrides
        Any ``Wav2Vec2Config`` field (e.g. ``feat_extract_norm="layer"``).

    Returns
    -------
    config : transformers.Wav2Vec2Config
    """
    from transformers import Wav2Vec2Config

    kw: dict[str, Any] = dict(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64,
        conv_dim=(32,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4,
        num_codevector_groups=2, num_codevectors_per_group=16, codevector_dim=32,
        proj_codevector_dim=16, hidden_dropout=0.0, attention_dropout=0.0,
        activation_dropout=0.0, feat_proj_dropout=0.0, final_dropout=0.0,
        layerdrop=0.0)
    kw.update(overrides)
    return Wav2Vec2Config(**kw)


def make_random_model(config=None, *, seed: int = 0):
    """A randomly initialised ``Wav2Vec2ForPreTraining`` (the "random" regime).

    Parameters
    ----------
    config : Wav2Vec2Config or mapping, optional
        Architecture; default ``Wav2Vec2Config()`` (BASE, 95 M parameters). A
        mapping is passed to ``Wav2Vec2Config(**mapping)``.
    seed : int, default=0
        Seed of the initialisation (the global torch RNG is left untouched).

    Returns
    -------
    model : transformers.Wav2Vec2ForPreTraining
        In eval mode, SDPA attention.
    """
    from transformers import Wav2Vec2Config, Wav2Vec2ForPreTraining

    if config is None:
        config = Wav2Vec2Config()
    elif isinstance(config, Mapping):
        config = Wav2Vec2Config(**config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = Wav2Vec2ForPreTraining._from_config(copy.deepcopy(config),
                                                    attn_implementation="sdpa")
    return model.eval()


def save_hf_checkpoint(model, out_dir: str | os.PathLike, *,
                       meta: Mapping[str, Any] | None = None,
                       do_normalize: bool | None = None) -> Path:
    """Write a model in the checkpoint format of ``train`` (read by ``extract``).

    ``config.json`` + ``model.safetensors`` (``save_pretrained``),
    ``preprocessor_config.json`` (``Wav2Vec2FeatureExtractor``) and
    ``brainscore_speech.json`` = ``{"regime", "language", "preset", "seed", "step",
    "config", "provenance"}``. Files are written into a temporary directory that is
    renamed onto ``out_dir``.

    Parameters
    ----------
    model : transformers.PreTrainedModel
        Usually a ``Wav2Vec2ForPreTraining`` from :func:`make_random_model`.
    out_dir : path-like
        Must not exist yet (or be empty).
    meta : mapping, optional
        Entries of ``brainscore_speech.json``; default regime ``"random"``.
    do_normalize : bool, optional
        Written to ``preprocessor_config.json``; default from the config.

    Returns
    -------
    out_dir : Path
    """
    import shutil
    import tempfile

    from transformers import Wav2Vec2FeatureExtractor

    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"Checkpoint directory {out} already exists and is not "
                              "empty; choose a new 'out_dir'.")
    out.parent.mkdir(parents=True, exist_ok=True)
    config = model.config
    if do_normalize is None:
        do_normalize = _default_do_normalize(config)
    info = {"regime": "random", "language": None, "preset": None, "seed": None,
            "step": 0}
    info.update(dict(meta or {}))
    info["config"] = config.to_dict()
    info.setdefault("provenance", make_provenance("save_hf_checkpoint",
                                                  params={"do_normalize": do_normalize},
                                                  seed=info.get("seed")))
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".tmp-", dir=out.parent))
    try:
        with _quiet_transformers():
            model.save_pretrained(tmp)
        Wav2Vec2FeatureExtractor(
            feature_size=1, sampling_rate=SFREQ, padding_value=0.0,
            do_normalize=bool(do_normalize),
            return_attention_mask=getattr(config, "feat_extract_norm", "") == "layer",
        ).save_pretrained(tmp)
        write_json(layout.checkpoint_meta(tmp), info)
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out
