"""Where a saved model lives: a local folder, or a Hugging Face Hub repository in the cache.

Used by every loader (:func:`maven.from_pretrained`, the processor's ``from_pretrained``, the
ONNX export) so that one rule finds a model's files.
"""

from __future__ import annotations

from pathlib import Path

from maven.errors import ConfigError

__all__ = ["HUB_FILES", "resolve_folder"]

#: the files a model needs, and all that is fetched from the Hub
HUB_FILES = ["config.json", "processor_config.json", "*.safetensors", "*.safetensors.index.json"]


def resolve_folder(
    path: str | Path,
    *,
    revision: str | None = None,
    cache_dir: str | Path | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
) -> Path:
    """A local model folder: ``path`` itself, or the Hub repository ``path`` (``owner/name``)
    from the Hugging Face cache, downloaded first unless offline (``HF_HUB_OFFLINE=1`` or
    ``local_files_only``).

    Raises:
        ConfigError: neither a folder nor a repository that can be had.
    """
    folder = Path(path)
    if folder.is_dir():
        return folder
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(str(path))
    except HFValidationError:
        raise ConfigError(f"{path}: no such model folder") from None
    try:
        return Path(
            snapshot_download(
                str(path),
                revision=revision,
                cache_dir=cache_dir,
                local_files_only=local_files_only,
                token=token,
                allow_patterns=HUB_FILES,
            )
        )
    except Exception as exc:  # hub, network and cache errors alike: one message
        raise ConfigError(
            f"{path}: no such model folder, and not a Hugging Face Hub model that can be had "
            f"({type(exc).__name__}: {exc})"
        ) from None
