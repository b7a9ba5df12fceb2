"""The published ImageNet weights resvision knows: torchvision's and paddle.vision's, as data.

Nothing here downloads anything; an entry is used when a constructor gets ``pretrained=True``
(the model's default entry), an entry name such as ``'IMAGENET1K_V1'`` / ``'PADDLE_IMAGENET1K'``,
or ``'imagenet'``.

- torchvision (``https://download.pytorch.org/models/``): URLs, reported ImageNet-1K top-1/top-5
  and evaluation resize as torchvision publishes them. The hash is the 8-digit SHA-256 prefix in
  each file name, which is what torchvision itself verifies (see ``entries`` on prefixes). All use
  a 224 center crop, bilinear resize and the usual ImageNet mean/std. The V2 entries (torchvision's
  newer recipe) are the defaults where they exist, as in torchvision.
- paddle.vision (``https://paddle-hapi.bj.bcebos.com/models/``): URL and the MD5 Paddle publishes
  and checks. Paddle reports no accuracy with these files, so ``metrics`` is empty. They are the
  default only for ``mobilenet_v1``, which torchvision does not publish.
"""

from __future__ import annotations

from .entries import Preprocessing, WeightsEntry, register_weights
from .imagenet import IMAGENET_CATEGORIES

_TV = "https://download.pytorch.org/models/"
_PADDLE = "https://paddle-hapi.bj.bcebos.com/models/"
_RECIPES = {
    "resnet": "https://github.com/pytorch/vision/tree/main/references/classification#resnet",
    "resnext": "https://github.com/pytorch/vision/tree/main/references/classification#resnext",
    "vgg": "https://github.com/pytorch/vision/tree/main/references/classification#alexnet-and-vgg",
    "mnv2": "https://github.com/pytorch/vision/tree/main/references/classification#mobilenetv2",
    "v2": "https://github.com/pytorch/vision/issues/3995#new-recipe",
    "v2-r50": "https://github.com/pytorch/vision/issues/3995#issuecomment-1013906621",
    "v2-fixres": "https://github.com/pytorch/vision/issues/3995#new-recipe-with-fixres",
    "v2-reg": "https://github.com/pytorch/vision/issues/3995#new-recipe-with-reg-tuning",
    "wrn": "https://github.com/pytorch/vision/pull/912#issue-445437439",
    "rx64": "https://github.com/pytorch/vision/pull/5935",
}

# model, entry, file name (its SHA-256 prefix after the dash), acc@1, acc@5, eval resize,
# default, recipe, file size (MB)
_TORCHVISION = [
    ("resnet18", "IMAGENET1K_V1", "resnet18-f37072fd.pth", 69.758, 89.078, 256, True, "resnet", 44.661),
    ("resnet34", "IMAGENET1K_V1", "resnet34-b627a593.pth", 73.314, 91.42, 256, True, "resnet", 83.275),
    ("resnet50", "IMAGENET1K_V1", "resnet50-0676ba61.pth", 76.13, 92.862, 256, False, "resnet", 97.781),
    ("resnet50", "IMAGENET1K_V2", "resnet50-11ad3fa6.pth", 80.858, 95.434, 232, True, "v2-r50", 97.79),
    ("resnet101", "IMAGENET1K_V1", "resnet101-63fe2227.pth", 77.374, 93.546, 256, False, "resnet", 170.511),
    ("resnet101", "IMAGENET1K_V2", "resnet101-cd907fc2.pth", 81.886, 95.78, 232, True, "v2", 170.53),
    ("resnet152", "IMAGENET1K_V1", "resnet152-394f9c45.pth", 78.312, 94.046, 256, False, "resnet", 230.434),
    ("resnet152", "IMAGENET1K_V2", "resnet152-f82ba261.pth", 82.284, 96.002, 232, True, "v2", 230.474),
    ("resnext50_32x4d", "IMAGENET1K_V1", "resnext50_32x4d-7cdf4587.pth", 77.618, 93.698, 256, False, "resnext", 95.789),
    ("resnext50_32x4d", "IMAGENET1K_V2", "resnext50_32x4d-1a0047aa.pth", 81.198, 95.34, 232, True, "v2", 95.833),
    ("resnext101_64x4d", "IMAGENET1K_V1", "resnext101_64x4d-173b62eb.pth", 83.246, 96.454, 232, True, "rx64", 319.318),
    ("wide_resnet50_2", "IMAGENET1K_V1", "wide_resnet50_2-95faca4d.pth", 78.468, 94.086, 256, False, "wrn", 131.82),
    ("wide_resnet50_2", "IMAGENET1K_V2", "wide_resnet50_2-9ba9bcbe.pth", 81.602, 95.758, 232, True, "v2-fixres", 263.124),
    ("wide_resnet101_2", "IMAGENET1K_V1", "wide_resnet101_2-32ee1156.pth", 78.848, 94.284, 256, False, "wrn", 242.896),
    ("wide_resnet101_2", "IMAGENET1K_V2", "wide_resnet101_2-d733dc28.pth", 82.51, 96.02, 232, True, "v2", 484.747),
    ("vgg11", "IMAGENET1K_V1", "vgg11-8a719046.pth", 69.02, 88.628, 256, True, "vgg", 506.84),
    ("vgg11_bn", "IMAGENET1K_V1", "vgg11_bn-6002323d.pth", 70.37, 89.81, 256, True, "vgg", 506.881),
    ("vgg13", "IMAGENET1K_V1", "vgg13-19584684.pth", 69.928, 89.246, 256, True, "vgg", 507.545),
    ("vgg13_bn", "IMAGENET1K_V1", "vgg13_bn-abd245e5.pth", 71.586, 90.374, 256, True, "vgg", 507.59),
    ("vgg16", "IMAGENET1K_V1", "vgg16-397923af.pth", 71.592, 90.382, 256, True, "vgg", 527.796),
    ("vgg16_bn", "IMAGENET1K_V1", "vgg16_bn-6c64b313.pth", 73.36, 91.516, 256, True, "vgg", 527.866),
    ("vgg19", "IMAGENET1K_V1", "vgg19-dcbb9e9d.pth", 72.376, 90.876, 256, True, "vgg", 548.051),
    ("vgg19_bn", "IMAGENET1K_V1", "vgg19_bn-c79401a0.pth", 74.218, 91.842, 256, True, "vgg", 548.143),
    ("mobilenet_v2", "IMAGENET1K_V1", "mobilenet_v2-b0353104.pth", 71.878, 90.286, 256, False, "mnv2", 13.555),
    ("mobilenet_v2", "IMAGENET1K_V2", "mobilenet_v2-7ebf99e0.pth", 72.154, 90.822, 232, True, "v2-reg", 13.598),
]  # fmt: skip

# model, file name, MD5, default
_PADDLE_HAPI = [
    ("resnet18", "resnet18.pdparams", "cf548f46534aa3560945be4b95cd11c4", False),
    ("resnet34", "resnet34.pdparams", "8d2275cf8706028345f78ac0e1d31969", False),
    ("resnet50", "resnet50.pdparams", "ca6f485ee1ab0492d38f323885b0ad80", False),
    ("resnet101", "resnet101.pdparams", "02f35f034ca3858e1e54d4036443c92d", False),
    ("resnet152", "resnet152.pdparams", "7ad16a2f1e7333859ff986138630fd7a", False),
    ("resnext50_32x4d", "resnext50_32x4d.pdparams", "dc47483169be7d6f018fcbb7baf8775d", False),
    ("resnext101_32x4d", "resnext101_32x4d.pdparams", "967b090039f9de2c8d06fe994fb9095f", True),
    ("resnext101_64x4d", "resnext101_64x4d.pdparams", "98e04e7ca616a066699230d769d03008", False),
    ("wide_resnet50_2", "wide_resnet50_2.pdparams", "0282f804d73debdab289bd9fea3fa6dc", False),
    ("wide_resnet101_2", "wide_resnet101_2.pdparams", "d4360a2d23657f059216f5d5a1a9ac93", False),
    ("mobilenet_v1", "mobilenetv1_1.0.pdparams", "3033ab1975b1670bef51545feb65fc45", True),
    ("mobilenet_v2", "mobilenet_v2_x1.0.pdparams", "0340af0a901346c8d46f4529882fb63d", False),
]


def _register_all() -> None:
    for model, name, file, top1, top5, resize, default, recipe, size in _TORCHVISION:
        register_weights(
            WeightsEntry(
                model=model,
                name=name,
                url=_TV + file,
                sha256=file.rsplit("-", 1)[1].split(".")[0],
                num_classes=1000,
                categories=IMAGENET_CATEGORIES,
                preprocessing=Preprocessing(resize=resize, crop=224),
                metrics={"ImageNet-1K": {"acc@1": top1, "acc@5": top5}},
                source_format="torchvision",
                default=default,
                recipe=_RECIPES[recipe],
                file_size_mb=size,
            )
        )
    for model, file, md5, default in _PADDLE_HAPI:
        register_weights(
            WeightsEntry(
                model=model,
                name="PADDLE_IMAGENET1K",
                url=_PADDLE + file,
                md5=md5,
                num_classes=1000,
                categories=IMAGENET_CATEGORIES,
                preprocessing=Preprocessing(resize=256, crop=224),
                source_format="paddle",
                default=default,
                recipe="https://github.com/PaddlePaddle/Paddle/tree/develop/python/paddle/vision/models",
            )
        )


_register_all()
