"""Run a folder written by :func:`maven.export.onnx.export_onnx` with onnxruntime.

>>> runner = OnnxModel("onnx/maven-base", threads=2)                      # doctest: +SKIP
>>> batch = runner.processor(supernovae, return_tensors="np")             # doctest: +SKIP
>>> out = runner(batch)                                                   # doctest: +SKIP
>>> out["logits"], out["embeddings"], out["photometry_embeds"]            # doctest: +SKIP

``runner(batch)`` takes a :class:`~maven.models.MavenProcessor` batch (numpy arrays or torch
tensors) and returns numpy arrays under the torch model's names: the towers' L2-normalised
``photometry_embeds`` / ``spectrum_embeds`` (those the model uses; zeros in the rows without
that modality, as ``maven embed`` stores them; a tower no row needs is not run), and for a
classifier ``logits`` (raw, as ``forward``) and ``embeddings``, for a redshift head
``redshift_mean``, ``redshift_sigma``, ``mu``, ``log_sigma`` and ``embeddings`` (the
network's estimate: a head's template refinement is numpy after the graph,
:func:`maven.models.template_redshift.refine_redshifts` with the bank of the torch model).
Probabilities: softmax of ``(logits + logit_bias) / calibration_temperature``, both in
:attr:`OnnxModel.manifest` (as :func:`maven.models.inference.predict` computes them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from maven.errors import FormatError, MavenError
from maven.export.onnx import FORMAT_VERSION, MANIFEST_NAME, require_onnx

__all__ = ["OnnxModel"]

_DTYPES = {"float32": np.float32, "bool": np.bool_, "double": np.float64, "int64": np.int64}


class OnnxModel:
    """The graphs of an exported folder in onnxruntime sessions.

    Args:
        directory: a folder written by ``maven export onnx``.
        threads: intra-op threads of each session (None: onnxruntime's default, all cores).

    Attributes:
        manifest: the folder's ``maven_onnx.json``; ``task`` (None, ``"classification"``,
            ``"redshift"``), ``labels``, ``logit_bias``, ``calibration_temperature``, ...
        processor: the model's :class:`~maven.models.MavenProcessor`.

    Raises:
        FormatError: not an exported folder, or a graph onnxruntime cannot load.
    """

    def __init__(self, directory: str | Path, *, threads: int | None = None) -> None:
        require_onnx("onnxruntime")
        import onnxruntime as ort

        from maven.models import MavenProcessor

        directory = Path(directory)
        path = directory / MANIFEST_NAME
        try:
            manifest = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise FormatError(f"{path}: not an ONNX export of maven ({exc})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != "maven-onnx":
            raise FormatError(f"{path}: not an ONNX export of maven (field 'format')")
        if manifest.get("format_version") != FORMAT_VERSION:
            raise FormatError(
                f"{path}: format_version {manifest.get('format_version')!r}, this maven reads "
                f"{FORMAT_VERSION}"
            )
        self.manifest = manifest
        self.processor = MavenProcessor.from_pretrained(directory)
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self._sessions = {}
        for name, graph in manifest["graphs"].items():
            file = directory / graph["file"]
            try:
                self._sessions[name] = ort.InferenceSession(
                    str(file), options, providers=["CPUExecutionProvider"]
                )
            except Exception as exc:  # onnxruntime raises its own, untyped errors
                raise FormatError(f"{file}: onnxruntime cannot load it ({exc})") from None

    @property
    def task(self) -> str | None:
        """The exported head's task (``"classification"`` or ``"redshift"``); None: a MavenModel."""
        return self.manifest["task"]

    def _run(self, name: str, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        graph = self.manifest["graphs"][name]
        feed = {}
        for arg in graph["inputs"]:
            if arg["name"] not in arrays:
                raise MavenError(f"{name} graph: input {arg['name']!r} missing from the batch")
            feed[arg["name"]] = np.ascontiguousarray(arrays[arg["name"]], _DTYPES[arg["dtype"]])
        names = [o["name"] for o in graph["outputs"]]
        return dict(zip(names, self._sessions[name].run(names, feed), strict=True))

    def __call__(self, batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Outputs for a processor batch (see the module docstring).

        Raises:
            MavenError: inputs missing, or rows without the modality the head needs.
        """
        arrays = {
            k: np.asarray(v.detach().cpu().numpy() if hasattr(v, "detach") else v)
            for k, v in batch.items()
        }
        for key in ("has_photometry", "has_spectrum"):
            if key not in arrays:
                raise MavenError(f"the batch has no {key!r} (give a MavenProcessor batch)")
        b = arrays["has_photometry"].shape[0]
        mod = self.manifest.get("head_modality")
        for name in ("photometry", "spectrum"):
            present = arrays[f"has_{name}"].astype(bool)
            if mod == name and not present.all():
                raise MavenError(
                    f"head_modality={mod!r}: {int((~present).sum())} of {b} objects have no "
                    f"{name}; drop them or use head_modality='both'"
                )
        either = arrays["has_photometry"].astype(bool) | arrays["has_spectrum"].astype(bool)
        if mod == "both" and not either.all():
            raise MavenError("some objects have neither photometry nor a spectrum")
        out: dict[str, np.ndarray] = {}
        for name in ("photometry", "spectrum"):
            if name not in self._sessions:
                continue
            has = arrays[f"has_{name}"].astype(bool)
            (arg,) = self.manifest["graphs"][name]["outputs"]
            emb = self._run(name, arrays)[arg["name"]] if has.any() else None
            if emb is None:
                emb = np.zeros((b, arg["shape"][1]), np.float32)
            emb[~has] = 0.0
            out[arg["name"]] = emb
        if "head" in self._sessions:
            out.update(self._run("head", {**arrays, **out}))
        return out
