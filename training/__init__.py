"""Training, export, quantization and evaluation of the shipped LightECGNet (not needed at run time).

Needs the ``train`` extra (torch==2.13.0, onnx, onnxsim, scikit-learn, pandas, wfdb, ...) and the
built ``edgecardio`` package. ``python -m training --config FILE --ship --install`` runs the recipe;
the modules are layered, each importing only from the layers before it:

1. ``config``, ``labels``, ``metrics``: the protocol as data, PTB-XL labels and splits, metrics
   (no torch);
2. ``data``, ``model``, ``checkpoint``, ``onnx_io``: the signal cache, LightECGNet, checkpoints,
   ONNX Runtime sessions;
3. ``train``, ``export``, ``quantize``, ``evaluate``: the steps, each also a command;
4. ``ship``: the steps in order, into a model card;
5. ``__main__``: train, then (``--ship``) ship.
"""
