"""Registration of maven with transformers' Auto classes, without slowing ``import maven``.

:mod:`maven.models` registers ``"maven"`` with ``AutoConfig``, ``AutoModel``,
``AutoModelForSequenceClassification`` and ``AutoProcessor`` when imported, but importing it
(torch, transformers) takes seconds. So ``import maven`` calls :func:`register_when_used`: if
transformers' Auto classes are already imported it imports :mod:`maven.models` at once;
otherwise a one-shot import hook does it as soon as the first import that loads
``transformers.models.auto`` has finished (no transformers module half-initialised then),
and removes itself. ``import maven; AutoModel.from_pretrained(folder)`` therefore works, and
``import maven`` alone imports neither torch nor transformers.
"""

from __future__ import annotations

import importlib
import sys

__all__ = ["register_when_used"]

_AUTO = "transformers.models.auto"


def _is_transformers(name: str) -> bool:
    return name == "transformers" or name.startswith("transformers.")


class _Loader:
    """Runs the real loader; when the outermost transformers module is done, checks the hook."""

    def __init__(self, loader, hook: _Hook) -> None:
        self._loader = loader
        self._hook = hook

    def __getattr__(self, name: str):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        self._hook.depth += 1
        try:
            self._loader.exec_module(module)
        finally:
            self._hook.depth -= 1
        if self._hook.depth == 0 and _AUTO in sys.modules:
            self._hook.fire()


class _Hook:
    """A ``sys.meta_path`` finder that only wraps the loaders of transformers' modules."""

    def __init__(self) -> None:
        self.depth = 0

    def find_spec(self, name, path, target=None):
        if not _is_transformers(name):
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                if hasattr(spec.loader, "exec_module"):
                    spec.loader = _Loader(spec.loader, self)
                return spec
        return None

    def fire(self) -> None:
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        if "maven.models" not in sys.modules:  # (a half-imported one registers when done)
            importlib.import_module("maven.models")


def register_when_used() -> None:
    """Register maven's Auto classes now if transformers' are loaded, else on their import."""
    if _AUTO in sys.modules:
        importlib.import_module("maven.models")
    elif not any(isinstance(f, _Hook) for f in sys.meta_path):
        sys.meta_path.insert(0, _Hook())
