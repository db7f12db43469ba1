"""Classify supernovae without labels: one table row per object, keyed by its id.

>>> import maven
>>> table = maven.classify("alerts/", model="weights/maven-base")      # doctest: +SKIP
>>> table.column_names[:4]                                              # doctest: +SKIP
['id', 'type', 'p_Ia', 'p_II']

Per chunk of ``chunk_size`` records (memory stays bounded whatever the input's size): read ->
input checks -> processor (batches sorted by light-curve length) -> towers (a tower that no
object of a batch has is skipped) -> classification head (calibrated probabilities) ->
redshift head (optional) -> novelty and nearest neighbours in the reference index -> rows.

Columns: ``id``; ``type`` (the input's label, null when unlabelled); ``p_<class>`` (calibrated:
logit bias and temperature of the model folder); ``predicted``; ``redshift`` and
``redshift_sigma`` (1 sigma; from ``redshift_model``, else null); ``input_redshift`` (the
record's own); ``classifier_redshift`` (the redshift the classifier was given: the record's
own, or with ``feed_redshift`` the redshift model's estimate for a record without one);
``modality`` (the embedding searched: the light curve's when there is one, else the
spectrum's); ``novelty`` (mean cosine distance to the ``novelty_k`` nearest reference objects)
and ``novelty_percentile`` (among the reference objects' own leave-one-out scores); ``ood`` and
``ood_reason``; ``neighbours`` (the ``k`` nearest reference objects: ``name, type, redshift,
distance``). Rows without an input the
model can use have null probabilities and ``ood`` true.

**Out-of-distribution rules** (``ood`` is true when any fires; ``ood_reason`` names each):

1. a degenerate input (:func:`maven.models.input_checks.input_warnings`): fewer than 3
   detections, a constant or all-zero light curve or spectrum, a spectrum of fewer than 20
   pixels or off the model's wavelength grid;
2. no light curve or spectrum the model can use (nothing on the grid; a rest-frame model has
   no spectrum input without a redshift);
3. a redshift (the input's, else the predicted one) outside the training range: the model
   folder's ``finetune_summary.json`` ``"redshift_range"`` when recorded (``maven finetune``
   records 0 to the 99.5th percentile of its training split's redshifts, without a
   simulated supplement), else
   :data:`REDSHIFT_RANGE`;
4. a novelty percentile above :data:`NOVELTY_PERCENTILE` (further from its nearest reference
   objects than 99 % of the reference objects are from theirs).

Simulated-only classes (TDE, kilonova, 91bg-like) have no rule of their own: they are flagged
only when rule 4 catches them, which the shipped model does for few of them (see
``embeddings/README.md``, "Novelty").

The rules and the public API are here; reading in chunks in :mod:`maven.classifier.reading`,
the heads on a chunk in :mod:`~maven.classifier.heads`, the table's schema and writers in
:mod:`~maven.classifier.table`, the labelled evaluation in :mod:`~maven.classifier.labelled`.
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from maven.classifier.heads import (
    Classifier,
    OnnxHead,
    load_head,
    predict_redshifts,
    run_head,
    search_reference,
    with_redshifts,
)
from maven.classifier.labelled import collect_labelled, write_labelled_evaluation
from maven.classifier.reading import iter_record_chunks
from maven.classifier.table import record_batch, table_schema, write_csv_batch
from maven.errors import ConfigError, MavenError

__all__ = [
    "DEFAULT_MODEL",
    "NOVELTY_PERCENTILE",
    "REDSHIFT_RANGE",
    "REFERENCE_DIR",
    "classify",
    "iter_classify",
    "iter_record_chunks",
    "ood_summary",
    "write_classification",
]

#: training redshift range when the model folder records none: 0 to the 99.5th percentile of
#: the development set's redshifts (5372 objects, 0.0001-0.80; the highest is 2.0)
REDSHIFT_RANGE = (0.0, 0.8)
#: novelty percentile above which an object is out of distribution
NOVELTY_PERCENTILE = 99.0
#: the shipped classifier (``model=`` default): ``weights/maven-base`` of this checkout
DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "weights" / "maven-base"
#: the reference index's folder inside a model folder (``reference="auto"``)
REFERENCE_DIR = "reference"
#: short names of the OOD rules, for summaries
_RULES = {
    "input": "degenerate input",
    "unusable": "no usable input",
    "redshift": "redshift outside the training range",
    "novelty": f"novelty above the {NOVELTY_PERCENTILE:g}th percentile",
}


# ---------------------------------------------------------------------- setting up a run


def _redshift_range(folder: Path | None) -> tuple[float, float]:
    """The model folder's recorded training redshift range, else :data:`REDSHIFT_RANGE`."""
    path = None if folder is None else folder / "finetune_summary.json"
    if path is None or not path.is_file():
        return REDSHIFT_RANGE
    try:
        rng = json.loads(path.read_text()).get("redshift_range")
    except (OSError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{path}: unreadable ({exc})") from None
    if rng is None:
        return REDSHIFT_RANGE
    if (
        not isinstance(rng, (list, tuple))
        or len(rng) != 2
        or not all(isinstance(v, (int, float)) and np.isfinite(v) for v in rng)
        or not rng[0] < rng[1]
    ):
        raise ConfigError(f"{path}: redshift_range must be [low, high], got {rng!r}")
    return float(rng[0]), float(rng[1])


def _load_reference(reference, folder: Path | None, model_hash: str):
    """``(index, where)``: the reference :class:`~maven.search.EmbeddingIndex` and its
    folder, ``(None, None)`` without one."""
    from maven.search import EmbeddingIndex

    if reference is None:
        return None, None
    if isinstance(reference, EmbeddingIndex):
        reference.check_model(model_hash)
        return reference, "(in memory)"
    if isinstance(reference, str) and reference == "auto":
        if folder is None or not (folder / REFERENCE_DIR / "manifest.json").is_file():
            warnings.warn(
                "no reference index beside the model: no novelty or neighbours (build one with "
                "`maven index build DATA --model MODEL --output MODEL/reference`)",
                stacklevel=3,
            )
            return None, None
        reference = folder / REFERENCE_DIR
    try:
        return EmbeddingIndex.load(reference, model_hash=model_hash), str(reference)
    except MavenError as exc:
        raise MavenError(
            f"{exc} (rebuild the reference for this model: `maven index build DATA "
            f"--model MODEL --output {reference}`)"
        ) from None


def _setup(
    model,
    processor,
    redshift_model,
    feed_redshift,
    reference,
    k,
    novelty_k,
    batch_size,
    device,
    onnx=None,
) -> Classifier:
    """The :class:`Classifier` of a run: arguments checked, heads and reference loaded."""
    from maven.search import model_hash

    for name, v in (("k", k), ("novelty_k", novelty_k), ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise MavenError(f"{name} must be a positive integer, got {v!r}")
    if not isinstance(feed_redshift, bool):
        raise MavenError(f"feed_redshift must be True or False, got {feed_redshift!r}")
    if feed_redshift and redshift_model is None:
        raise MavenError("feed_redshift needs a redshift_model whose estimates it feeds")
    model, processor, folder = load_head(model, processor, "classification")
    if device is not None:
        model = model.to(device)
    h = model_hash(folder if folder is not None else model)
    if onnx is not None:  # the head's forward passes in onnxruntime; config and reference stay
        model = OnnxHead(onnx, model, processor)
    index, where = _load_reference(reference, folder, h)
    clf = Classifier(
        model=model,
        processor=processor,
        model_hash=h,
        labels=[model.config.id2label[i] for i in range(model.num_labels)],
        redshift_range=_redshift_range(folder),
        index=index,
        reference=where,
        k=k,
        novelty_k=novelty_k,
        batch_size=batch_size,
        device=device,
        feed_redshift=feed_redshift,
    )
    if redshift_model is not None:
        clf.z_model, clf.z_processor, _ = load_head(redshift_model, None, "redshift")
        if device is not None:
            clf.z_model = clf.z_model.to(device)
    return clf


# ---------------------------------------------------------------------- one chunk


def _classify_chunk(clf: Classifier, chunk: list, collect: dict | None):
    """The table rows (a ``pyarrow.RecordBatch``) of one chunk of records."""
    import torch

    from maven.models.input_checks import input_warnings

    n = len(chunk)
    reasons: list[list[tuple[str, str]]] = [[] for _ in range(n)]
    for i, w in enumerate(input_warnings(chunk, clf.processor)):
        if w:
            reasons[i] += [("input", r) for r in w.split("; ")]
    lengths = [0 if sn.lightcurve is None else len(sn.lightcurve) for sn in chunk]
    order = np.argsort(lengths, kind="stable")
    with torch.inference_mode():
        z = np.full(n, np.nan, np.float32)
        z_sigma = np.full(n, np.nan, np.float32)
        given = chunk
        if clf.feed_redshift:  # the redshift head first; its estimates go to the classifier
            z, z_sigma = predict_redshifts(clf, chunk, order, None, z, z_sigma)
            given = with_redshifts(chunk, z)
        ok, out, batches, refused = run_head(
            clf.model, clf.processor, given, order, clf.batch_size, clf.device, True
        )
        if clf.z_model is not None and not clf.feed_redshift:
            same = clf.z_processor.to_dict() == clf.processor.to_dict()
            z, z_sigma = predict_redshifts(clf, chunk, order, batches if same else None, z, z_sigma)
    has = {m: np.zeros(n, bool) for m in ("photometry", "spectrum")}
    for batch, rows in batches:
        for m in has if batch is not None else ():
            has[m][rows] = np.asarray(batch[f"has_{m}"])
    mod = clf.model.config.head_modality
    use_p = has["photometry"] & (mod != "spectrum")  # the towers the head ran
    use_s = has["spectrum"] & (mod != "photometry")
    modality = np.where(use_p, "photometry", np.where(use_s, "spectrum", ""))
    modality[~ok] = ""
    novelty = np.full(n, np.nan)
    pct = np.full(n, np.nan)
    neighbours: list[list[dict]] = [[] for _ in range(n)]
    for m in ("photometry", "spectrum"):
        rows = np.flatnonzero(modality == m)
        if clf.index is None or not len(rows) or clf.index.count(m) == 0:
            continue
        s, p, hits = search_reference(clf, out[f"{m}_embeds"][rows], m)
        novelty[rows], pct[rows] = s, p
        for r, h in zip(rows, hits, strict=True):
            neighbours[r] = [
                {
                    "name": x["id"],
                    "type": x["type"],
                    "redshift": x["redshift"],
                    "distance": x["distance"],
                }
                for x in h
            ]
    lo, hi = clf.redshift_range
    need = {"photometry": "light curve", "spectrum": "spectrum"}.get(mod, "light curve or spectrum")
    for i, sn in enumerate(chunk):
        if i in refused:
            reasons[i].append(("unusable", f"the processor refused it: {refused[i]}"))
        elif not ok[i]:
            reasons[i].append(("unusable", f"no {need} the model can use"))
        zi, what = (sn.redshift, "redshift") if sn.redshift is not None else (z[i], "predicted z")
        if zi is not None and np.isfinite(zi) and not lo <= zi <= hi:
            reasons[i].append(
                ("redshift", f"{what} {zi:.3g} outside the training range {lo:g}-{hi:g}")
            )
        if pct[i] > NOVELTY_PERCENTILE:
            reasons[i].append(
                ("novelty", f"novelty percentile {pct[i]:.2f} > {NOVELTY_PERCENTILE:g}")
            )
    probs = np.full((n, len(clf.labels)), np.nan)
    if "logits" in out:
        from maven.models.inference import calibrated_probabilities

        probs[ok] = calibrated_probabilities(clf.model, out["logits"][ok].astype(np.float64))
    predicted = [
        clf.labels[int(np.argmax(p))] if g else None for p, g in zip(probs, ok, strict=True)
    ]
    if collect is not None:
        collect_labelled(collect, clf, chunk, ok, out.get("logits"), probs, predicted)
    return record_batch(
        clf, chunk, given, probs, predicted, z, z_sigma, modality, novelty, pct, reasons, neighbours
    )


# ---------------------------------------------------------------------- public API


def iter_classify(data, **kwargs) -> Iterator:
    """:func:`classify` one chunk at a time: a ``pyarrow.RecordBatch`` per chunk of
    ``chunk_size`` records (same arguments)."""
    yield from _run(data, {}, **kwargs)


def _run(
    data,
    state: dict,
    *,
    model=DEFAULT_MODEL,
    processor=None,
    redshift_model=None,
    feed_redshift: bool = False,
    onnx=None,
    reference="auto",
    k: int = 5,
    novelty_k: int = 10,
    chunk_size: int = 1024,
    batch_size: int = 128,
    device=None,
    progress: bool = True,
    format: str | None = None,
    options: dict | None = None,
) -> Iterator:
    """The record batches; ``state`` receives the classifier, skipped files and rule counts."""
    from tqdm.auto import tqdm

    clf = _setup(
        model,
        processor,
        redshift_model,
        feed_redshift,
        reference,
        k,
        novelty_k,
        batch_size,
        device,
        onnx,
    )
    state.update(classifier=clf, skipped=[], rules=Counter())
    total = len(data) if hasattr(data, "__len__") and not isinstance(data, (str, Path)) else None
    chunks = iter_record_chunks(
        data, chunk_size, format=format, options=options, skipped=state["skipped"]
    )
    with tqdm(total=total, desc="classify", unit="obj", disable=not progress) as bar:
        for chunk in chunks:
            batch, rules = _classify_chunk(clf, chunk, state.get("collect"))
            state["rules"].update(r for rs in rules for r in rs)
            bar.update(len(chunk))
            yield batch


def classify(data, **kwargs) -> Any:
    """Classify supernovae (labels optional) into a ``pyarrow.Table``, one row per object.

    Args:
        data: records, a maven parquet dataset, a file or a folder in any readable format
            (see :func:`iter_record_chunks`); read in chunks.
        model: a classification head folder (or Hub id; default ``weights/maven-base``), or
            a loaded :class:`~maven.models.MavenForSupernovaClassification` with
            ``processor``.
        redshift_model: an optional :class:`~maven.models.MavenForRedshift` folder for the
            ``redshift`` / ``redshift_sigma`` columns.
        feed_redshift: give the classifier the redshift model's estimate for each record
            without a redshift of its own (its distance-modulus token and a rest-frame
            spectrum then have one); off by default: the classifier sees the input's redshifts
            only. Not yet measured on held-out objects against leaving the redshift out.
        onnx: a ``maven export onnx`` folder of ``model``: the classification head's forward
            passes run in onnxruntime (the ``onnx`` extra); labels, calibration and the
            reference index are ``model``'s. An export of another model is refused.
        reference: the reference index (a folder or :class:`~maven.search.EmbeddingIndex`)
            for novelty and neighbours; ``"auto"`` (default): ``MODEL/reference`` (with a
            warning, and no novelty, where there is none); ``None``: none. An index built
            with other weights is refused.
        k: neighbours per object; novelty_k: neighbours of the novelty score when the
            reference has no calibration (else its calibrated k).
        chunk_size, batch_size: records per chunk read / per forward pass.
        device, progress, format, options: torch device, progress bar, reader options.

    Returns:
        the table (columns and OOD rules in the module docs). It holds every object's row;
        for inputs of any size stream them to a file with :func:`write_classification`.

    Raises:
        ConfigError: a model that is not the head asked for, a bad ``redshift_range``.
        MavenError: bad arguments, an unreadable input, a reference of another model.
    """
    import pyarrow as pa

    state: dict = {}
    batches = list(_run(data, state, **kwargs))
    return pa.Table.from_batches(batches, schema=table_schema(state["classifier"].labels))


def write_classification(
    data,
    out: str | Path,
    *,
    evaluation: str | Path | None = None,
    **kwargs,
) -> dict:
    """Stream :func:`classify`'s rows into ``out`` (``.parquet``, or ``.csv`` with the
    neighbours as ``neighbour<i>_<field>`` columns), written atomically; with ``evaluation``
    (a folder) also :func:`maven.evaluation.evaluate.write_evaluation`'s report on the
    objects whose label is one of the model's classes (early classification: use
    ``maven evaluate``). Keyword arguments: as :func:`classify`.

    Returns:
        a JSON-ready summary: ``n``, ``out``, ``predicted`` (class -> count), ``ood``,
        ``ood_rules`` (rule -> count), ``skipped_files``, ``duplicate_ids`` (ids met in more
        than one chunk), ``reference`` and, with ``evaluation``, ``metrics`` and ``files``.

    Raises:
        MavenError: an unknown table format, nothing to classify, what :func:`classify`
            raises (the previous ``out``, if any, is kept).
    """
    import pyarrow.parquet as pq

    from maven.utils.atomic import staged_file

    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise MavenError(f"{out}: the table must be .parquet or .csv")
    state: dict = {}
    if evaluation is not None:
        state["collect"] = {
            **{key: [] for key in ("id", "true", "predicted", "probabilities", "logits")},
            "groups": {},
            "dropped": Counter(),
        }
    n = n_ood = duplicates = 0
    predicted: Counter = Counter()
    ids: set[str] = set()
    out.parent.mkdir(parents=True, exist_ok=True)
    with staged_file(out) as tmp:
        writer = csv = None
        try:
            for batch in _run(data, state, **kwargs):
                n += batch.num_rows
                n_ood += sum(batch.column("ood").to_pylist())
                predicted.update(p for p in batch.column("predicted").to_pylist() if p)
                for i in batch.column("id").to_pylist():
                    duplicates += i in ids
                    ids.add(i)
                if suffix == ".csv":
                    csv = write_csv_batch(csv, tmp, batch)
                    continue
                if writer is None:
                    writer = pq.ParquetWriter(tmp, batch.schema)
                writer.write_batch(batch)
        finally:
            for w in (writer, csv and csv[0]):
                if w is not None:
                    w.close()
        if n == 0:
            raise MavenError(f"{data}: nothing to classify (no readable record)")
    clf = state["classifier"]
    summary: dict[str, Any] = {
        "n": n,
        "out": str(out),
        "predicted": dict(predicted.most_common()),
        "ood": n_ood,
        "ood_rules": {_RULES[r]: c for r, c in state["rules"].most_common()},
        "skipped_files": state["skipped"],
        "duplicate_ids": duplicates,
        "reference": clf.reference,
    }
    if evaluation is not None:
        summary.update(write_labelled_evaluation(clf, state["collect"], evaluation))
    return summary


def ood_summary(summary: dict) -> str | None:
    """The lower-confidence sentence of a :func:`write_classification` summary, or ``None``
    when every object is like the training set."""
    if not summary["ood"]:
        return None
    rules = ", ".join(f"{r}: {c}" for r, c in summary["ood_rules"].items())
    return (
        f"{summary['ood']} of {summary['n']} objects are unlike the training set ({rules}): "
        "treat their classes as unreliable (ood = true in the table)"
    )
