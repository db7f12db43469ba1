"""ONNX export of a saved maven model (``maven export onnx --model M --out DIR``).

The folder written holds one graph per part, each with a dynamic batch (and, for the light
curve, a dynamic number of observations; a spectrum always has the processor's
``spectrum_bins`` bins):

===============  =================================================  =======================
graph            inputs                                             outputs
===============  =================================================  =======================
photometry.onnx  the photometry tensors of a processor batch the    ``photometry_embeds``
                 model reads (the redshift ones only if it does)    (B, projection_dim)
spectrum.onnx    the spectrum tensors it reads                      ``spectrum_embeds``
head.onnx        (heads only) the towers' embeddings, and for       classification:
                 ``head_modality="both"`` ``has_photometry`` and    ``logits``,
                 ``has_spectrum``, with ``head_extra_features``     ``embeddings``;
                 ``photometry_features`` and its mask               redshift:
                                                                    ``redshift_mean``,
                                                                    ``redshift_sigma``,
                                                                    ``mu``, ``log_sigma``,
                                                                    ``embeddings``
===============  =================================================  =======================

The embeddings are :class:`~maven.models.MavenModel`'s (L2-normalised, as search stores
them); the head graph is :meth:`~maven.models.modeling_heads.MavenHeadModel.fuse` plus the
classifier or :meth:`~maven.models.modeling_heads.MavenForRedshift.gaussian`, so every
output is the torch model's. Only the towers a model uses are written (both for a
MavenModel). ``maven_onnx.json`` describes the graphs (inputs, outputs, dtypes, axes), the
labels and calibration, and the parity with torch measured on the example records;
``config.json`` and ``processor_config.json`` are copied, so
:class:`~maven.export.onnx_runtime.OnnxModel` needs nothing else.

Graphs come from torch's dynamo exporter (opset 18); ``aten.searchsorted`` (the redshift
token's distance-modulus table) is translated as a count of grid points below the value.
The folder is written beside ``out`` and swapped in only after every graph has loaded in
onnxruntime and matched torch within :data:`PARITY_TOLERANCE`.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from maven.errors import ConfigError, MavenError

__all__ = ["MANIFEST_NAME", "PARITY_TOLERANCE", "export_onnx", "require_onnx"]

MANIFEST_NAME = "maven_onnx.json"
FORMAT_VERSION = 1
OPSET = 18
#: largest |onnxruntime - torch| accepted on the example records, per output
PARITY_TOLERANCE = 1e-4
#: head task -> output names of the head graph (the order of ``MavenForRedshift.gaussian``)
HEAD_OUTPUTS = {
    "classification": ("logits", "embeddings"),
    "redshift": ("mu", "log_sigma", "redshift_mean", "redshift_sigma", "embeddings"),
}


def require_onnx(*modules: str) -> None:
    """Raise a clear :class:`~maven.errors.MavenError` if an ONNX package is missing."""
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise MavenError(f"ONNX support needs {', '.join(missing)}: pip install 'maven-sn[onnx]'")


def _searchsorted(sorted_sequence, self, out_int32=False, right=False, side=None, sorter=None):
    """ONNX for ``aten.searchsorted`` of a 1-D sorted grid: grid points below each value."""
    import onnx
    from onnxscript import opset18 as op

    x = op.Unsqueeze(self, [-1])
    right = right or side == "right"
    below = op.LessOrEqual(sorted_sequence, x) if right else op.Less(sorted_sequence, x)
    dtype = onnx.TensorProto.INT32 if out_int32 else onnx.TensorProto.INT64
    return op.ReduceSum(op.Cast(below, to=dtype), [-1], keepdims=0)


def _task(model) -> str | None:
    """``"classification"``, ``"redshift"`` or None (a MavenModel)."""
    from maven.models import MavenForRedshift, MavenForSupernovaClassification

    if isinstance(model, MavenForSupernovaClassification):
        return "classification"
    return "redshift" if isinstance(model, MavenForRedshift) else None


def _parts(model) -> dict[str, dict[str, Any]]:
    """The graphs of ``model``: name -> {module, inputs (names), outputs (names)}."""
    import torch
    from torch import nn

    from maven.models.modeling_maven import PHOTOMETRY_INPUTS, SPECTRUM_INPUTS

    task = _task(model)
    head = None if task is None else model
    towers = model if head is None else model.maven
    # the redshift head never reads the redshift, a classifier only with use_redshift_input
    feed_z = task is None or (task == "classification" and head.config.use_redshift_input)
    mod = "both" if head is None else head.config.head_modality

    class Embeds(nn.Module):
        def __init__(self, output: str, names: Sequence[str]) -> None:
            super().__init__()
            self.towers, self.output, self.names = towers, output, list(names)

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            out = self.towers(**dict(zip(self.names, tensors, strict=True)))
            return getattr(out, self.output)

    class Head(nn.Module):
        def __init__(self, names: Sequence[str]) -> None:
            super().__init__()
            self.head, self.names = head, list(names)

        def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
            x = dict(zip(self.names, tensors, strict=True))
            feats = self.head.fuse(  # (normalising the unit embeddings again changes nothing)
                x.get("photometry_embeds"),
                x.get("spectrum_embeds"),
                x.get("has_photometry"),
                x.get("has_spectrum"),
                x.get("photometry_features"),
                x.get("photometry_features_mask"),
            )
            if task == "classification":
                return self.head.classifier(feats), feats
            return (*self.head.gaussian(feats), feats)

    parts: dict[str, dict[str, Any]] = {}
    for name, all_inputs, cfg in (
        ("photometry", PHOTOMETRY_INPUTS, towers.config.photometry_config),
        ("spectrum", SPECTRUM_INPUTS, towers.config.spectrum_config),
    ):
        if mod in (name, "both"):
            use_z = cfg.use_redshift and feed_z
            names = [k for k in all_inputs if use_z or not k.startswith("redshift")]
            parts[name] = {
                "module": Embeds(f"{name}_embeds", names),
                "inputs": names,
                "outputs": [f"{name}_embeds"],
            }
    if head is not None:
        names = [f"{m}_embeds" for m in ("photometry", "spectrum") if m in parts]
        if mod == "both":
            names += ["has_photometry", "has_spectrum"]
        if head.config.head_extra_features:  # the processor's light-curve features
            names += ["photometry_features", "photometry_features_mask"]
        parts["head"] = {
            "module": Head(names),
            "inputs": names,
            "outputs": list(HEAD_OUTPUTS[task]),
        }
    return parts


#: inputs with one entry per observation (dynamic "length" axis)
_PER_OBSERVATION = {
    "photometry_values",
    "photometry_time",
    "photometry_wavelength",
    "photometry_mask",
}


def _export_graph(part: dict[str, Any], example: dict, path: Path) -> None:
    import torch

    dims: dict[str, Any] = {}
    shapes = []
    for k in part["inputs"]:
        axes = ("batch", "length") if k in _PER_OBSERVATION else ("batch",)
        shapes.append({i: dims.setdefault(a, torch.export.Dim(a)) for i, a in enumerate(axes)})
    log = logging.getLogger("torch.onnx")  # progress and "torchvision is not installed"
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                part["module"].eval(),
                tuple(example[k] for k in part["inputs"]),
                dynamo=True,
                opset_version=OPSET,
                input_names=part["inputs"],
                output_names=part["outputs"],
                dynamic_shapes=(tuple(shapes),),  # one entry: the varargs of forward
                custom_translation_table={torch.ops.aten.searchsorted.Tensor: _searchsorted},
                verbose=False,
            )
    except Exception as exc:  # torch.export / onnxscript errors have no common base
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise MavenError(
            f"{path.name}: the ONNX export failed ({type(exc).__name__}: {first})"
        ) from exc
    finally:
        log.setLevel(level)
    program.save(str(path), external_data=False)


def _describe(session) -> dict[str, list[dict]]:
    def one(arg) -> dict:
        dtype = arg.type.removeprefix("tensor(").removesuffix(")")
        return {
            "name": arg.name,
            "dtype": {"float": "float32"}.get(dtype, dtype),
            "shape": arg.shape,
        }

    return {
        "inputs": [one(a) for a in session.get_inputs()],
        "outputs": [one(a) for a in session.get_outputs()],
    }


def _example_batch(processor, parts: dict, supernovae: Sequence | None) -> dict:
    """A processor batch of the example records, with the towers' embeddings added."""
    import torch

    if supernovae is None:
        from maven.simulate import SimConfig, simulate

        supernovae = simulate(8, seed=0, config=SimConfig.preset("tiny"))
    batch = dict(processor(list(supernovae)))
    for name in ("photometry", "spectrum"):
        if name in parts and int(batch[f"has_{name}"].sum()) < 2:
            raise MavenError(f"the example records need at least 2 objects with {name} data")
    if batch["photometry_values"].shape[1] < 2:
        raise MavenError("the example records need light curves of at least 2 points")
    with torch.no_grad():
        for name in ("photometry", "spectrum"):
            if name in parts:
                part = parts[name]
                batch[part["outputs"][0]] = part["module"](*(batch[k] for k in part["inputs"]))
    return batch


def export_onnx(
    model_dir: str | Path,
    out: str | Path,
    *,
    supernovae: Sequence | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Export the model saved in ``model_dir`` (read by :func:`maven.from_pretrained`) as
    ONNX graphs into the folder ``out``; see the module docstring.

    Args:
        supernovae: example records for tracing and the parity check (at least two with
            a light curve and two with a spectrum); default: 8 simulated objects.
        overwrite: replace an existing ``out``.

    Returns:
        the manifest (also written as ``out/maven_onnx.json``).

    Raises:
        MavenError: ONNX packages missing, ``out`` exists without ``overwrite``, unusable
            example records, or a graph that does not match torch.
    """
    require_onnx("onnx", "onnxscript", "onnxruntime")
    import onnxruntime as ort
    import torch

    import maven
    from maven.models.hub import resolve_folder
    from maven.models.loading import from_pretrained
    from maven.utils.atomic import staged_directory

    out = Path(out)
    if out.exists() and not overwrite:
        raise ConfigError(f"{out} exists (give overwrite / --overwrite to replace it)")
    folder = resolve_folder(model_dir)
    model, processor = from_pretrained(folder)
    task = _task(model)
    parts = _parts(model)
    example = _example_batch(processor, parts, supernovae)
    manifest: dict[str, Any] = {
        "format": "maven-onnx",
        "format_version": FORMAT_VERSION,
        "architecture": type(model).__name__,
        "task": task,
        "source": str(model_dir),
        "opset": OPSET,
        "maven_version": maven.__version__,
        "torch_version": torch.__version__.split("+")[0],
        "graphs": {},
    }
    if task is not None:
        cfg = model.config
        manifest["head_modality"] = cfg.head_modality
    if task == "classification":
        manifest["labels"] = [cfg.id2label[k] for k in range(model.num_labels)]
        manifest["logit_bias"] = cfg.logit_bias
        manifest["calibration_temperature"] = cfg.calibration_temperature
    with staged_directory(out) as tmp:
        for name, part in parts.items():
            path = tmp / f"{name}.onnx"
            _export_graph(part, example, path)
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            feed = {k: example[k].numpy() for k in part["inputs"]}
            with torch.no_grad():
                ref = part["module"](*(example[k] for k in part["inputs"]))
            ref = ref if isinstance(ref, tuple) else (ref,)
            got = session.run(part["outputs"], feed)
            diffs = {
                o: float(np.abs(g - r.numpy()).max())
                for o, g, r in zip(part["outputs"], got, ref, strict=True)
            }
            worst = max(diffs, key=diffs.get)
            if diffs[worst] > PARITY_TOLERANCE:
                raise MavenError(
                    f"{name}.onnx: output {worst!r} differs from torch by {diffs[worst]:.2e} "
                    f"(> {PARITY_TOLERANCE:g}) on the example records"
                )
            manifest["graphs"][name] = {
                "file": path.name,
                **_describe(session),
                "parity_max_abs_diff": diffs,
            }
        manifest["parity_records"] = int(example["has_photometry"].shape[0])
        shutil.copyfile(folder / "config.json", tmp / "config.json")
        processor.save_pretrained(tmp)
        (tmp / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
