"""Convert fairseq wav2vec 2.0 / HuBERT checkpoints (``.pt``) to our HF format.

The paper's regime models were released as fairseq checkpoints. This module reads
them **without importing fairseq and without running pickled code**, maps the
parameter names onto ``transformers``' classes and writes a checkpoint that
``extract`` loads like any other (``config.json`` + ``model.safetensors`` +
``brainscore_speech.json``).

Safe loading
------------
A fairseq ``.pt`` is a pickle of ``{"cfg" | "args", "model", "optimizer_history",
"extra_state", ...}``. It is read with ``torch.load(weights_only=True)``; the
non-tensor objects a fairseq checkpoint holds (``argparse.Namespace``, numpy
scalars, omegaconf containers) are not allowed by that unpickler, so every
global the file names is mapped to an *inert record* (:class:`_Inert`, our own
class, which only stores its arguments and state): no class or function from
the file is ever looked up or called, and the configuration is read back from
the records.

Key map (fairseq -> HF; learned from fairseq's ``Wav2Vec2Model`` /
``HubertModel`` and transformers' conversion scripts; ``{p}`` is weight or bias)
-------------------------------------------------------------------------------
- ``feature_extractor.conv_layers.{i}.0.{p}`` ->
  ``feature_extractor.conv_layers.{i}.conv.{p}``
- ``feature_extractor.conv_layers.0.2.{p}`` (GroupNorm, block 0) and
  ``feature_extractor.conv_layers.{i}.2.1.{p}`` (LayerNorm mode) ->
  ``feature_extractor.conv_layers.{i}.layer_norm.{p}``
- ``layer_norm.{p}`` -> ``feature_projection.layer_norm.{p}``;
  ``post_extract_proj.{p}`` -> ``feature_projection.projection.{p}``;
  ``mask_emb`` -> ``masked_spec_embed``
- ``encoder.pos_conv.0.{bias,weight_g,weight_v}`` ->
  ``encoder.pos_conv_embed.conv.{...}`` (weight norm; parametrised in recent torch)
- ``encoder.layer_norm.{p}`` -> ``encoder.layer_norm.{p}``
- ``encoder.layers.{i}.self_attn.{k,v,q,out}_proj`` ->
  ``encoder.layers.{i}.attention.{k,v,q,out}_proj``;
  ``...self_attn_layer_norm`` -> ``...layer_norm``; ``...fc1`` / ``...fc2`` ->
  ``...feed_forward.intermediate_dense`` / ``...output_dense``;
  ``...final_layer_norm`` -> ``...final_layer_norm``
- wav2vec2 heads (``Wav2Vec2ForPreTraining``): ``quantizer.vars`` ->
  ``quantizer.codevectors``, ``quantizer.weight_proj``, ``project_q``,
  ``final_proj`` -> ``project_hid``

HuBERT's pretraining head (``label_embs_concat``, ``final_proj``) and a CTC
fine-tuned model's output layer (``w2v_encoder.proj``) have no counterpart in the
base model and are dropped (listed in the result); fine-tuned models
(``w2v_encoder.w2v_model.*``) convert to their encoder. Any other key is an error
that names it.
"""

from __future__ import annotations

import ast
import os
import re
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .._io import file_hash, make_provenance
from .._logging import logger
from .._validation import check_path
from ..exceptions import DataError

__all__ = ["FAIRSEQ_ARCHITECTURES", "convert_fairseq_checkpoint", "fairseq_to_hf",
           "hf_to_fairseq_state_dict", "load_fairseq_checkpoint",
           "parse_conv_feature_layers"]

FAIRSEQ_ARCHITECTURES = ("wav2vec2", "hubert")
_FINETUNED_PREFIX = "w2v_encoder.w2v_model."
_PLACEHOLDERS = {"i": r"(?P<i>\d+)", "p": r"(?P<p>weight|bias)",
                 "q": r"(?P<q>k|v|q|out)"}
# (fairseq template, HF template, scope): scope "base" = inside the base model,
# "head" = top level of Wav2Vec2ForPreTraining, "group"/"layer" = conv norm mode
_RULES: list[tuple[str, str, str]] = [
    ("feature_extractor.conv_layers.{i}.0.{p}",
     "feature_extractor.conv_layers.{i}.conv.{p}", "base"),
    ("feature_extractor.conv_layers.{i}.2.1.{p}",
     "feature_extractor.conv_layers.{i}.layer_norm.{p}", "layer"),
    ("feature_extractor.conv_layers.{i}.2.{p}",
     "feature_extractor.conv_layers.{i}.layer_norm.{p}", "group"),
    ("layer_norm.{p}", "feature_projection.layer_norm.{p}", "base"),
    ("post_extract_proj.{p}", "feature_projection.projection.{p}", "base"),
    ("mask_emb", "masked_spec_embed", "base"),
    ("encoder.pos_conv.0.bias", "encoder.pos_conv_embed.conv.bias", "base"),
    ("encoder.pos_conv.0.weight_g", "encoder.pos_conv_embed.conv.weight_g", "base"),
    ("encoder.pos_conv.0.weight_v", "encoder.pos_conv_embed.conv.weight_v", "base"),
    ("encoder.layer_norm.{p}", "encoder.layer_norm.{p}", "base"),
    ("encoder.layers.{i}.self_attn.{q}_proj.{p}",
     "encoder.layers.{i}.attention.{q}_proj.{p}", "base"),
    ("encoder.layers.{i}.self_attn_layer_norm.{p}",
     "encoder.layers.{i}.layer_norm.{p}", "base"),
    ("encoder.layers.{i}.fc1.{p}",
     "encoder.layers.{i}.feed_forward.intermediate_dense.{p}", "base"),
    ("encoder.layers.{i}.fc2.{p}",
     "encoder.layers.{i}.feed_forward.output_dense.{p}", "base"),
    ("encoder.layers.{i}.final_layer_norm.{p}",
     "encoder.layers.{i}.final_layer_norm.{p}", "base"),
    ("quantizer.vars", "quantizer.codevectors", "head"),
    ("quantizer.weight_proj.{p}", "quantizer.weight_proj.{p}", "head"),
    ("project_q.{p}", "project_q.{p}", "head"),
    ("final_proj.{p}", "project_hid.{p}", "head"),
]
_DROPPED = {"hubert": [r"label_embs_concat", r"final_proj\.(weight|bias)"],
            "finetuned": [r"w2v_encoder\.proj\.(weight|bias)"]}
# HF weight norm is a parametrization in recent torch: weight_g/_v are renamed
_WN = {"weight_g": "parametrizations.weight.original0",
       "weight_v": "parametrizations.weight.original1"}


def _regex(template: str) -> re.Pattern:
    out = re.escape(template)
    for key, group in _PLACEHOLDERS.items():
        out = out.replace(re.escape("{" + key + "}"), group)
    return re.compile("^" + out + "$")


def _fill(template: str, groups: Mapping[str, str]) -> str:
    return template.format(**groups)


_FORWARD = [(_regex(f), h, scope) for f, h, scope in _RULES]
_INVERSE = [(_regex(h), f, scope) for f, h, scope in _RULES]


# --------------------------------------------------------------------------- #
# safe loading
# --------------------------------------------------------------------------- #
class _Inert:
    """Stand-in for any class or function a checkpoint's pickle names: stores only.

    Calling it (pickle REDUCE / NEWOBJ) records the arguments, BUILD records the
    state; no code from the checkpoint runs.
    """

    _global_name = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs, self.state = args, kwargs, None

    @classmethod
    def __class_getitem__(cls, item):  # pragma: no cover - typing only
        return cls

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<inert {self._global_name}>"


def _inert_for(name: str) -> type:
    return type("_Inert", (_Inert,), {"_global_name": name})


def _unsafe_globals(path: Path, err: Exception | None) -> list[str]:
    if err is None:
        try:
            return list(torch.serialization.get_unsafe_globals_in_checkpoint(path))
        except (RuntimeError, ValueError, OSError):  # legacy (non-zip) format
            return []
    m = re.search(r"GLOBAL ([\w.]+)", str(err))
    return [m.group(1)] if m else []


# modules whose objects fairseq checkpoints hold besides tensors (configuration and
# training state); they are replaced by inert records, never imported
_INERT_MODULES = ("argparse.", "numpy.", "omegaconf.", "typing.", "enum.", "fairseq.",
                  "collections.", "copyreg.", "_codecs.")


def _refuse(path: Path, why: str) -> DataError:
    return DataError(f"Refusing to load {path}: {why}; nothing from it was run. A "
                     "fairseq checkpoint holds tensors plus configuration objects "
                     "only.")


def load_fairseq_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a fairseq ``.pt`` with ``torch.load(weights_only=True)``, running no code.

    Parameters
    ----------
    path : path-like
        A fairseq checkpoint (wav2vec 2.0 or HuBERT, pretrained or fine-tuned).

    Returns
    -------
    dict
        ``model`` (dict of str to Tensor), ``cfg`` (plain dict: the model's
        configuration, from ``cfg`` or ``args``), ``inert_globals`` (the
        non-tensor globals that were replaced by inert records).

    Raises
    ------
    FileNotFoundError
        Missing file.
    DataError
        Not a torch checkpoint, no ``model`` state dict of tensors, or a pickle
        naming globals outside the configuration modules fairseq uses
        (``argparse``, ``numpy``, ``omegaconf``...) or calling anything but
        constructors: refused before anything from it runs.
    """
    import pickle

    path = check_path(path, "path", what="fairseq checkpoint")
    names: list[str] = _unsafe_globals(path, None)
    for _ in range(64):  # each retry names one more global (legacy format)
        foreign = [n for n in dict.fromkeys(names) if not n.startswith(_INERT_MODULES)]
        if foreign:
            raise _refuse(path, f"its pickle names {foreign}")
        stubs = [(_inert_for(n), n) for n in dict.fromkeys(names)]
        try:
            with torch.serialization.safe_globals(stubs):
                ckpt = torch.load(path, map_location="cpu", weights_only=True)
            break
        except pickle.UnpicklingError as err:
            more = [n for n in _unsafe_globals(path, err) if n not in names]
            if not more:
                lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
                why = next((ln for ln in lines if "reduce" in ln or "GLOBAL" in ln),
                           lines[0] if lines else "unreadable pickle")
                raise _refuse(path, f"its pickle does more than build objects ({why})"
                              ) from None
            names += more
        except (RuntimeError, EOFError, OSError, ValueError, struct.error) as err:
            raise DataError(f"Cannot read {path} as a torch checkpoint: "
                            f"{str(err).splitlines()[0] if str(err) else err!r}"
                            ) from None
    else:  # pragma: no cover - pathological file
        raise DataError(f"{path} names too many non-tensor globals: {names[:5]}...")
    if not isinstance(ckpt, Mapping) or not isinstance(ckpt.get("model"), Mapping):
        raise DataError(f"{path} is not a fairseq checkpoint: expected a dict with a "
                        f"'model' state dict, got {type(ckpt).__name__}"
                        + (f" with keys {sorted(ckpt)[:6]}" if isinstance(ckpt, Mapping)
                           else "") + ".")
    state = dict(ckpt["model"])
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise DataError(f"{path}: 'model' entry {bad[0]!r} is not a tensor.")
    cfg = _plain(ckpt.get("cfg")) or {}
    if not cfg.get("model") and ckpt.get("args") is not None:
        cfg = {"model": _plain(ckpt["args"]), "task": _plain(ckpt["args"])}
    return {"model": state, "cfg": cfg, "inert_globals": sorted(set(names))}


def _plain(obj: Any) -> Any:
    """Plain Python values from inert records (Namespace, omegaconf nodes)."""
    if isinstance(obj, _Inert):
        state = obj.state
        if isinstance(state, Mapping):
            if "_content" in state:  # omegaconf DictConfig / ListConfig
                return _plain(state["_content"])
            if "_val" in state:  # omegaconf value node
                return _plain(state["_val"])
            return {k: _plain(v) for k, v in state.items()}  # argparse.Namespace
        if obj.kwargs:
            return {k: _plain(v) for k, v in obj.kwargs.items()}
        return None  # numpy scalars, enums...: not needed for the config
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


# --------------------------------------------------------------------------- #
# configuration
# --------------------------------------------------------------------------- #
def parse_conv_feature_layers(spec: str) -> list[tuple[int, int, int]]:
    """Parse fairseq's ``conv_feature_layers`` string without ``eval``.

    Only list / tuple / integer literals and ``+`` / ``*`` between them are
    accepted, e.g. ``"[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] * 2"``.

    Returns
    -------
    list of (dim, kernel, stride)

    Raises
    ------
    ValueError
        For anything else.
    """
    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            vals = [ev(e) for e in node.elts]
            return vals if isinstance(node, ast.List) else tuple(vals)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            a, b = ev(node.left), ev(node.right)
            return a + b if isinstance(node.op, ast.Add) else a * b
        raise ValueError(f"unsupported element {ast.dump(node)[:40]}")

    try:
        layers = ev(ast.parse(str(spec), mode="eval"))
        out = [tuple(int(x) for x in t) for t in layers]
        if not out or any(len(t) != 3 for t in out):
            raise ValueError("expected (dim, kernel, stride) triples")
    except (SyntaxError, ValueError, TypeError) as err:
        raise ValueError(f"'conv_feature_layers' must be a list of (dim, kernel, "
                         f"stride) tuples, got {spec!r} ({err}).") from None
    return out


def _architecture(cfg: Mapping[str, Any], state: Mapping[str, Any]) -> tuple[str, bool]:
    name = str((cfg.get("model") or {}).get("_name") or
               (cfg.get("model") or {}).get("arch") or "")
    finetuned = any(k.startswith("w2v_encoder.") for k in state)
    if name:
        base = re.sub(r"_(ctc|seq2seq)$", "", name)
        base = {"wav2vec_ctc": "wav2vec2", "wav2vec2_ctc": "wav2vec2",
                "hubert_ctc": "hubert"}.get(name, base)
        if base not in FAIRSEQ_ARCHITECTURES:
            raise ValueError(
                f"Unsupported fairseq architecture {name!r}; supported: "
                f"{list(FAIRSEQ_ARCHITECTURES)} (pretrained or CTC fine-tuned).")
        if name in ("wav2vec_ctc", "hubert_ctc"):
            finetuned = True
        if finetuned and name == "wav2vec_ctc":
            inner = _inner_cfg(cfg)
            base = "hubert" if str(inner.get("_name", "")) == "hubert" else "wav2vec2"
        return base, finetuned
    keys = {k.removeprefix(_FINETUNED_PREFIX) for k in state}
    if "label_embs_concat" in keys:
        return "hubert", finetuned
    if "quantizer.vars" in keys or "post_extract_proj.weight" in keys:
        return "wav2vec2", finetuned
    raise ValueError("Unsupported fairseq checkpoint: no architecture name in its "
                     "config and no wav2vec2 / HuBERT parameters in its state dict.")


def _inner_cfg(cfg: Mapping[str, Any]) -> dict[str, Any]:
    model = dict(cfg.get("model") or {})
    w2v = model.get("w2v_args")
    if isinstance(w2v, Mapping):
        return dict(w2v.get("model") or w2v)
    return model


def _model_cfg(cfg: Mapping[str, Any], finetuned: bool) -> dict[str, Any]:
    return _inner_cfg(cfg) if finetuned else dict(cfg.get("model") or {})


def _hf_config(arch: str, mcfg: Mapping[str, Any], state: Mapping[str, torch.Tensor]):
    """HF config from the fairseq model config (fairseq dataclass defaults) + shapes."""
    import transformers

    def get(key, default):
        val = mcfg.get(key)
        return default if val is None else val

    conv = parse_conv_feature_layers(get(
        "conv_feature_layers", "[(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512,2,2)] * 2"))
    n_layers = 1 + max(int(m.group(1)) for k in state
                       if (m := re.match(r"^encoder\.layers\.(\d+)\.", k)))
    hidden = int(state["post_extract_proj.weight"].shape[0])
    wv = state["encoder.pos_conv.0.weight_v"]
    mode = str(get("extractor_mode", "default"))
    if mode not in ("default", "layer_norm"):
        raise ValueError(f"Unsupported fairseq 'extractor_mode' {mode!r}; expected "
                         "'default' or 'layer_norm'.")
    kw = dict(
        hidden_size=hidden, num_hidden_layers=n_layers,
        num_attention_heads=int(get("encoder_attention_heads", 12)),
        intermediate_size=int(state["encoder.layers.0.fc1.weight"].shape[0]),
        hidden_act=str(get("activation_fn", "gelu")),
        conv_dim=tuple(c[0] for c in conv), conv_kernel=tuple(c[1] for c in conv),
        conv_stride=tuple(c[2] for c in conv),
        conv_bias="feature_extractor.conv_layers.0.0.bias" in state,
        feat_extract_norm="group" if mode == "default" else "layer",
        feat_extract_activation="gelu",
        do_stable_layer_norm=bool(get("layer_norm_first", False)),
        num_conv_pos_embeddings=int(wv.shape[2]),
        num_conv_pos_embedding_groups=int(hidden // wv.shape[1]),
        hidden_dropout=float(get("dropout", 0.1)),
        attention_dropout=float(get("attention_dropout", 0.1)),
        activation_dropout=float(get("activation_dropout", 0.0)),
        feat_proj_dropout=float(get("dropout_input", 0.0)),
        layerdrop=float(get("encoder_layerdrop", 0.0)),
        mask_time_prob=float(get("mask_prob", 0.65)),
        mask_time_length=int(get("mask_length", 10)),
    )
    if arch == "hubert":
        return transformers.HubertConfig(**kw, feat_proj_layer_norm=True)
    if "quantizer.vars" in state and "project_q.weight" in state:
        groups = int(get("latent_groups", 2))
        codes = state["quantizer.vars"]
        kw.update(num_codevector_groups=groups,
                  num_codevectors_per_group=int(codes.shape[1] // groups),
                  codevector_dim=int(codes.shape[2] * groups),
                  proj_codevector_dim=int(state["project_q.weight"].shape[0]),
                  num_negatives=int(get("num_negatives", 100)))
    return transformers.Wav2Vec2Config(**kw)


# --------------------------------------------------------------------------- #
# key maps
# --------------------------------------------------------------------------- #
def _map_key(name: str, mode: str) -> tuple[str, str] | None:
    for rx, template, scope in _FORWARD:
        if scope in ("group", "layer") and scope != mode:
            continue
        m = rx.match(name)
        if m:
            if scope == "group" and m.group("i") != "0":
                return None  # GroupNorm exists in block 0 only
            kind = "head" if scope == "head" else "base"
            return _fill(template, m.groupdict()), kind
    return None


def fairseq_to_hf(state: Mapping[str, torch.Tensor],
                  cfg: Mapping[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
    """Build the HF model holding a fairseq state dict's parameters.

    Parameters
    ----------
    state : mapping of str to Tensor
        fairseq ``model`` state dict.
    cfg : mapping, optional
        fairseq configuration (``{"model": {...}, "task": {...}}``); missing
        fields take fairseq's dataclass defaults.

    Returns
    -------
    model : transformers.PreTrainedModel
        ``Wav2Vec2ForPreTraining`` (wav2vec2 with its quantizer), ``Wav2Vec2Model``
        (fine-tuned wav2vec2: its encoder) or ``HubertModel``, in eval mode.
    info : dict
        ``architecture``, ``finetuned``, ``dropped`` (keys without HF counterpart),
        ``do_normalize`` (from the task config; None when absent).

    Raises
    ------
    ValueError
        Unsupported architecture.
    DataError
        A key that is not a known wav2vec2 / HuBERT parameter (named), a missing
        parameter or a shape mismatch.
    """
    import transformers

    cfg = dict(cfg or {})
    arch, finetuned = _architecture(cfg, state)
    mcfg = _model_cfg(cfg, finetuned)
    plain: dict[str, torch.Tensor] = {}
    dropped = []
    drop = [re.compile("^" + p + "$") for p in _DROPPED.get(arch, [])
            + (_DROPPED["finetuned"] if finetuned else [])]
    for key, value in state.items():
        if any(rx.match(key) for rx in drop):
            dropped.append(key)
            continue
        if finetuned:
            if not key.startswith(_FINETUNED_PREFIX):
                raise DataError(f"Unknown key {key!r} in the fine-tuned fairseq "
                                f"checkpoint (expected '{_FINETUNED_PREFIX}...').")
            key = key[len(_FINETUNED_PREFIX):]
        plain[key] = value
    for need in ("post_extract_proj.weight", "encoder.pos_conv.0.weight_v",
                 "encoder.layers.0.fc1.weight"):
        if need not in plain:
            raise DataError(f"The fairseq checkpoint has no {need!r}: not a "
                            f"{arch} model state dict.")
    config = _hf_config(arch, mcfg, plain)
    if arch == "hubert":
        model, prefix = transformers.HubertModel(config), ""
    elif "quantizer.vars" in plain and not finetuned:
        model = transformers.Wav2Vec2ForPreTraining(config)
        prefix = "wav2vec2."
    else:
        model, prefix = transformers.Wav2Vec2Model(config), ""
    target = model.state_dict()
    mode = "group" if config.feat_extract_norm == "group" else "layer"
    mapped: dict[str, torch.Tensor] = {}
    for key, value in plain.items():
        hit = _map_key(key, mode)
        if hit is None or (hit[1] == "head" and not prefix):
            raise DataError(
                f"Unknown key {key!r} in the fairseq {arch} checkpoint: it is not a "
                "wav2vec2 / HuBERT parameter this converter maps (see "
                "brainscore_speech.features.convert).")
        name = (prefix if hit[1] == "base" else "") + hit[0]
        for old, new in _WN.items():
            if name.endswith(old) and name not in target:
                name = name[: -len(old)] + new
        mapped[name] = value
    missing = sorted(set(target) - set(mapped))
    if missing:
        raise DataError(f"The fairseq checkpoint lacks {len(missing)} parameter(s) of "
                        f"the {type(model).__name__}, e.g. {missing[:3]}.")
    for name, value in mapped.items():
        if tuple(target[name].shape) != tuple(value.shape):
            raise DataError(f"Parameter {name!r}: the checkpoint has shape "
                            f"{tuple(value.shape)}, the config implies "
                            f"{tuple(target[name].shape)}.")
    model.load_state_dict(mapped, strict=True)
    task = cfg.get("task") or {}
    norm = task.get("normalize")
    return model.eval(), {"architecture": arch, "finetuned": finetuned,
                          "dropped": dropped,
                          "do_normalize": None if norm is None else bool(norm)}


def hf_to_fairseq_state_dict(model) -> dict[str, torch.Tensor]:
    """The inverse key map: a HF wav2vec2 / HuBERT model's parameters, fairseq names.

    Parameters
    ----------
    model : transformers model
        ``Wav2Vec2ForPreTraining``, ``Wav2Vec2Model`` or ``HubertModel``.

    Returns
    -------
    dict of str to Tensor
        What fairseq's ``model.state_dict()`` holds for the same architecture
        (pretraining heads included for ``Wav2Vec2ForPreTraining``).
    """
    config = model.config
    mode = "group" if config.feat_extract_norm == "group" else "layer"
    base_prefix = getattr(model, "base_model_prefix", "") + "."
    has_head = hasattr(model, "quantizer")
    out = {}
    for name, value in model.state_dict().items():
        scope = "head"
        if has_head and name.startswith(base_prefix):
            name, scope = name[len(base_prefix):], "base"
        elif not has_head:
            scope = "base"
        for old, new in _WN.items():
            if name.endswith(new):
                name = name[: -len(new)] + old
        for rx, template, rule_scope in _INVERSE:
            if rule_scope in ("group", "layer") and rule_scope != mode:
                continue
            if (rule_scope == "head") != (scope == "head"):
                continue
            m = rx.match(name)
            if m:
                out[_fill(template, m.groupdict())] = value.detach().clone()
                break
        else:  # pragma: no cover - every HF parameter has a rule
            raise KeyError(f"no fairseq name for HF parameter {name!r}")
    return out


def convert_fairseq_checkpoint(src: str | os.PathLike, out_dir: str | os.PathLike, *,
                               regime: str = "pretrained", language: str | None = None,
                               do_normalize: bool | None = None) -> Path:
    """Convert a fairseq ``.pt`` to our checkpoint format (read by ``extract``).

    Parameters
    ----------
    src : path-like
        fairseq wav2vec 2.0 / HuBERT checkpoint (pretrained or CTC fine-tuned).
    out_dir : path-like
        New checkpoint directory (must not exist or be empty).
    regime : str, default="pretrained"
        ``brainscore_speech.json`` regime (e.g. ``speech`` for the paper's
        native-language models, ``sound``, ``random``).
    language : str, optional
        ISO code of the training language.
    do_normalize : bool, optional
        Waveform normalisation the model was trained with; default the task's
        ``normalize`` in the checkpoint, else the LayerNorm / GroupNorm rule.

    Returns
    -------
    out_dir : Path
    """
    from .models import save_hf_checkpoint

    src = Path(src)
    ckpt = load_fairseq_checkpoint(src)
    model, info = fairseq_to_hf(ckpt["model"], ckpt["cfg"])
    if do_normalize is None:
        do_normalize = info["do_normalize"]
    if info["dropped"]:
        logger.info("Dropped %d fairseq key(s) without a counterpart in %s: %s",
                    len(info["dropped"]), type(model).__name__, info["dropped"])
    sha = file_hash(src)
    meta = {"regime": regime, "language": language, "preset": None, "seed": None,
            "step": None, "converted_from": {
                "path": str(src), "sha256": sha, "format": "fairseq",
                "architecture": info["architecture"], "finetuned": info["finetuned"],
                "dropped_keys": info["dropped"],
                "inert_globals": ckpt["inert_globals"]},
            "provenance": make_provenance(
                "convert", params={"regime": regime, "language": language,
                                   "do_normalize": do_normalize},
                inputs={"fairseq_checkpoint": {"path": str(src), "sha256": sha}})}
    return save_hf_checkpoint(model, out_dir, meta=meta, do_normalize=do_normalize)
