"""Paddle's hapi extras: summary / flops, Model.save(training=False), .pdparams / .pdopt, Optimizer.

The expected numbers and tables come from Paddle 3.3.1 on the same networks (its docstrings and
runs of ``paddle.summary`` / ``paddle.flops``); the Paddle checkpoint under tests/fixtures/paddle
was written by real Paddle (make_momentum_checkpoint.py there).
"""

from __future__ import annotations

import inspect
import pickle
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import resvision
from resvision import optim
from resvision.engine.model import Model
from resvision.models import lenet, resnet50
from resvision.models.summary import flops, paddle_summary
from resvision.models.weights import convert_state_dict
from resvision.optim import SGD, Adam, Momentum, Optimizer, lr

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "paddle"

# paddle.summary(LeNet(), (1, 1, 28, 28)) printed by Paddle 3.3.1; torch's class names differ
# from Paddle's by the case of "2d" only, which keeps every column width.
PADDLE_LENET_SUMMARY = """\
---------------------------------------------------------------------------
 Layer (type)       Input Shape          Output Shape         Param #
===========================================================================
   Conv2D-1       [[1, 1, 28, 28]]      [1, 6, 28, 28]          60
    ReLU-1        [[1, 6, 28, 28]]      [1, 6, 28, 28]           0
  MaxPool2D-1     [[1, 6, 28, 28]]      [1, 6, 14, 14]           0
   Conv2D-2       [[1, 6, 14, 14]]     [1, 16, 10, 10]         2,416
    ReLU-2       [[1, 16, 10, 10]]     [1, 16, 10, 10]           0
  MaxPool2D-2    [[1, 16, 10, 10]]      [1, 16, 5, 5]            0
   Linear-1          [[1, 400]]            [1, 120]           48,120
   Linear-2          [[1, 120]]            [1, 84]            10,164
   Linear-3          [[1, 84]]             [1, 10]              850
===========================================================================
Total params: 61,610
Trainable params: 61,610
Non-trainable params: 0
---------------------------------------------------------------------------
Input size (MB): 0.00
Forward/backward pass size (MB): 0.11
Params size (MB): 0.24
Estimated Total Size (MB): 0.35
---------------------------------------------------------------------------

"""

# paddle.flops(paddle.vision.models.resnet50(), [1, 3, 224, 224]) with Paddle 3.3.1
PADDLE_RESNET50_FLOPS = 4_111_514_624
# paddle.summary(resnet50(), (1, 3, 224, 224)): BatchNorm statistics are Paddle parameters
PADDLE_RESNET50_PARAMS = {"total_params": 25_610_152, "trainable_params": 25_557_032}


# ------------------------------------------------------------------ summary
def test_summary_prints_paddles_table_for_lenet(capsys):
    info = resvision.summary(lenet(), (1, 1, 28, 28))
    assert info == {"total_params": 61_610, "trainable_params": 61_610}
    out = capsys.readouterr().out
    expected = PADDLE_LENET_SUMMARY.replace("2D", "2d")
    assert [line.rstrip() for line in out.split("\n")] == expected.split("\n")


def test_summary_counts_batchnorm_statistics_as_paddle_does(capsys):
    with torch.device("meta"):  # shapes only: ResNet-50 in milliseconds
        net = resnet50()
        assert paddle_summary(net, (1, 3, 224, 224)) == PADDLE_RESNET50_PARAMS
    assert "BatchNorm2d-53" in capsys.readouterr().out


class _Spec:  # Paddle's InputSpec: a shape with an unknown batch
    shape = (None, 1, 28, 28)


class _TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(3, 2), nn.Linear(4, 2)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.a(x) + self.b(y)


class _DictInput(_TwoInputs):
    def forward(self, inputs: dict) -> torch.Tensor:  # type: ignore[override]
        return self.a(inputs["x"]) + self.b(inputs["y"])


def test_summary_takes_paddles_input_forms(capsys):
    expected = {"total_params": 61_610, "trainable_params": 61_610}
    assert paddle_summary(lenet(), _Spec()) == expected
    assert paddle_summary(lenet(), (-1, 1, 28, 28), dtypes="float32") == expected
    assert paddle_summary(lenet(), input=torch.rand(2, 1, 28, 28)) == expected
    assert "[[2, 1, 28, 28]]" in capsys.readouterr().out
    two = {"total_params": 18, "trainable_params": 18}
    assert paddle_summary(_TwoInputs(), [(1, 3), (1, 4)], dtypes=["float32", "float32"]) == two
    assert paddle_summary(_DictInput(), input={"x": torch.rand(5, 3), "y": torch.rand(5, 4)}) == two
    text = capsys.readouterr().out
    assert "Linear-2" in text and "[[5, 4]]" in text
    # dtype as resvision's summary took it
    assert paddle_summary(lenet().double(), (1, 1, 28, 28), dtype=torch.float64) == expected


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "cannot be None at the same time"),
        ({"input_size": (None, None, 28, 28)}, "only the batch dimension"),
        ({"input_size": (1, 0, 28, 28)}, "ints > 0"),
        ({"input_size": (1, 1, 28, 28), "dtypes": "float99"}, "unknown dtype 'float99'"),
        ({"input": "x"}, "input must be a tensor"),
    ],
)
def test_summary_errors_name_the_problem(kwargs, match):
    with pytest.raises(ValueError, match=match):
        paddle_summary(lenet(), **kwargs)


def test_summary_frozen_parameters_and_modes(capsys):
    net = lenet()
    net.train()
    net.features.eval()
    for p in net.features.parameters():
        p.requires_grad_(False)
    assert paddle_summary(net, (1, 1, 28, 28)) == {
        "total_params": 61_610,
        "trainable_params": 61_610 - 60 - 2_416,
    }
    assert net.training and not net.features.training and net.fc.training
    assert all(not m._forward_hooks for m in net.modules())


# ------------------------------------------------------------------ flops
def test_flops_of_resnet50_is_paddles_number(capsys):
    with torch.device("meta"):
        net = resnet50()
        assert flops(net, [1, 3, 224, 224]) == PADDLE_RESNET50_FLOPS
    out = capsys.readouterr().out
    assert f"Total Flops: {PADDLE_RESNET50_FLOPS}     Total Params: 25610152" in out
    assert "Cannot find suitable count function for <class " in out  # max pooling


def test_flops_of_lenet_is_paddles_number(capsys):
    assert resvision.flops(lenet(), [1, 1, 28, 28]) == 347_560  # Paddle's docstring
    assert capsys.readouterr().out.endswith("Total Flops: 347560     Total Params: 61610\n")


class _Every(nn.Module):
    """One layer of each rule, counted by hand below."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, padding=1)  # 4x6x6 out, bias
        self.dw = nn.Conv2d(4, 4, 3, padding=1, groups=2, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.bn1d = nn.BatchNorm1d(4)  # Paddle counts BatchNorm1D as nothing
        self.act = nn.LeakyReLU()
        self.pool = nn.AvgPool2d(2)  # 4x3x3
        self.up = nn.ConvTranspose2d(4, 2, 2, stride=2)  # 2x6x6
        self.adaptive = nn.AdaptiveAvgPool2d(2)  # window 3x3
        self.fc = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.bn(self.dw(self.conv(x))))
        x = self.adaptive(self.up(self.pool(x)))
        x = x.flatten(1)
        return self.fc(x) + self.bn1d(x[:, :4]).sum()


def test_flops_rules_by_hand(capsys):
    conv = 4 * 36 * (2 * 9 + 1)
    dw = 4 * 36 * (2 * 9)
    bn = 2 * 4 * 36
    act = 4 * 36
    pool = 4 * 9
    up = 2 * 36 * (4 * 4 + 1)
    adaptive = 2 * 4 * (9 + 1)
    fc = 8 * 5
    net = _Every()
    assert flops(net, [1, 2, 6, 6], print_detail=True) == (
        conv + dw + bn + act + pool + up + adaptive + fc
    )
    out = capsys.readouterr().out
    assert "<class 'torch.nn.modules.conv.Conv2d'>'s flops has been counted" in out
    assert (
        "Cannot find suitable count function for "
        "<class 'torch.nn.modules.batchnorm.BatchNorm1d'>. Treat it as zero FLOPs."
    ) in out
    assert re.search(r"\|\s+conv_transpose2d_0\s+\|", out) and re.search(
        r"\|\s+batch_norm2d_0\s+\|", out
    )
    params = sum(p.numel() for p in net.parameters()) + 2 * 4 + 2 * 4  # + BN statistics
    assert f"Total Params: {params}\n" in out
    assert all(not hasattr(m, "total_ops") and not m._forward_hooks for m in net.modules())


def test_flops_custom_ops_and_bad_arguments(capsys):
    def count_relu(m, x, y):
        m.total_ops += int(x[0].numel())

    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    assert flops(net, [2, 3], custom_ops={nn.ReLU: count_relu}) == 3 * 8 + 8
    assert "Customize Function has been applied to <class" in capsys.readouterr().out
    with pytest.warns(UserWarning, match="needs a torch.nn.Module"):
        assert flops("not a network", [1, 3]) == -1
    with pytest.raises(ValueError, match=r"input_size must be a list of ints > 0"):
        flops(net, [2, 0])


def test_flops_and_summary_equal_paddles_where_paddle_is_installed(capsys, monkeypatch):
    paddle = pytest.importorskip("paddle")
    # Paddle 3.3.1's flops calls int() on shape-[1] tensors, which NumPy >= 2.4 refuses; take
    # the one element instead (the counts are untouched).
    monkeypatch.setattr(paddle.Tensor, "__int__", lambda t: int(t.numpy().reshape(-1)[0]))
    size = [1, 3, 64, 64]
    theirs = paddle.vision.models.resnet18()
    expected = paddle.flops(theirs, size), paddle.summary(theirs, tuple(size))
    with torch.device("meta"):
        ours = resvision.models.resnet18()
        got = flops(ours, size), paddle_summary(ours, tuple(size))
    assert got[0] == expected[0]
    assert got[1] == {k: int(v) for k, v in expected[1].items()}


def test_summary_and_flops_have_paddles_signatures():
    def names(fn):
        return [(p.name, p.default) for p in inspect.signature(fn).parameters.values()]

    empty = inspect.Parameter.empty
    assert names(resvision.summary)[:4] == [
        ("net", empty),
        ("input_size", None),
        ("dtypes", None),
        ("input", None),
    ]
    assert names(resvision.flops) == [
        ("net", empty),
        ("input_size", empty),
        ("custom_ops", None),
        ("print_detail", False),
    ]


# ------------------------------------------------------------------ Model.save(training=False)
def _ours(caught: list) -> list[str]:
    """The warnings of save / load among those recorded (torch's own are not checked here)."""
    pattern = r"deployable|'inputs' was not given|optimizer state|LR_Scheduler"
    return [str(w.message) for w in caught if re.search(pattern, str(w.message))]


def _conv_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 3),
    )


def test_inference_save_writes_a_checked_torchscript_model(tmp_path):
    net = _conv_net().eval()
    model = Model(net, inputs=[None, 3, 8, 8], device="cpu")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        weights = model.save(tmp_path / "infer", training=False)
    assert not _ours(caught)  # the shape was given: no warning
    assert weights == tmp_path / "infer.pt"
    deployed = torch.jit.load(str(tmp_path / "infer.torchscript"))
    x = torch.randn(3, 3, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(deployed(x), net(x))
    fresh = _conv_net()
    fresh.load_state_dict(torch.load(weights, weights_only=True))


def test_inference_save_onnx(tmp_path):
    pytest.importorskip("onnxruntime")
    model = Model(_conv_net(), inputs=[None, 3, 8, 8], device="cpu")
    model.save(tmp_path / "infer", training=False, format="onnx")
    assert (tmp_path / "infer.onnx").is_file() and (tmp_path / "infer.pt").is_file()


def test_inference_save_without_a_shape_writes_the_weights_and_says_why(tmp_path):
    model = Model(_conv_net(), device="cpu")
    with pytest.warns(UserWarning, match="input shape is unknown"):
        model.save(tmp_path / "a", training=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.save(tmp_path / "b", training=False, format=None)
    assert not _ours(caught)
    model.predict_batch(torch.zeros(2, 3, 8, 8))  # the shape of the batches seen, as Paddle
    with pytest.warns(UserWarning, match=r"'inputs' was not given to Model.*\[None, 3, 8, 8\]"):
        model.save(tmp_path / "c", training=False)
    assert (tmp_path / "c.torchscript").is_file()
    with pytest.raises(ValueError, match="format must be one of"):
        model.save(tmp_path / "d", training=False, format="tflite")


# ------------------------------------------------------------------ Model.load of Paddle files
def _paddle_twin(optimizer: str = "momentum") -> tuple[Model, nn.Module]:
    """The fixture's network in PyTorch, prepared like the Paddle run."""
    torch.manual_seed(1)  # other initial weights: everything must come from the files
    net = _conv_net()
    model = Model(net, inputs=[None, 3, 5, 5], device="cpu")
    if optimizer == "momentum":
        schedule = lr.StepDecay(0.1, step_size=1, gamma=0.5)
        opt = Momentum(learning_rate=schedule, momentum=0.9, parameters=model.parameters())
    else:
        opt = Adam(learning_rate=0.1, parameters=model.parameters())
    model.prepare(opt, nn.CrossEntropyLoss(), amp_configs=None, channels_last=False)
    return model, net


def test_load_reads_paddles_pdparams_and_momentum_pdopt():
    expected = np.load(FIXTURES / "momentum_expected.npz")
    x, y = torch.from_numpy(expected["x"]), torch.from_numpy(expected["y"])
    model, net = _paddle_twin()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.load(FIXTURES / "momentum")
    assert not _ours(caught)  # everything maps: no warning
    net.eval()
    with torch.no_grad():
        torch.testing.assert_close(net(x), torch.from_numpy(expected["logits"]))
    assert model.optimizer.get_lr() == pytest.approx(0.025)  # StepDecay after Paddle's 2 steps
    assert len(model.optimizer.state) == 6  # a velocity per trainable parameter
    # One more step from the loaded velocity gives Paddle's parameters after its third step.
    model.train_batch(x, y)
    after = {
        k[len("after.") :]: torch.from_numpy(expected[k])
        for k in expected.files
        if k.startswith("after.")
    }
    after = convert_state_dict(after, source="paddle")
    for name, p in net.named_parameters():
        torch.testing.assert_close(p.detach(), after[name], rtol=1e-5, atol=1e-6, msg=name)


def test_load_of_a_pdparams_path_and_without_the_optimizer():
    model, net = _paddle_twin()
    model.load(FIXTURES / "momentum.pdparams", reset_optimizer=True)
    assert not model.optimizer.state and model.optimizer.lr_scheduler.last_epoch == 0
    reference, _ = _paddle_twin()
    reference.load(FIXTURES / "momentum")
    for a, b in zip(net.state_dict().values(), reference.network.state_dict().values()):
        assert torch.equal(a, b)


def test_load_warns_when_the_optimizer_state_does_not_map(tmp_path):
    model, net = _paddle_twin("adam")
    with pytest.warns(UserWarning, match=r"velocities, which are torch SGD's momentum_buffer"):
        model.load(FIXTURES / "momentum")  # the weights load all the same
    assert not model.optimizer.state
    reference, _ = _paddle_twin()
    reference.load(FIXTURES / "momentum", reset_optimizer=True)
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), reference.parameters()))

    # Adam's accumulators: no torch state to put them in without guessing the step count
    shutil.copy(FIXTURES / "momentum.pdparams", tmp_path / "adam.pdparams")
    arrays = {"conv2d_0.w_0_moment1_0": np.zeros((4, 3, 3, 3), "float32")}
    arrays["conv2d_0.w_0_beta1_pow_acc_0"] = np.ones(1, "float32")
    table = pickle.loads((FIXTURES / "momentum.pdparams").read_bytes())[
        "StructuredToParameterName@@"
    ]
    arrays = {k.replace("conv2d_0.w_0", table["0.weight"]): v for k, v in arrays.items()}
    (tmp_path / "adam.pdopt").write_bytes(pickle.dumps(arrays, protocol=4))
    model, _ = _paddle_twin()
    with pytest.warns(UserWarning, match=r"accumulators \['beta1_pow_acc', 'moment1'\]"):
        model.load(tmp_path / "adam")
    assert not model.optimizer.state

    # no name table: the accumulators cannot be tied to parameters
    state = pickle.loads((FIXTURES / "momentum.pdparams").read_bytes())
    del state["StructuredToParameterName@@"]
    (tmp_path / "bare.pdparams").write_bytes(pickle.dumps(state, protocol=4))
    shutil.copy(FIXTURES / "momentum.pdopt", tmp_path / "bare.pdopt")
    model, _ = _paddle_twin()
    with pytest.warns(UserWarning, match="has no 'StructuredToParameterName@@' table"):
        model.load(tmp_path / "bare")
    assert not model.optimizer.state


# ------------------------------------------------------------------ optimizer.Optimizer
def test_every_resvision_optimizer_is_an_optimizer():
    classes = [
        getattr(optim, n)
        for n in optim.__all__
        if inspect.isclass(getattr(optim, n))
        and issubclass(getattr(optim, n), torch.optim.Optimizer)
    ]
    assert len(classes) == 16  # Paddle's 14 optimizers, the base, Muon
    for cls in classes:
        assert issubclass(cls, Optimizer) and issubclass(cls, torch.optim.Optimizer), cls
    for method in (
        "step",
        "clear_grad",
        "minimize",
        "get_lr",
        "set_lr",
        "set_lr_scheduler",
        "state_dict",
        "set_state_dict",
    ):
        assert callable(getattr(Optimizer, method)), method
    params = inspect.signature(Optimizer.__init__).parameters
    assert [(p.name, p.default) for p in list(params.values())[1:]] == [
        ("learning_rate", inspect.Parameter.empty),
        ("parameters", None),
        ("weight_decay", None),
        ("grad_clip", None),
        ("name", None),
    ]


def test_minimize_applies_the_gradients_once_as_paddle():
    w = nn.Parameter(torch.ones(2))
    opt = SGD(learning_rate=0.5, parameters=[w])
    loss = (w * w).sum()
    loss.backward()  # Paddle's order: backward, then minimize
    ops, applied = opt.minimize(loss)
    assert ops == [] and [p for p, _ in applied] == [w] and w.tolist() == [0.0, 0.0]
    opt.clear_grad()
    w2 = nn.Parameter(torch.ones(2))
    opt = SGD(learning_rate=0.5, parameters=[w, w2])
    opt.minimize((w2 * w2).sum() + (w + 1).sum(), parameters=[w2])  # no backward yet: run it
    assert w.tolist() == [0.0, 0.0] and w2.tolist() == [0.0, 0.0]
    assert w.grad is not None  # set aside for the step, then given back


def test_set_lr_scheduler_replaces_the_schedule():
    w = nn.Parameter(torch.ones(1))
    first = lr.StepDecay(0.1, step_size=1, gamma=0.5)
    opt = Momentum(learning_rate=first, parameters=[w])
    second = lr.StepDecay(0.4, step_size=1, gamma=0.1)
    opt.set_lr_scheduler(second)
    first.step()  # the old schedule no longer drives this optimizer
    assert opt.get_lr() == pytest.approx(0.4) and opt.param_groups[0]["lr"] == pytest.approx(0.4)
    second.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.04)
    with pytest.raises(TypeError, match="LRScheduler"):
        opt.set_lr_scheduler(0.1)
