"""How much a light-curve embedding knows about brightness: ridge-probe R² of the apparent
and the absolute peak magnitude (``maven.evaluation.features``) from the photometry
embedding of a saved model, on real objects with a known redshift, beside the same probe
on the redshift-token inputs alone ([z, log(1+z)] vs [z, log(1+z), distance modulus]).

    python benchmarks/probe_luminosity.py --model weights/maven-base --data data/real

Prints one line per probe target: ``target input R2 (5-fold mean +- std)``.
"""

from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    import torch
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import maven
    from maven.data.cosmology import distance_modulus
    from maven.evaluation.features import FEATURE_NAMES, lightcurve_features
    from maven.models.modeling_maven import PHOTOMETRY_INPUTS

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--max-objects", type=int, default=3000)
    args = ap.parse_args()
    torch.set_num_threads(1)
    sne = [
        sn
        for sn in maven.read_dataset(args.data)
        if sn.lightcurve is not None and sn.redshift is not None and sn.redshift > 0
    ][: args.max_objects]
    feats = np.stack([lightcurve_features(sn.lightcurve, sn.redshift) for sn in sne])
    apparent = feats[:, FEATURE_NAMES.index("peak_mag")]
    absolute = feats[:, FEATURE_NAMES.index("peak_abs_mag")]
    keep = np.isfinite(apparent) & np.isfinite(absolute)
    sne = [sn for sn, k in zip(sne, keep, strict=True) if k]
    apparent, absolute = apparent[keep], absolute[keep]
    model, processor = maven.from_pretrained(args.model, task="towers")
    emb = []
    with torch.no_grad():
        for i in range(0, len(sne), 256):
            batch = processor(sne[i : i + 256])
            emb.append(
                model.get_photometry_features(**{k: batch[k] for k in PHOTOMETRY_INPUTS}).numpy()
            )
    emb = np.concatenate(emb)
    z = np.array([sn.redshift for sn in sne])
    inputs = {
        "embedding": emb,
        "[z, log(1+z)] + peak mag": np.c_[z, np.log1p(z), -apparent / 2.5],
        "[z, log(1+z), mu(z)] + peak mag": np.c_[
            z, np.log1p(z), distance_modulus(z), -apparent / 2.5
        ],
    }
    cv = KFold(5, shuffle=True, random_state=0)
    print(f"{len(sne)} objects with a light curve and a redshift; model {args.model}")
    for target, y in (("apparent peak mag", apparent), ("absolute peak mag", absolute)):
        for name, x in inputs.items():
            if name != "embedding" and target.startswith("apparent"):
                continue
            probe = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))
            r2 = cross_val_score(probe, x, y, cv=cv, scoring="r2")
            print(f"{target:18s} from {name:38s} R2 {r2.mean():.3f} +- {r2.std():.3f}")


if __name__ == "__main__":
    main()
