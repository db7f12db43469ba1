"""Toy supernovae for fast tests: light curves and spectra that differ per object, no ../shared."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from maven.data.records import LightCurve, Spectrum, Supernova


def toy_supernovae(n: int, seed: int = 0) -> list[Supernova]:
    """``n`` paired supernovae: a rise/decline light curve in ZTF g/r and a spectrum whose
    absorption line position and slope, like the light-curve width and colour, vary per object."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        width = rng.uniform(5, 40)
        colour = rng.uniform(0.5, 2.0)
        t = np.sort(rng.uniform(0, 100, 40))
        bands = np.where(np.arange(40) % 2 == 0, "ztf::g", "ztf::r")
        peak = 50.0 + rng.uniform(-10, 10)
        model = (
            100 * np.exp(-0.5 * ((t - peak) / width) ** 2) * np.where(bands == "ztf::g", colour, 1)
        )
        err = np.full(40, 3.0)
        lc = LightCurve(58000 + t, bands, model + rng.normal(0, 3, 40), err, object_id=f"toy{i}")
        w = np.linspace(3800, 9200, 400)
        line = rng.uniform(4500, 8500)
        f = (w / 6000) ** (-colour) * (1 - 0.6 * np.exp(-0.5 * ((w - line) / 80) ** 2))
        spec = Spectrum(
            w,
            f + rng.normal(0, 0.01, w.size),
            np.full(w.size, 0.01),
            mjd=58000 + peak,
            object_id=f"toy{i}",
        )
        out.append(
            Supernova(
                f"toy{i}",
                lightcurve=lc,
                spectra=[spec],
                type_raw="Ia",
                redshift=0.05,
                meta={"width": width, "line": line},
            )
        )
    return out


def tiny_training(folder: Path, n_objects: int, **settings) -> dict:
    """Settings of a tiny CPU pre-training on ``n_objects`` toy supernovae written to
    ``folder/toy`` (once), ``settings`` replacing the defaults."""
    from maven.io import write_dataset

    data = folder / "toy"
    if not data.exists():
        write_dataset(toy_supernovae(n_objects, seed=1), data)
    base = dict(
        model={"preset": "tiny"},
        data={"train": str(data), "val": str(data)},
        batch_size=8,
        max_steps=6,
        lr=2e-3,
        warmup_steps=1,
        log_every=1,
        eval_every=3,
        cpu=True,
        seed=3,
    )
    return {**base, **settings}
