"""The peer harness (``benchmarks/peers.py``) gives every side the same work and alternates them.

A fake side script stands in for Paddle, torchvision and resvision: it goes through the real
``peer_common`` (arguments, thread variables, data, recipe, report) but trains nothing, and logs
its command line and environment, so the tests see exactly what each process was given. No
timing is asserted (speed is measured, not tested); the whole file runs in a few seconds.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

from benchmarks import peers
from benchmarks.peers import Comparison, Protocol, Side

FAKE = """
import json, os, sys
sys.path.insert(0, {peers_dir!r})
import peer_common

args = peer_common.parse_args("fake side", ("fp32", "auto", "bf16+cl"))
x, y = peer_common.random_images(args)
with open(os.environ["FAKE_LOG"], "a") as f:
    f.write(json.dumps({{"side": os.environ["FAKE_SIDE"], "argv": sys.argv[1:],
                        "threads": {{v: os.environ.get(v) for v in peer_common.THREAD_VARIABLES}},
                        "pythonpath": os.environ.get("PYTHONPATH", "")}}) + "\\n")
if os.environ.get("FAKE_FAIL") == os.environ["FAKE_SIDE"]:
    sys.exit("fake failure")
speed = {{"a": 100.0, "b": 150.0, "c": 50.0}}[os.environ["FAKE_SIDE"]]
peer_common.report(
    args, side=os.environ["FAKE_SIDE"], seconds=[args.steps * args.batch / speed], params=1234,
    data_digest=peer_common.digest(x, y), threads={{"torch": args.threads}},
    versions={{"fake": "1"}}, precision=args.precision, implementation="fake",
    final={{"loss": 2.3}},
)
"""


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fake side script, its log, and a comparison of three sides that run it."""
    script = tmp_path / "fake_side.py"
    script.write_text(FAKE.format(peers_dir=peers.PEERS_DIR))
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.delenv("FAKE_FAIL", raising=False)
    for var in peers.THREAD_VARIABLES:
        monkeypatch.setenv(var, "7")  # the harness must override what it inherits

    real = peers.run_process

    def runner(cmd, env, timeout):
        # which side is running: the fake reads it from its environment
        side = {"fp32": "a", "auto": "b", "bf16+cl": "c"}[cmd[cmd.index("--precision") + 1]]
        return real(cmd, {**env, "FAKE_SIDE": side}, timeout)

    sides = (
        Side("a", "peer A", sys.executable, str(script), "fp32"),
        Side("b", "resvision B", sys.executable, str(script), "auto", resvision=True),
        Side("c", "peer C", sys.executable, str(script), "bf16+cl"),
    )
    comparison = Comparison("fake resnet", "resnet50", 8, 4, 10, 3, sides, (("b", "a"),))

    def read_log() -> list[dict]:
        return [json.loads(line) for line in log.read_text().splitlines()]

    return comparison, runner, read_log


def test_every_side_gets_the_same_work_and_the_sides_alternate(fake, tmp_path) -> None:
    comparison, runner, read_log = fake
    protocol = Protocol(rounds=2, warmup=2, threads=1)
    out = tmp_path / "peers.json"
    rows = peers.run(cases=[comparison], protocol=protocol, out=str(out), runner=runner,
                     log=lambda _: None)  # fmt: skip
    calls = read_log()
    # ABBA with three sides: forward, then backward; one process per side and round
    assert [c["side"] for c in calls] == list("abccba")
    # the same arguments (recipe, batch, steps, warm-up, threads, data seed, workers) for all
    common = {tuple(c["argv"][: c["argv"].index("--precision")]) for c in calls}
    assert len(common) == 1
    argv = list(common.pop())
    expect = {"--batch": "4", "--steps": "3", "--warmup": "2", "--threads": "1",
              "--rounds": "1", "--workers": "0", "--lr": "0.01", "--momentum": "0.9",
              "--weight-decay": "0.0001", "--topk": "1,5"}  # fmt: skip
    assert {k: argv[argv.index(k) + 1] for k in expect} == expect
    # the thread variables are set in every process, whatever the harness inherited
    assert all(set(c["threads"].values()) == {"1"} for c in calls)
    # resvision's side finds src/ first; the peers' do not get it
    assert all(c["pythonpath"].split(":")[0] == peers.SRC for c in calls if c["side"] == "b")
    assert not any(peers.SRC in c["pythonpath"] for c in calls if c["side"] != "b")

    record = json.loads(out.read_text())
    assert record["protocol"]["rounds"] == 2 and record["protocol"]["warmup"] == 2
    assert record["protocol"]["threads"] == 1 and "ABBA" in record["protocol"]["order"]
    assert record["recipe"]["momentum"] == 0.9 and record["recipe"]["weight_decay"] == 1e-4
    assert record["recipe"]["metrics"] == ["acc_top1", "acc_top5"]
    assert "per-sample in-memory Dataset" in record["data_path"]
    assert {"cpu", "cores", "python"} <= set(record["machine"])
    (cmp,) = record["comparisons"]
    assert cmp["equal"]["all"] is True
    assert cmp["order"] == [list("abc"), list("cba")]
    for side in cmp["sides"].values():
        assert side["rounds"] == 2 and len(side["images_per_s"]) == 2
        assert side["threads"]["requested"] == 1 and side["threads"]["OMP_NUM_THREADS"] == "1"
        assert side["best"] >= side["median"] > 0
    (pair,) = cmp["pairs"]
    assert pair["ratio_best"] == pytest.approx(1.5, rel=1e-3)
    assert pair["ratio_median"] == pytest.approx(1.5, rel=1e-3)

    by_name = {r.name: r for r in rows}
    ours = by_name["fake resnet: resvision B"]
    assert ours.ratio == pytest.approx(1.5, rel=1e-3) and ours.baseline == "peer A"
    assert ours.extra["rounds"] == 2 and "UNEQUAL" not in ours.note
    assert by_name["fake resnet: peer A"].ratio is None
    assert "| fake resnet: resvision B | 150.0 | 150.0 | peer A | 1.50x | 1.50x | 2 |" in (
        peers.markdown(rows)
    )


def test_unequal_reports_are_flagged() -> None:
    """A side that trained other data, another batch or with other threads is named."""

    def runner(cmd, env, timeout):
        precision = cmd[cmd.index("--precision") + 1]
        odd = precision == "auto"
        return {
            "best": 10.0, "median": 10.0, "precision": precision, "params": 5 if odd else 6,
            "recipe": {"lr": 0.01}, "batch": 4, "steps": 3, "warmup": 1,
            "data": {"sha256": "x" if odd else "y", "images": 12, "workers": 0},
            "threads": {"requested": 1, "OMP_NUM_THREADS": "1", "torch": 2 if odd else 1},
            "versions": {}, "implementation": "fake",
        }  # fmt: skip

    sides = (Side("a", "A", sys.executable, "x.py", "fp32"),
             Side("b", "B", sys.executable, "x.py", "auto"))  # fmt: skip
    comparison = Comparison("odd", "resnet50", 8, 4, 10, 3, sides, (("b", "a"),))
    record = peers.measure(comparison, Protocol(rounds=2, threads=1), runner, log=lambda _: None)
    equal = record["equal"]
    assert equal["all"] is False
    assert equal["recipe"] is True and equal["batch"] is True and equal["rounds"] is True
    assert equal["data"] is not True and equal["threads"] is not True
    assert equal["params"] is not True
    row = peers.rows_of(record)[1]  # side B's
    assert "UNEQUAL: data, threads, params" in row.note


def test_a_missing_peer_is_skipped_without_running_anything(fake) -> None:
    comparison, _, _ = fake
    gone = Side("a", "peer A", "/nowhere/bin/python", "x.py", "fp32")
    comparison = Comparison("gone", "resnet50", 8, 4, 10, 3, (gone, *comparison.sides[1:]),
                            comparison.pairs)  # fmt: skip

    def runner(*_):
        raise AssertionError("no process may start when a peer is missing")

    (row,) = peers.run(cases=[comparison], protocol=Protocol(rounds=2), runner=runner,
                       log=lambda _: None)  # fmt: skip
    assert row.value is None and row.note == "skipped: not installed: /nowhere/bin/python"


def test_a_failing_side_skips_its_comparison_with_the_reason(fake, monkeypatch) -> None:
    comparison, runner, _ = fake
    monkeypatch.setenv("FAKE_FAIL", "c")
    (row,) = peers.run(cases=[comparison], protocol=Protocol(rounds=2, threads=1),
                       runner=runner, log=lambda _: None)  # fmt: skip
    assert row.value is None and "peer C failed" in row.note and "fake failure" in row.note


def test_the_real_comparisons_pair_equal_precisions_and_default_to_the_shared_venvs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RESVISION_PADDLE_PYTHON", raising=False)
    monkeypatch.delenv("RESVISION_TV_PYTHON", raising=False)
    fresh = importlib.reload(peers)
    try:
        assert fresh.PADDLE_PYTHON == "/work/venvs/paddle/bin/python"
        assert fresh.TV_PYTHON == "/work/venvs/tv/bin/python"
        cases = fresh.comparisons()
    finally:
        importlib.reload(peers)
    names = [c.name for c in cases]
    assert names == ["tutorial resnet50@32 b64 vs Paddle", "resnet50@32 b64 vs torchvision",
                     "resnet18@32 b128 vs torchvision"]  # fmt: skip
    for case in cases:
        sides = {s.key: s for s in case.sides}
        # resvision runs with the peer's own interpreter (one torch and numpy build)
        assert len({s.python for s in case.sides}) == 1
        for ours, peer in case.pairs:
            assert sides[ours].resvision and not sides[peer].resvision
            if sides[ours].precision == "fp32":
                assert sides[peer].precision == "fp32"
        for side in case.sides:
            assert Path(fresh.PEERS_DIR, side.script).is_file()
    paddle = cases[0]
    assert (paddle.model, paddle.size, paddle.batch, paddle.classes) == ("resnet50", 32, 64, 10)


def test_round_order_and_the_quick_protocol() -> None:
    assert peers.round_order(["p", "r"], 4) == [["p", "r"], ["r", "p"], ["p", "r"], ["r", "p"]]
    args = peers.common_args(peers.comparisons()[0], Protocol(rounds=2, warmup=5, steps=2))
    # warm-up never exceeds the timed steps (the scripts refuse it)
    assert args[args.index("--warmup") + 1] == "2"


def test_data_pipeline_gives_every_path_the_same_rounds_in_alternating_order() -> None:
    from benchmarks.data_pipeline import alternating_rounds

    calls: list[str] = []

    def path(name: str, images: int):
        return lambda: calls.append(name) or images

    speeds = alternating_rounds({"fast": path("fast", 512), "slow": path("slow", 512)}, 3)
    warmup, timed = calls[:2], calls[2:]
    assert warmup == ["fast", "slow"]
    assert timed == ["fast", "slow", "slow", "fast", "fast", "slow"]
    assert {k: (v["rounds"], v["images_per_round"]) for k, v in speeds.items()} == {
        "fast": (3, [512]),
        "slow": (3, [512]),
    }


def test_epoch_plan_says_whether_it_extrapolates() -> None:
    from benchmarks.epoch import plan

    assert plan("resnet50", quick=False, whole_epoch=False) == {
        "warmup": 3,
        "rounds": 5,
        "steps": 30,
    }
    assert plan("resnet20", quick=False, whole_epoch=False)["steps"] == 90
    assert plan("resnet50", quick=False, whole_epoch=True) == {
        "warmup": 3,
        "rounds": 3,
        "steps": 0,
    }
