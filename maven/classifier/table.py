"""The classification table: its schema, one chunk's record batch, and CSV output (the
neighbours flattened to ``neighbour<i>_<field>`` columns). Internal to :mod:`maven.classifier`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def table_schema(labels: list[str]):
    """The table's ``pyarrow`` schema for a model of classes ``labels``."""
    import pyarrow as pa

    hit = pa.struct(
        [
            ("name", pa.string()),
            ("type", pa.string()),
            ("redshift", pa.float64()),
            ("distance", pa.float64()),
        ]
    )
    return pa.schema(
        [("id", pa.string()), ("type", pa.string())]
        + [(f"p_{c}", pa.float64()) for c in labels]
        + [
            ("predicted", pa.string()),
            ("redshift", pa.float64()),
            ("redshift_sigma", pa.float64()),
            ("input_redshift", pa.float64()),
            ("classifier_redshift", pa.float64()),
            ("modality", pa.string()),
            ("novelty", pa.float64()),
            ("novelty_percentile", pa.float64()),
            ("ood", pa.bool_()),
            ("ood_reason", pa.string()),
            ("neighbours", pa.list_(hit)),
        ]
    )


def record_batch(
    clf, chunk, given, probs, predicted, z, z_sigma, modality, novelty, pct, reasons, hits
):
    """One chunk's rows as a ``pyarrow.RecordBatch`` and each row's OOD rule codes."""
    import pyarrow as pa

    def f64(x):
        x = np.asarray(x, np.float64)
        return pa.array(x, pa.float64(), mask=~np.isfinite(x))

    cols = [
        pa.array([sn.id for sn in chunk], pa.string()),
        pa.array([sn.type for sn in chunk], pa.string()),
        *(f64(probs[:, j]) for j in range(len(clf.labels))),
        pa.array(predicted, pa.string()),
        f64(z),
        f64(z_sigma),
        f64([np.nan if sn.redshift is None else sn.redshift for sn in chunk]),
        f64([np.nan if sn.redshift is None else sn.redshift for sn in given]),
        pa.array([m or None for m in modality], pa.string()),
        f64(novelty),
        f64(pct),
        pa.array([bool(r) for r in reasons], pa.bool_()),
        pa.array(["; ".join(t for _, t in r) or None for r in reasons], pa.string()),
    ]
    schema = table_schema(clf.labels)
    cols.append(pa.array(hits, schema.field("neighbours").type))
    batch = pa.RecordBatch.from_arrays(cols, schema=schema)
    rules = [sorted({code for code, _ in r}) for r in reasons]
    return batch, rules


def write_csv_batch(csv, path: Path, batch):
    """Append ``batch`` to a CSV, the neighbours flattened to ``neighbour<i>_<field>``;
    ``csv`` is ``(writer, k)`` after the first batch."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    hits = batch.column("neighbours").to_pylist()
    k = max([len(h) for h in hits] + [0]) if csv is None else csv[1]
    table = pa.Table.from_batches([batch]).drop_columns(["neighbours"])
    hit_type = batch.schema.field("neighbours").type.value_type
    for j in range(k):
        for field in hit_type:
            vals = [h[j][field.name] if j < len(h) else None for h in hits]
            table = table.append_column(
                f"neighbour{j + 1}_{field.name}", pa.array(vals, field.type)
            )
    if csv is None:
        csv = (pacsv.CSVWriter(str(path), table.schema), k)
    csv[0].write_table(table)
    return csv
