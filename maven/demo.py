"""``make demo``: what maven can do today, end to end, on data the dependencies ship.

Runs on a fresh clone with no ``../shared`` and no network. With ``--data PATH`` it also reads
a folder (or file) of real supernova data in any supported format and summarises it.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from maven import MavenError
from maven.data.bands import resolve_band
from maven.data.records import LightCurve, Spectrum, Supernova
from maven.data.summary import format_summary, summarize
from maven.io import read_dataset, read_supernovae, write_dataset
from maven.io.tables import from_table
from maven.plotting import plot_supernova


def _section(title: str) -> None:
    print(f"\n=== {title} " + "=" * max(0, 70 - len(title)))


def demo_readers(out: Path) -> Supernova:
    """sncosmo's example photometry -> a validated record, a plot, a parquet round trip."""
    import sncosmo

    _section("1. read an sncosmo photometric table (sncosmo's example data)")
    table = sncosmo.load_example_data()
    sn = from_table(table, object_id="sncosmo-example", source="sncosmo.load_example_data()")
    lc = sn.lightcurve
    print(f"{sn.id}: {len(lc)} points in {lc.bands}, z={sn.redshift}")
    print(
        f"zero point 25 (sncosmo) -> uJy (AB 23.9): first flux {table['flux'][0]:.4f} -> "
        f"{lc.flux[np.argsort(lc.time)][0]:.4f} uJy"
    )
    png = out / "example_lightcurve.png"
    plot_supernova(sn, png)
    print(f"plot: {png}")
    return sn


def demo_bands() -> None:
    """Resolve band names as real data write them (with and without context) and print each."""
    _section("2. band registry: names as real data write them, placed with context")
    cases = [
        ("R", {"telescope": "P48"}),
        ("c", {}),
        ("w", {"telescope": "Pan-STARRS1"}),
        ("UVW1", {"telescope": "Swift", "instrument": "UVOT"}),
        ("B", {"telescope": "Swift", "instrument": "UVOT"}),
        ("V", {"telescope": "kait4"}),
        ("r'", {}),
        ("clear", {"telescope": "kait4"}),
        ("gr", {"instrument": "LSQ"}),
    ]
    for band, ctx in cases:
        where = ", ".join(f"{k}={v}" for k, v in ctx.items()) or "no context"
        try:
            b = resolve_band(band, **ctx)
            print(
                f"  {band!r:8} ({where:34}) -> {b.name:12} lambda_eff={b.wave_eff:6.0f} A  "
                f"m_AB-m_Vega={b.vega_to_ab:+.3f}"
            )
        except MavenError as exc:
            print(f"  {band!r:8} ({where:34}) -> skipped: {exc}")


def demo_validation() -> None:
    """Show the errors that bad records raise and how unsorted or duplicate times are fixed."""
    _section("3. validation: bad records get errors naming object and field")
    t = np.array([1.0, 2.0, 3.0])
    bad = {
        "NaN flux": lambda: LightCurve(
            t, ["ztf::g"] * 3, [1, np.nan, 2], [1, 1, 1], object_id="SN-a"
        ),
        "negative error": lambda: LightCurve(
            t, ["ztf::g"] * 3, [1, 2, 3], [1, -1, 1], object_id="SN-b"
        ),
        "empty light curve": lambda: LightCurve([], [], [], [], object_id="SN-c"),
        "decreasing wavelength": lambda: Spectrum([5000, 4000, 6000], [1, 2, 3], object_id="SN-d"),
        "JD given as MJD": lambda: LightCurve(
            t + 2459000, ["ztf::g"] * 3, [1, 2, 3], [1, 1, 1], object_id="SN-e"
        ),
    }
    for what, make in bad.items():
        try:
            make()
            print(f"  {what:22} -> accepted (unexpected)")
        except MavenError as exc:
            print(f"  {what:22} -> {type(exc).__name__}: {exc}")
    lc = LightCurve(
        [3.0, 1.0, 2.0, 1.0], ["ztf::r"] * 4, [3, 1, 2, 1], [1, 1, 1, 1], object_id="SN-f"
    )
    sn = Supernova("SN-f", lightcurve=lc)
    print(
        f"  unsorted times + a duplicate -> fixed: times {lc.time.tolist()}, skipped {sn.skipped}"
    )


def demo_dataset(sn: Supernova, out: Path) -> None:
    """Write ``sn`` as a parquet dataset, read it back and load it with Hugging Face datasets."""
    _section("4. the parquet dataset: write, read back exactly, load with Hugging Face datasets")
    path = write_dataset([sn], out / "dataset", overwrite=True)
    back = read_dataset(path)[0]
    print(f"wrote {path}; round trip exact: {back.equals(sn)}")
    from maven.io import load_dataset

    ds = load_dataset(path)
    print(f"datasets.Dataset: {ds.num_rows} row(s), columns {ds.column_names[:6]}...")


def demo_simulate(out: Path, n: int) -> Path:
    """Simulate a small set (built-in sources: no template directory or network needed)."""
    from maven.simulate import SimConfig, simulate_dataset

    _section(f"5. simulate {n} supernovae (ZTF-like, tiny preset: built-in sources)")
    path = simulate_dataset(
        out / "sim",
        n,
        seed=1,
        workers=1,
        shard_size=n,
        config=SimConfig.preset("tiny"),
        overwrite=True,
    )
    sne = read_dataset(path)
    print(format_summary(summarize(sne)).split("points per band")[0].rstrip())
    simulate_dataset(
        out / "sim_val",
        n // 2,
        seed=2,
        workers=1,
        shard_size=n,
        config=SimConfig.preset("tiny"),
        overwrite=True,
        progress=False,
    )
    print(f"(+ {n // 2} more with another seed for validation: {out / 'sim_val'})")
    example = next(sn for sn in sne if sn.type == "Ia")
    plot_supernova(example, out / "simulated_ia.png")
    truth = {k: example.meta[k] for k in ("template", "z", "peak_abs_mag", "host_av")}
    print(f"a simulated Ia, truth {truth}; plot: {out / 'simulated_ia.png'}")
    spec = example.spectra[0].meta
    host = spec.get("host_template")
    host_text = f"host {host} at {spec['host_fraction']:.0%} of the SN flux" if host else "no host"
    print(f"its spectrum: {example.spectra[0].instrument}, {host_text} (built-in host shapes)")
    return path


def demo_pretrain(sim: Path, out: Path, steps: int) -> None:
    """A few contrastive steps of the tiny model, with validation retrieval against chance."""
    from maven.models.loading import from_pretrained
    from maven.training.config import TrainingConfig
    from maven.training.trainer import pretrain

    _section(f"6. contrastive pre-training: tiny model, {steps} steps on CPU")
    config = TrainingConfig(
        model={"preset": "tiny"},
        data={"train": str(sim), "val": str(sim.parent / "sim_val")},
        batch_size=32,
        max_steps=steps,
        lr=1e-3,
        warmup_steps=5,
        log_every=max(1, steps // 4),
        eval_every=steps,
        save_every=steps,
        cpu=True,
    )
    summary = pretrain(config, out / "pretrain")
    val = summary["final_validation"]
    n = val["n"]
    print(
        f"validation on {n} unseen pairs: loss {val['loss']:.3f} (chance {np.log(n):.3f}), "
        f"light curve -> spectrum top-1 {val['phot2spec_top1']:.3f} (chance {1 / n:.3f}), "
        f"top-10 {val['phot2spec_top10']:.3f} (chance {min(1, 10 / n):.3f})"
    )
    model, _ = from_pretrained(out / "pretrain" / "model")
    n_params = sum(p.numel() for p in model.parameters())
    print(
        f"reloaded with maven.from_pretrained: {n_params} parameters; curves: "
        f"{out / 'pretrain' / 'training_curves.png'}"
    )
    print("(a tiny model for seconds is a smoke test, not a useful embedding: see pretrain/)")


def demo_search(sim: Path, out: Path) -> None:
    """Embed the simulated set, index it, and ask for look-alikes and outliers."""
    from maven.search.api import build_index, embed_dataset, novelty_table, search

    _section("7. embeddings, a FAISS index, cross-modal look-alikes and novelty")
    model = out / "pretrain" / "model"
    emb = embed_dataset(model, sim, out / "embeddings.parquet", progress=False)
    print(f"embedded {emb['count']} objects (dim {emb['dim']}) -> {emb['output']}")
    manifest = build_index(out / "embeddings.parquet", out / "index", progress=False)
    print(f"index {out / 'index'}: {manifest['counts']} vectors, verified manifest + checksums")
    query = read_dataset(sim)[0]
    (res,) = search(out / "index", ids=[query.id], k=5, modality="spectrum")
    print(f"spectra nearest to the light curve of {query.id} (a {query.type}):")
    for hit in res["hits"]:
        print(
            f"  {hit['rank']}. {hit['id']}  {hit['type']:7} z={hit['redshift']:.3f}  "
            f"distance={hit['distance']:.3f}"
        )
    rows = novelty_table(out / "index", output=out / "novelty.csv")
    top = ", ".join(f"{r['id']} ({r['type']}, {r['percentile']:.1f} pct)" for r in rows[:3])
    print(f"most novel: {top}; full table {out / 'novelty.csv'}")


def demo_finetune(sim: Path, out: Path) -> None:
    """Fine-tune the pre-trained tiny model as a classifier and evaluate it on unseen data."""
    from maven.evaluation.evaluate import evaluate, write_evaluation
    from maven.training.finetune import FinetuneConfig, finetune

    _section("8. fine-tune a classifier on the pre-trained towers, evaluate on unseen objects")
    config = FinetuneConfig(
        model=str(out / "pretrain" / "model"), epochs=15, batch_size=32, patience=15
    )
    model, processor, summary = finetune(
        config, read_dataset(sim), out / "classifier", progress=False
    )
    print(
        f"fine-tuned on {summary['n_train']} (validation {summary['n_val']}): best epoch "
        f"{summary['best']['epoch']}, calibration temperature "
        f"{summary['calibration']['temperature']:.2f}; model in {out / 'classifier'}"
    )
    metrics, preds = evaluate(model, processor, read_dataset(sim.parent / "sim_val"))
    m = metrics["metrics"]
    write_evaluation(metrics, preds, out / "evaluation")
    print(
        f"unseen {metrics['n']}: accuracy {m['accuracy']:.3f}, balanced accuracy "
        f"{m['balanced_accuracy']:.3f}, macro-F1 {m['macro_f1']:.3f} (chance 0.2), "
        f"ECE {m['ece_uncalibrated']:.3f} -> {m['ece']:.3f} after temperature scaling"
    )
    early = ", ".join(f"{e['days']} d: {e['accuracy']:.2f}" for e in m["early"])
    print(f"accuracy by days after first detection: {early}")
    print(f"report, confusion matrix, reliability and early-classification plots: {out}/evaluation")


def demo_shipped(sim: Path, out: Path, data: Path | None) -> None:
    """The committed maven-base classifier and its reference index on the user's data (or,
    without it, on simulated objects, which are unlike the observed supernovae it was trained
    on), with two inputs it should not trust: one detection, and a redshift beyond its
    training set's."""
    import dataclasses

    import pyarrow.parquet as pq

    from maven.classifier import DEFAULT_MODEL, ood_summary, write_classification

    if not (DEFAULT_MODEL / "config.json").exists():
        return
    _section(f"9. maven classify with the shipped {DEFAULT_MODEL.name} (trained on observed SNe)")
    if data is not None:
        sne = [sn for sn in read_supernovae(data) if sn.lightcurve is not None or sn.spectra][:8]
    else:
        sne = read_dataset(sim.parent / "sim_val")[:5]
        print("(no DATA given: simulated tiny-preset objects, unlike its real training set)")
    lc = next(sn for sn in sne if sn.lightcurve is not None)
    one = lc.lightcurve.select(np.arange(len(lc.lightcurve)) == int(np.argmax(lc.lightcurve.flux)))
    sne += [
        Supernova("one-detection", lightcurve=one, redshift=lc.redshift),
        dataclasses.replace(lc, id="at-z-1.5", redshift=1.5),
    ]
    summary = write_classification(sne, out / "classified.parquet", progress=False)
    for r in pq.read_table(summary["out"]).to_pylist():
        p = max((v for c, v in r.items() if c.startswith("p_") and v is not None), default=None)
        shown = "-" if p is None else f"{r['predicted']} {p:.2f}{'?' if r['ood'] else ''}"
        near = r["neighbours"][0] if r["neighbours"] else None
        near = f", nearest {near['name']} ({near['type']})" if near else ""
        z = "?" if r["input_redshift"] is None else f"{r['input_redshift']:.3g}"
        print(f"  {r['id']} (type {r['type']}, z={z}): {shown}{near}")
        if r["ood"]:
            print(f"      unlike the training set: {r['ood_reason']}")
    print(ood_summary(summary) or "every object is like the training set")
    print(f"table: {summary['out']} (`maven classify INPUT --out FILE.parquet` does the same)")
    print(f"(model card with cross-validated per-class performance: {DEFAULT_MODEL / 'README.md'})")


def demo_real(data: Path) -> None:
    """Read the supernovae in ``data`` (a file or folder) and print their summary."""
    _section(f"10. real data: {data}")
    sne = read_supernovae(data)
    print(format_summary(summarize(sne, sne.skipped_files)))


def main(argv: list[str] | None = None) -> int:
    """Run the demo's sections in order (``python -m maven.demo``); returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="a file or folder of real supernova data")
    parser.add_argument("--out", type=Path, help="where to write outputs (default: a temp dir)")
    parser.add_argument("--n-sim", type=int, default=300, help="supernovae to simulate")
    parser.add_argument("--steps", type=int, default=500, help="pre-training steps")
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="maven-demo-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"maven demo; outputs in {out}")
    sn = demo_readers(out)
    demo_bands()
    demo_validation()
    demo_dataset(sn, out)
    sim = demo_simulate(out, args.n_sim)
    demo_pretrain(sim, out, args.steps)
    demo_search(sim, out)
    demo_finetune(sim, out)
    demo_shipped(sim, out, args.data)
    if args.data:
        demo_real(args.data)
    else:
        print("\n(run `make demo DATA=path/to/folder` to read a folder of real data too)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
