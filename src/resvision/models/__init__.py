"""Networks: the tutorial's ResNet and its blocks, and a small model zoo around it.

Build a model by its constructor or by name:

>>> from resvision import models
>>> net = models.resnet50(num_classes=10)
>>> net = models.create_model('resnet20')           # CIFAR ResNet-20, 10 classes
>>> models.list_models('resnext5*')
['resnext50_32x4d', 'resnext50_64x4d']
>>> models.model_info('lenet').input_size
(1, 28, 28)

Every classifier has ``forward_features``, ``forward_head(x, pre_logits=False)``,
``reset_classifier(num_classes)``, ``get_classifier()`` and the attributes ``num_classes`` and
``num_features``. The package builds networks only: no devices, no data.
"""

from .airnet import AirNet, airnet  # noqa: F401  (registers the fast CIFAR-10 network)
from .alexnet import AlexNet, alexnet
from .cifar_resnet import CifarResNet, resnet20, resnet32, resnet44, resnet56, resnet110
from .classifier import linear_head, validate_num_classes
from .densenet import (
    DenseNet,
    densenet121,
    densenet161,
    densenet169,
    densenet201,
    densenet264,
)
from .googlenet import GoogLeNet, googlenet, main_output
from .inception import InceptionV3, inception_v3
from .layers import ACTIVATIONS, BasicBlock, BottleneckBlock, ConvBNLayer, ZeroPadShortcut
from .lenet import LeNet, lenet
from .mobilenet import (
    DepthwiseSeparable,
    InvertedResidual,
    MobileNetV1,
    MobileNetV2,
    make_divisible,
    mobilenet_v1,
    mobilenet_v2,
)
from .mobilenet_v3 import (
    MobileNetV3Large,
    MobileNetV3Small,
    mobilenet_v3_large,
    mobilenet_v3_small,
)
from .registry import (
    ModelInfo,
    UnknownModelError,
    create_model,
    list_models,
    model_info,
    register_model,
    unregister_model,
)
from .resnet import (
    ResNet,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
    resnext50_32x4d,
    resnext50_64x4d,
    resnext101_32x4d,
    resnext101_64x4d,
    resnext152_32x4d,
    resnext152_64x4d,
    wide_resnet50_2,
    wide_resnet101_2,
)
from .shufflenet import (
    ShuffleNetV2,
    shufflenet_v2_swish,
    shufflenet_v2_x0_5,
    shufflenet_v2_x0_25,
    shufflenet_v2_x0_33,
    shufflenet_v2_x1_0,
    shufflenet_v2_x1_5,
    shufflenet_v2_x2_0,
)
from .squeezenet import SqueezeNet, squeezenet1_0, squeezenet1_1
from .summary import count_macs, summary
from .vgg import VGG, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn
from .weights import (
    PretrainedWeightsError,
    create_model_from_weights,
    get_weights,
    list_weights,
    load_pretrained,
    read_state_dict,
)

__all__ = [
    "ACTIVATIONS",
    "VGG",
    "AlexNet",
    "BasicBlock",
    "BottleneckBlock",
    "CifarResNet",
    "ConvBNLayer",
    "DenseNet",
    "DepthwiseSeparable",
    "GoogLeNet",
    "InceptionV3",
    "InvertedResidual",
    "LeNet",
    "MobileNetV1",
    "MobileNetV2",
    "MobileNetV3Large",
    "MobileNetV3Small",
    "ModelInfo",
    "PretrainedWeightsError",
    "ResNet",
    "ShuffleNetV2",
    "SqueezeNet",
    "UnknownModelError",
    "ZeroPadShortcut",
    "alexnet",
    "count_macs",
    "create_model",
    "create_model_from_weights",
    "densenet121",
    "densenet161",
    "densenet169",
    "densenet201",
    "densenet264",
    "get_weights",
    "googlenet",
    "inception_v3",
    "lenet",
    "linear_head",
    "list_models",
    "list_weights",
    "load_pretrained",
    "main_output",
    "make_divisible",
    "mobilenet_v1",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
    "model_info",
    "read_state_dict",
    "register_model",
    "resnet18",
    "resnet20",
    "resnet32",
    "resnet34",
    "resnet44",
    "resnet50",
    "resnet56",
    "resnet101",
    "resnet110",
    "resnet152",
    "resnext50_32x4d",
    "resnext50_64x4d",
    "resnext101_32x4d",
    "resnext101_64x4d",
    "resnext152_32x4d",
    "resnext152_64x4d",
    "shufflenet_v2_swish",
    "shufflenet_v2_x0_5",
    "shufflenet_v2_x0_25",
    "shufflenet_v2_x0_33",
    "shufflenet_v2_x1_0",
    "shufflenet_v2_x1_5",
    "shufflenet_v2_x2_0",
    "squeezenet1_0",
    "squeezenet1_1",
    "summary",
    "unregister_model",
    "validate_num_classes",
    "vgg11",
    "vgg11_bn",
    "vgg13",
    "vgg13_bn",
    "vgg16",
    "vgg16_bn",
    "vgg19",
    "vgg19_bn",
    "wide_resnet50_2",
    "wide_resnet101_2",
]
