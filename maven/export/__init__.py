"""Exports of saved maven models for serving without torch's training stack.

* :func:`~maven.export.onnx.export_onnx` (``maven export onnx``): photometry tower, spectrum
  tower and head as ONNX graphs with dynamic batch and light-curve length.
* :class:`~maven.export.onnx_runtime.OnnxModel`: runs such a folder with onnxruntime;
  ``OnnxModel(folder)(processor_batch)`` gives the torch model's outputs as numpy arrays.

Both need the ``onnx`` extra (``pip install 'maven-sn[onnx]'``).
"""
