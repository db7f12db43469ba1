"""Cause 1 of issue 12, replayed on a baseline: what a wavelength stretch that keeps the
label does to the logistic-regression spectrum classifier (one fold, rest frame).

    python benchmarks/ablate_spectral_stretch.py --data data/real [--fold 0]

Each training spectrum's wavelengths are multiplied by (1 + s), s ~ U(-a, a), as the
processor's ``aug_max_stretch`` did before it was restricted to light-curve times; the test
fold is left as observed. Prints macro-F1 per stretch amplitude a.
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np


def main() -> None:
    from maven.data.folds import assign_folds
    from maven.data.types import DEFAULT_CLASSES
    from maven.evaluation.metrics import classification_metrics
    from maven.evaluation.spectral_baselines import SpectrumLinearClassifier, processor_spectra
    from maven.io import read_dataset
    from maven.models import MavenProcessor

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--fold", type=int, default=0)
    args = ap.parse_args()
    proc = MavenProcessor(spectrum_frame="rest")
    sne = [
        sn
        for sn in read_dataset(args.data)
        if sn.spectra and sn.type in DEFAULT_CLASSES and sn.redshift is not None
    ]
    sne = [
        sn for sn, ok in zip(sne, processor_spectra(proc, sne)[1].any(axis=1), strict=True) if ok
    ]
    folds = assign_folds(sne, n_folds=5, seed=0, labels=[sn.type for sn in sne])
    train = [sn for sn, f in zip(sne, folds, strict=True) if f != args.fold]
    test = [sn for sn, f in zip(sne, folds, strict=True) if f == args.fold]
    rng = np.random.default_rng(0)
    for amplitude in (0.0, 0.02, 0.05):
        stretched = []
        for sn in train:
            factor = 1.0 + rng.uniform(-amplitude, amplitude)
            spectra = [dataclasses.replace(s, wavelength=s.wavelength * factor) for s in sn.spectra]
            stretched.append(dataclasses.replace(sn, spectra=spectra))
        keep = processor_spectra(proc, stretched)[1].any(axis=1)
        fit = [sn for sn, ok in zip(stretched, keep, strict=True) if ok]
        clf = SpectrumLinearClassifier(proc).fit(fit, [sn.type for sn in fit])
        f1 = classification_metrics(
            [sn.type for sn in test], clf.predict(test), labels=list(DEFAULT_CLASSES)
        )["macro_f1"]
        print(f"stretch +-{amplitude:.2f}: macro-F1 {f1:.3f} ({len(fit)} train, {len(test)} test)")


if __name__ == "__main__":
    main()
