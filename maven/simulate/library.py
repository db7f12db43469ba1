"""The template library of a configuration: the grids of every class it simulates, held-out
ones filtered, the physics banks where templates are missing, and where each came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from maven.errors import ConfigError, MavenError
from maven.simulate.grid import (
    NOVEL_CLASSES,
    TemplateGrid,
    extend_late_time,
    load_builtin_hsiao,
)
from maven.simulate.physics import fallback_bank, kilonova_bank, magnetar_bank, tde_bank
from maven.simulate.templates import (
    CATALOG,
    available_templates,
    load_template,
)

__all__ = ["TemplateLibrary", "get_library", "is_held"]


@dataclass(eq=False)
class TemplateLibrary:
    """Templates per class for one configuration, and where they came from."""

    by_class: dict[str, list[TemplateGrid]]
    template_dir: str | None
    sources: dict[str, list[str]] = field(default_factory=dict)

    def get(self, template_id: str) -> TemplateGrid:
        """The template with id ``template_id``, whatever its class.

        Raises:
            MavenError: no template of that id in the library."""
        for grids in self.by_class.values():
            for g in grids:
                if g.id == template_id:
                    return g
        raise MavenError(f"template {template_id!r} is not in this library")


_PHYSICS_BANKS = {"SLSN-I": magnetar_bank, "TDE": tde_bank}


def _load_class_templates(root: Path | None, classes: tuple[str, ...]) -> dict:
    """Catalogued templates of ``classes`` found under ``root``. Kasen+17 kilonovae need
    ``h5py``; without it they are skipped (the physics kilonovae stand in)."""
    by_class: dict[str, list[TemplateGrid]] = {c: [] for c in classes}
    for info in available_templates(root):
        if info.cls not in by_class:
            continue
        try:
            by_class[info.cls].append(load_template(info, root))
        except ImportError:
            if info.family != "kasen17":
                raise
    return by_class


def _missing_91bg(root: Path | None) -> ConfigError:
    rel = next(t.relpath for t in CATALOG if t.cls == "Ia-91bg")
    where = f"template directory {root}" if root else "no template directory (or use_templates off)"
    return ConfigError(
        f"class 'Ia-91bg' needs the Nugent 91bg template {rel!r} in the template directory; "
        f"{where}. Set template_dir / $MAVEN_TEMPLATE_DIR, or drop 'Ia-91bg' from classes."
    )


def is_held(g: TemplateGrid, heldout_subtypes: tuple[str, ...] = ()) -> bool:
    """True when ``g`` is held out: by the catalogue, or its subtype in ``heldout_subtypes``."""
    return g.heldout or g.subtype in heldout_subtypes


@lru_cache(maxsize=8)
def get_library(
    template_dir: str | None,
    classes: tuple[str, ...],
    heldout: str,
    use_templates: bool = True,
    heldout_subtypes: tuple[str, ...] = (),
) -> TemplateLibrary:
    """The template library (cached per process). ``template_dir`` must be resolved already.

    Physics banks: SLSN-I (magnetars) and TDE always; II/Ibc/IIn/KN when the template directory
    has none (KN also when ``h5py`` is missing); Ia falls back to sncosmo's bundled Hsiao; Ia-91bg
    has no fallback (:class:`ConfigError`). Novel classes are held out as a whole: ``heldout``
    does not filter their templates. ``heldout_subtypes`` adds whole subtypes to the held-out
    set (a subtype that no template of ``classes`` has raises :class:`ConfigError`). Ia
    templates are continued to +150 d by :func:`~maven.simulate.grid.extend_late_time`."""
    root = Path(template_dir) if (template_dir and use_templates) else None
    by_class = _load_class_templates(root, classes)
    need_fallback = any(not by_class[c] for c in classes if c in ("II", "Ibc", "IIn"))
    fallback = fallback_bank() if need_fallback else []
    for c in classes:
        if c == "SLSN-I":  # real SLSN-I spectral features when the template dir has them
            by_class[c] = magnetar_bank(template_dir=root)
        elif c in _PHYSICS_BANKS:
            by_class[c] = _PHYSICS_BANKS[c]()
        elif by_class[c]:
            continue
        elif c == "Ia":
            by_class[c] = [load_builtin_hsiao()]
        elif c == "KN":
            by_class[c] = kilonova_bank()
        elif c == "Ia-91bg":
            raise _missing_91bg(root)
        else:
            by_class[c] = [g for g in fallback if g.cls == c]
    if "Ia" in by_class:  # SALT ends at +50 d, BayeSN/Hsiao at +85 d: real curves go on
        by_class["Ia"] = [extend_late_time(g) for g in by_class["Ia"]]
    subtypes = {g.subtype for c in classes for g in by_class[c]}
    unknown = sorted(set(heldout_subtypes) - subtypes)
    if unknown:
        raise ConfigError(
            f"heldout_subtypes {unknown} match no template of classes {list(classes)}; "
            f"subtypes here: {sorted(subtypes)}"
        )
    for c in classes:
        if c in NOVEL_CLASSES:
            continue
        held = {g.id for g in by_class[c] if is_held(g, heldout_subtypes)}
        if heldout == "exclude":
            keep = [g for g in by_class[c] if g.id not in held]
        elif heldout == "only":
            keep = [g for g in by_class[c] if g.id in held]
        else:
            keep = list(by_class[c])
        if not keep:
            raise ConfigError(f"no templates left for class {c!r} with heldout={heldout!r}")
        by_class[c] = keep
    sources = {c: [f"{g.id} ({g.source})" for g in gs] for c, gs in by_class.items()}
    return TemplateLibrary(by_class, str(root) if root else None, sources)
