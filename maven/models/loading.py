"""The one public loader: :func:`from_pretrained` (``maven.from_pretrained``).

A saved folder (``save_pretrained`` of a :class:`~maven.models.MavenModel`, of a fine-tuned
head, or what ``maven pretrain`` / ``maven finetune`` write), or a Hugging Face Hub repository
holding one, becomes ``(model, processor)``. Loading is **strict**: the model is built from
``config.json`` and every tensor of ``model.safetensors`` is checked before it is used; a
missing tensor, an unexpected one, a wrong shape or a non-finite value raises
:class:`~maven.errors.FormatError` naming the file and the tensor, instead of a model that
runs with random or NaN weights.

Two cases leave tensors out on purpose: the towers of a fine-tuned head folder
(``task="towers"``, e.g. for embeddings and search) leave the head's tensors (``classifier.*``
or ``regressor.*``) aside; and a head for a task the folder does not hold (``task=
"classification"`` on a pre-trained MavenModel folder, as fine-tuning starts) gets the
folder's towers, checked as strictly, and a new, initialised head.

Hub repositories are downloaded with ``huggingface_hub.snapshot_download`` on first use and
read from its cache afterwards; a local folder never touches the network, and with
``HF_HUB_OFFLINE=1`` (or ``local_files_only=True``) nothing is downloaded at all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from maven.errors import ConfigError, FormatError
from maven.models.hub import resolve_folder

__all__ = ["ARCHITECTURES", "WEIGHTS_NAME", "from_pretrained"]

#: ``task`` of :func:`from_pretrained` -> the class it builds
ARCHITECTURES = {
    "towers": "MavenModel",
    "classification": "MavenForSupernovaClassification",
    "redshift": "MavenForRedshift",
}
#: a head class -> the prefix of its head's tensors (left aside when only the towers load)
HEAD_PREFIXES = {"MavenForSupernovaClassification": "classifier.", "MavenForRedshift": "regressor."}
#: prefix of the towers' tensors in a head model
TOWERS_PREFIX = "maven."
WEIGHTS_NAME = "model.safetensors"


def _architecture(folder: Path) -> str:
    path = folder / "config.json"
    try:
        arch = json.loads(path.read_text()).get("architectures") or []
    except (OSError, json.JSONDecodeError, AttributeError) as exc:
        raise ConfigError(f"{path}: not a saved maven model config ({exc})") from None
    known = [a for a in arch if a in HEAD_PREFIXES or a == "MavenModel"]
    if len(known) != 1:
        raise ConfigError(
            f"{path}: field 'architectures' is {arch!r}; expected one of "
            f"{sorted(ARCHITECTURES.values())}"
        )
    return known[0]


def _read_weights(folder: Path) -> tuple[dict[str, Any], str]:
    """Every tensor of the folder's safetensors weights (one file or an index of shards),
    each checked finite; and the file name for messages."""
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    index = folder / (WEIGHTS_NAME + ".index.json")
    if (folder / WEIGHTS_NAME).is_file():
        files = [folder / WEIGHTS_NAME]
    elif index.is_file():
        try:
            files = [
                folder / f
                for f in sorted(set(json.loads(index.read_text())["weight_map"].values()))
            ]
        except (OSError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise FormatError(f"{index}: not a safetensors index ({exc})") from None
    else:
        raise FormatError(f"{folder}: no {WEIGHTS_NAME} (maven reads safetensors weights only)")
    where = str(files[0]) if len(files) == 1 else str(index)
    state: dict[str, Any] = {}
    for f in files:
        try:
            state.update(load_file(str(f)))
        except (OSError, SafetensorError) as exc:
            raise FormatError(f"{f}: not a readable safetensors file ({exc})") from None
    for name, tensor in state.items():
        if tensor.is_floating_point():
            bad = int((~torch.isfinite(tensor)).sum())
            if bad:
                raise FormatError(
                    f"{where}: tensor {name!r} has {bad} non-finite values (NaN or inf); "
                    "the file is damaged"
                )
    return state, where


def _few(names: list[str]) -> str:
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _towers_state(state: dict, arch: str, where: str) -> dict:
    """The towers' tensors of a folder's weights (a head folder's ``maven.*``, unprefixed)."""
    if arch == "MavenModel":
        return state
    head = HEAD_PREFIXES[arch]
    other = sorted(k for k in state if not k.startswith((TOWERS_PREFIX, head)))
    if other:
        raise FormatError(f"{where}: unexpected tensors for a {arch}: {_few(other)}")
    return {k[len(TOWERS_PREFIX) :]: v for k, v in state.items() if k.startswith(TOWERS_PREFIX)}


def _load_strict(module, state: dict, where: str) -> None:
    """``module.load_state_dict(state)`` after checking names and shapes, with messages."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    if missing:
        raise FormatError(
            f"{where}: {len(missing)} tensors of the {type(module).__name__} are missing: "
            f"{_few(missing)} (a damaged file, or one saved for another config)"
        )
    unexpected = sorted(set(state) - set(expected))
    if unexpected:
        raise FormatError(
            f"{where}: {len(unexpected)} tensors the {type(module).__name__} does not have: "
            f"{_few(unexpected)} (a file saved for another config)"
        )
    for name, tensor in state.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise FormatError(
                f"{where}: tensor {name!r} has shape {tuple(tensor.shape)}, the config needs "
                f"{tuple(expected[name].shape)}"
            )
    module.load_state_dict(state, strict=True)


def from_pretrained(
    path: str | Path,
    *,
    task: str | None = None,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
    **head_settings: Any,
):
    """``(model, processor)`` from a saved maven folder or Hub repository, in eval mode.

    Args:
        path: a local folder, or a Hub repository id (see :func:`resolve_folder`).
        task: ``None``: the model the folder holds (``config.json`` ``architectures``: a
            MavenModel, MavenForSupernovaClassification or MavenForRedshift);
            ``"towers"``: its :class:`~maven.models.MavenModel` (from a head folder too, the
            head's tensors left aside); ``"classification"`` / ``"redshift"``: that head,
            as saved if the folder holds it, else new on the folder's towers.
        revision, cache_dir, local_files_only, token: Hub options (not used for a folder).
        head_settings: head settings (see :mod:`maven.models.modeling_heads`), for a head.

    Returns:
        the model and its :class:`~maven.models.MavenProcessor` (``processor_config.json``;
        a default processor for a MavenModel folder without one).

    Raises:
        ConfigError: no such folder or repository, an unknown ``task`` or architecture,
            head settings for the towers, a head folder without its processor config.
        FormatError: missing, unexpected, misshapen or non-finite tensors (the message names
            the file and the tensor), or no safetensors weights.
    """
    import maven.models as models
    from maven.models.processing_maven import PROCESSOR_CONFIG_NAME

    if task is not None and task not in ARCHITECTURES:
        raise ConfigError(f"task must be one of {sorted(ARCHITECTURES)} or None, got {task!r}")
    folder = resolve_folder(
        path,
        revision=revision,
        cache_dir=cache_dir,
        local_files_only=local_files_only,
        token=token,
    )
    arch = _architecture(folder)
    target = arch if task is None else ARCHITECTURES[task]
    if target == "MavenModel" and head_settings:
        raise ConfigError(f"head settings {sorted(head_settings)} need a head task, not the towers")
    try:
        config = models.MavenConfig.from_pretrained(folder)
    except (OSError, ValueError) as exc:  # ConfigError is a ValueError
        raise ConfigError(f"{folder / 'config.json'}: {exc}") from None
    config.name_or_path = str(path)
    state, where = _read_weights(folder)
    if target == "MavenModel":
        model = models.MavenModel(config)
        _load_strict(model, _towers_state(state, arch, where), where)
    else:
        model = getattr(models, target)(config, **head_settings)
        if arch == target:
            _load_strict(model, state, where)
        else:  # a new head on the folder's towers
            _load_strict(model.maven, _towers_state(state, arch, where), where)
    model.eval()
    if (folder / PROCESSOR_CONFIG_NAME).is_file():
        processor = models.MavenProcessor.from_pretrained(folder)
    elif arch == "MavenModel":
        processor = models.MavenProcessor()
    else:
        raise ConfigError(
            f"{folder}: no {PROCESSOR_CONFIG_NAME}; a head needs the processor it was trained with"
        )
    return model, processor
