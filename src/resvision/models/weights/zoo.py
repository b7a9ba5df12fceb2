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

The families added from ``paddle.vision.models`` (DenseNet, SqueezeNet, AlexNet, ShuffleNetV2,
MobileNetV3, GoogLeNet, InceptionV3, the three larger ResNeXts) and Paddle's VGG-16/19 files:

- Paddle's entry for each (URL and MD5 from ``model_urls`` in paddle 3.3.1's
  ``paddle/vision/models/*.py``; some files live under ``paddle-imagenet-models-name``, PaddleClas's
  bucket). For these families it is the default: the network is Paddle's definition with Paddle's
  keys, so the file loads without any key map and ``pretrained=True`` gives what Paddle's
  ``pretrained=True`` gives. Paddle publishes no preprocessing: resize 256 / crop 224 (PaddleClas's
  evaluation setting) is assumed, resize 320 / crop 299 for InceptionV3 (PaddleClas's
  ``InceptionV3.yaml``).
- torchvision's entry where torchvision publishes weights for a network of the same name
  (torchvision 0.29.1's ``torchvision/models/*.py``: URL, SHA-256 prefix, acc@1/acc@5, resize and
  crop; all bilinear, ImageNet mean/std but InceptionV3's, see ``_MEAN_STD``). It is ``loadable``
  only where torchvision's network computes the same function as resvision's under the
  torchvision layout conversion (the family module docstrings, and
  ``benchmarks/results/torchvision-zoo-check.json``): densenet121/161/169/201,
  shufflenet_v2_x0_5/x1_0/x1_5, mobilenet_v3_small/large, alexnet and inception_v3 (whose
  conversions move the dropout-mode and BatchNorm-eps differences into a few tensors). googlenet,
  squeezenet1_0/1_1 and shufflenet_v2_x2_0 are other networks: kept for reference, the reason in
  ``note``.
- None of these files has been downloaded or loaded by resvision (written without network
  access): every entry is ``verified=False`` and its ``note`` says so.
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
    "densenet": "https://github.com/pytorch/vision/pull/116",
    "squeezenet": "https://github.com/pytorch/vision/pull/49#issuecomment-277560717",
    "shufflenet": "https://github.com/ericsun99/Shufflenet-v2-Pytorch",
    "shufflenet-v2": "https://github.com/pytorch/vision/pull/5906",
    "mnv3": "https://github.com/pytorch/vision/tree/main/references/classification#mobilenetv3-large--small",
    "googlenet": "https://github.com/pytorch/vision/tree/main/references/classification#googlenet",
    "inception": "https://github.com/pytorch/vision/tree/main/references/classification#inception-v3",
}
_PADDLE_RECIPE = "https://github.com/PaddlePaddle/Paddle/tree/develop/python/paddle/vision/models"
_PADDLE_CLAS = "https://paddle-imagenet-models-name.bj.bcebos.com/dygraph/"
_UNVERIFIED = "not downloaded or loaded by resvision yet (written without network access)"

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


# The families added from paddle.vision: torchvision's weights of the networks of the same name.
# model, entry, file name, acc@1, acc@5, eval resize, crop, recipe, file size (MB), loadable, why
_SAME = "the same network as torchvision's (see the family's module docstring)"
_TORCHVISION_NEW = [
    ("densenet121", "IMAGENET1K_V1", "densenet121-a639ec97.pth", 74.434, 91.972, 256, 224, "densenet", 30.845, True, _SAME),
    ("densenet161", "IMAGENET1K_V1", "densenet161-8d451a50.pth", 77.138, 93.56, 256, 224, "densenet", 110.369, True, _SAME),
    ("densenet169", "IMAGENET1K_V1", "densenet169-b2777c0a.pth", 75.6, 92.806, 256, 224, "densenet", 54.708, True, _SAME),
    ("densenet201", "IMAGENET1K_V1", "densenet201-c1103571.pth", 76.896, 93.37, 256, 224, "densenet", 77.373, True, _SAME),
    ("squeezenet1_0", "IMAGENET1K_V1", "squeezenet1_0-b66bff10.pth", 58.092, 80.42, 256, 224, "squeezenet", 4.778, False,
     "another network: torchvision's max-pools round up (ceil_mode), Paddle's floor, and its "
     "dropout is the upscale mode; the tensors fit but the logits would not be torchvision's"),
    ("squeezenet1_1", "IMAGENET1K_V1", "squeezenet1_1-b8a52dc0.pth", 58.178, 80.624, 256, 224, "squeezenet", 4.729, False,
     "another network: torchvision's max-pools round up (ceil_mode) and its stem convolution is "
     "not padded; the tensors fit but the logits would not be torchvision's"),
    ("alexnet", "IMAGENET1K_V1", "alexnet-owt-7be5be79.pth", 56.522, 79.066, 256, 224, "vgg", 233.087, True,
     "the same layers; Paddle's dropout (downscale_in_infer) halves the inputs of _fc6 and _fc7 "
     "in inference, so the torchvision layout conversion doubles those two weights (the logits "
     "are then torchvision's)"),
    ("shufflenet_v2_x0_5", "IMAGENET1K_V1", "shufflenetv2_x0.5-f707e7126e.pth", 60.552, 81.746, 256, 224, "shufflenet", 5.282, True, _SAME),
    ("shufflenet_v2_x1_0", "IMAGENET1K_V1", "shufflenetv2_x1-5666bf0f80.pth", 69.362, 88.316, 256, 224, "shufflenet", 8.791, True, _SAME),
    ("shufflenet_v2_x1_5", "IMAGENET1K_V1", "shufflenetv2_x1_5-3c479a10.pth", 72.996, 91.086, 232, 224, "shufflenet-v2", 13.557, True, _SAME),
    ("shufflenet_v2_x2_0", "IMAGENET1K_V1", "shufflenetv2_x2_0-8be3c8ee.pth", 76.23, 93.006, 232, 224, "shufflenet-v2", 28.433, False,
     "another network: torchvision's first stage is 244 channels wide, Paddle's 224 "
     "(7,393,996 against 7,366,536 parameters)"),
    ("mobilenet_v3_small", "IMAGENET1K_V1", "mobilenet_v3_small-047dcff4.pth", 67.668, 87.402, 256, 224, "mnv3", 9.829, True, _SAME),
    ("mobilenet_v3_large", "IMAGENET1K_V1", "mobilenet_v3_large-8738ca79.pth", 74.042, 91.34, 256, 224, "mnv3", 21.114, True, _SAME),
    ("mobilenet_v3_large", "IMAGENET1K_V2", "mobilenet_v3_large-5c1a4163.pth", 75.274, 92.566, 232, 224, "v2-reg", 21.107, True, _SAME),
    ("googlenet", "IMAGENET1K_V1", "googlenet-1378be20.pth", 69.778, 89.53, 256, 224, "googlenet", 49.731, False,
     "another network: torchvision's convolutions have BatchNorm (Paddle's none), its '5x5' "
     "branch is 3x3 and its auxiliary heads are 2048 wide (Paddle's 1152)"),
    ("inception_v3", "IMAGENET1K_V1", "inception_v3_google-0cc3c7bd.pth", 77.294, 93.45, 342, 299, "inception", 103.903, True,
     "the same layers; the torchvision layout conversion moves torchvision's BatchNorm eps (1e-3, "
     "Paddle's 1e-5) into running_var and its dropout mode into fc.weight, and leaves out the "
     "training-only AuxLogits; torchvision's transform_input becomes this entry's mean/std 0.5"),
]  # fmt: skip

# model, URL, MD5, eval resize, crop: paddle.vision's model_urls for the families added from it
_PADDLE_NEW = [
    ("alexnet", _PADDLE_CLAS + "AlexNet_pretrained.pdparams", "7f0f9f737132e02732d75a1459d98a43", 256, 224),
    ("densenet121", _PADDLE_CLAS + "DenseNet121_pretrained.pdparams", "db1b239ed80a905290fd8b01d3af08e4", 256, 224),
    ("densenet161", _PADDLE_CLAS + "DenseNet161_pretrained.pdparams", "62158869cb315098bd25ddbfd308a853", 256, 224),
    ("densenet169", _PADDLE_CLAS + "DenseNet169_pretrained.pdparams", "82cc7c635c3f19098c748850efb2d796", 256, 224),
    ("densenet201", _PADDLE_CLAS + "DenseNet201_pretrained.pdparams", "16ca29565a7712329cf9e36e02caaf58", 256, 224),
    ("densenet264", _PADDLE_CLAS + "DenseNet264_pretrained.pdparams", "3270ce516b85370bba88cfdd9f60bff4", 256, 224),
    ("googlenet", _PADDLE_CLAS + "GoogLeNet_pretrained.pdparams", "80c06f038e905c53ab32c40eca6e26ae", 256, 224),
    ("inception_v3", _PADDLE + "inception_v3.pdparams", "649a4547c3243e8b59c656f41fe330b8", 320, 299),
    ("mobilenet_v3_small", _PADDLE + "mobilenet_v3_small_x1.0.pdparams", "34fe0e7c1f8b00b2b056ad6788d0590c", 256, 224),
    ("mobilenet_v3_large", _PADDLE + "mobilenet_v3_large_x1.0.pdparams", "118db5792b4e183b925d8e8e334db3df", 256, 224),
    ("resnext50_64x4d", _PADDLE + "resnext50_64x4d.pdparams", "063d4b483e12b06388529450ad7576db", 256, 224),
    ("resnext152_32x4d", _PADDLE + "resnext152_32x4d.pdparams", "18ff0beee21f2efc99c4b31786107121", 256, 224),
    ("resnext152_64x4d", _PADDLE + "resnext152_64x4d.pdparams", "77c4af00ca42c405fa7f841841959379", 256, 224),
    ("shufflenet_v2_x0_25", _PADDLE + "shufflenet_v2_x0_25.pdparams", "1e509b4c140eeb096bb16e214796d03b", 256, 224),
    ("shufflenet_v2_x0_33", _PADDLE + "shufflenet_v2_x0_33.pdparams", "3d7b3ab0eaa5c0927ff1026d31b729bd", 256, 224),
    ("shufflenet_v2_x0_5", _PADDLE + "shufflenet_v2_x0_5.pdparams", "5e5cee182a7793c4e4c73949b1a71bd4", 256, 224),
    ("shufflenet_v2_x1_0", _PADDLE + "shufflenet_v2_x1_0.pdparams", "122d42478b9e81eb49f8a9ede327b1a4", 256, 224),
    ("shufflenet_v2_x1_5", _PADDLE + "shufflenet_v2_x1_5.pdparams", "faced5827380d73531d0ee027c67826d", 256, 224),
    ("shufflenet_v2_x2_0", _PADDLE + "shufflenet_v2_x2_0.pdparams", "cd3dddcd8305e7bcd8ad14d1c69a5784", 256, 224),
    ("shufflenet_v2_swish", _PADDLE + "shufflenet_v2_swish.pdparams", "adde0aa3b023e5b0c94a68be1c394b84", 256, 224),
    ("squeezenet1_0", _PADDLE_CLAS + "SqueezeNet1_0_pretrained.pdparams", "30b95af60a2178f03cf9b66cd77e1db1", 256, 224),
    ("squeezenet1_1", _PADDLE_CLAS + "SqueezeNet1_1_pretrained.pdparams", "a11250d3a1f91d7131fd095ebbf09eee", 256, 224),
    ("vgg16", _PADDLE + "vgg16.pdparams", "89bbffc0f87d260be9b8cdc169c991c4", 256, 224),
    ("vgg19", _PADDLE + "vgg19.pdparams", "23b18bb13d8894f60f54e642be79a0dd", 256, 224),
]  # fmt: skip
# torchvision's pretrained InceptionV3 re-normalises its input itself (transform_input): from the
# ImageNet mean/std to (x - 0.5) / 0.5. resvision's network has no such step: the entry says so.
_MEAN_STD = {"inception_v3": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))}
# Families whose default is an existing torchvision entry keep it: Paddle's file is named.
_TORCHVISION_DEFAULTS = {"vgg16", "vgg19"}


def _register_new_families() -> None:
    for row in _TORCHVISION_NEW:
        model, name, file, top1, top5, resize, crop, recipe, size, loadable, why = row
        register_weights(
            WeightsEntry(
                model=model,
                name=name,
                url=_TV + file,
                sha256=file.rsplit("-", 1)[1].split(".")[0],
                num_classes=1000,
                categories=IMAGENET_CATEGORIES,
                preprocessing=Preprocessing(
                    resize=resize, crop=crop, **dict(zip(("mean", "std"), _MEAN_STD.get(model, ())))
                ),
                metrics={"ImageNet-1K": {"acc@1": top1, "acc@5": top5}},
                source_format="torchvision",
                recipe=_RECIPES[recipe],
                file_size_mb=size,
                loadable=loadable,
                note=(
                    f"{'loadable' if loadable else 'not loadable'}: {why}. From torchvision "
                    f"0.29.1's torchvision/models; {_UNVERIFIED}."
                ),
            )
        )
    for model, url, md5, resize, crop in _PADDLE_NEW:
        register_weights(
            WeightsEntry(
                model=model,
                name="PADDLE_IMAGENET1K",
                url=url,
                md5=md5,
                num_classes=1000,
                categories=IMAGENET_CATEGORIES,
                preprocessing=Preprocessing(resize=resize, crop=crop),
                source_format="paddle",
                default=model not in _TORCHVISION_DEFAULTS,
                recipe=_PADDLE_RECIPE,
                note=(
                    "URL and MD5 from model_urls in paddle 3.3.1's paddle/vision/models; Paddle "
                    f"publishes no accuracy or preprocessing (resize {resize} / crop {crop} "
                    f"assumed, PaddleClas's evaluation setting); {_UNVERIFIED}."
                ),
            )
        )


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
                recipe=_PADDLE_RECIPE,
            )
        )
    _register_new_families()


_register_all()
