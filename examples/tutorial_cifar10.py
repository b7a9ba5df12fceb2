"""The tutorial's 14-line CIFAR-10 training example (section 4.2.2.3), on resvision.

The lines below are the PaddlePaddle tutorial's, with only these changes:

- the ``paddle`` imports are resvision's (the loss is PyTorch's ``CrossEntropyLoss``), and
  ``paddle.vision.set_image_backend`` / ``paddle.Model`` are ``resvision.set_image_backend`` /
  ``resvision.Model``;
- ``Cifar10`` is the embedded 5,000 / 1,000-image sample (``Cifar10Sample``), so that the
  example runs offline; import ``Cifar10`` from ``resvision.datasets`` instead to train on the
  full data set (downloaded on first use);
- 2 epochs instead of 50, for time.

ResNet-50 is a heavy network for 32x32 images: on 2 idle CPU cores with avx512_bf16, where
``fit`` picks bf16 autocast and channels-last by itself, an epoch of the sample takes about 15 s
(``benchmarks/tutorial_learning.py``: 5 epochs in 73 s, test top-1 28% after the fifth; Paddle's
own run of the tutorial behaves alike), several times longer in fp32 or on a loaded machine. The
test ``tests/test_tutorial_example.py`` runs this file with fewer steps.

Run it with ``python examples/tutorial_cifar10.py``; checkpoints go to ``./output``.
"""

# fmt: off
# 从paddle.vision.models 模块中import 残差网络,VGG网络,LeNet网络
from torch.nn import CrossEntropyLoss

import resvision
from resvision.datasets import Cifar10Sample as Cifar10
from resvision.metrics import Accuracy
from resvision.models import LeNet, resnet50, vgg16  # noqa: F401  (imported as in the tutorial)
from resvision.optim import L2Decay, Momentum
from resvision.transforms import Transpose

# 确保从paddle.vision.datasets.Cifar10中加载的图像数据是np.ndarray类型
resvision.set_image_backend('cv2')
# 调用resnet50模型
model = resvision.Model(resnet50(pretrained=False, num_classes=10))

# 使用Cifar10数据集
train_dataset = Cifar10(mode='train', transform=Transpose())
val_dataset = Cifar10(mode='test', transform=Transpose())
# 定义优化器
optimizer = Momentum(learning_rate=0.01,
                     momentum=0.9,
                     weight_decay=L2Decay(1e-4),
                     parameters=model.parameters())
# 进行训练前准备
model.prepare(optimizer, CrossEntropyLoss(), Accuracy(topk=(1, 5)))
# 启动训练
model.fit(train_dataset,
          val_dataset,
          epochs=2,
          batch_size=64,
          save_dir="./output",
          num_workers=8)
