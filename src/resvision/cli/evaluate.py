"""``resvision eval``: evaluate a checkpoint and print (or write) the report's details."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from resvision.cli.table import format_table
from resvision.recipe.config import Config
from resvision.recipe.data import Preprocess, open_data
from resvision.recipe.errors import UsageError
from resvision.recipe.evaluation import (
    dataset_labels,
    evaluate_logits,
    load_model_for_inference,
    predict_logits,
    write_misclassified,
)
from resvision.recipe.runfolder import EVALUATION_FILE, MISCLASSIFIED_FILE


def run_eval(args: argparse.Namespace) -> int:
    """``resvision eval --checkpoint CKPT [--data DATA] [--split S] [--json] [--output DIR]``."""
    from resvision.recipe.runfolder import write_json
    from resvision.recipe.runs import load_run, parse_classes

    classes = parse_classes(args.classes) if args.classes else None
    file, info, checkpoint = load_run(args.checkpoint, model=args.model, classes=classes)
    if info.get("data_known") is False and not args.data:
        raise UsageError(
            f"{str(file)!r} was trained in Python on data resvision cannot name: give the data "
            "to evaluate on with --data (a data set name or a folder)"
        )
    cfg = Config.from_dict(info["config"])
    if args.data:
        cfg.data.name = args.data
    if args.data_root:
        cfg.data.root = args.data_root
    cfg.data.num_workers = args.num_workers
    pre = Preprocess.from_dict(info["preprocess"])
    # The split the run evaluated on, unless another is asked for (or the data set changed).
    split = args.split or (info.get("eval_split") if not args.data else None)
    trained = list(info["classes"])
    data = open_data(cfg.data, train=False, eval_split=split, preprocess=pre, classes=trained)
    if len(data.classes) != len(trained):
        raise UsageError(
            f"the checkpoint was trained on {len(trained)} classes, {data.description} has "
            f"{len(data.classes)}"
        )
    model = load_model_for_inference(info, file, args.device, checkpoint)
    logits = predict_logits(model, data.eval, args.batch_size, args.num_workers)
    labels = dataset_labels(data.eval)
    results, probs = evaluate_logits(logits, labels, trained)
    results.update({"data": data.description, "split": data.eval_split, "checkpoint": str(file)})
    if args.output:
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / EVALUATION_FILE, results)
        write_misclassified(out / MISCLASSIFIED_FILE, data.eval, probs, labels, trained, 40)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"checkpoint: {file}\ndata: {data.description} ({data.eval_split}, {len(labels)} images)")
    top5 = results["acc_top5"]
    print(
        f"loss {results['loss']:.4f}  top-1 {100 * results['acc_top1']:.2f}%"
        + (f"  top-5 {100 * top5:.2f}%" if top5 is not None else "")
        + f"  mean per-class {100 * results['mean_class_acc']:.2f}%\n"
    )
    matrix = results["confusion_matrix"]
    rows = [
        [c, results["per_class_count"][i], _pct(results["per_class_accuracy"][i])]
        for i, c in enumerate(trained)
    ]
    if len(trained) <= 12:
        header = ["class", "images", "accuracy", *(c[:6] for c in trained)]
        rows = [row + matrix[i] for i, row in enumerate(rows)]
        print("rows: true class; last columns: the confusion matrix (predicted class)")
    else:
        header = ["class", "images", "accuracy"]
    print(format_table(header, rows, left=1))
    if args.output:
        from resvision.report import build_report

        print(f"\nwritten: {out / EVALUATION_FILE}, report {build_report(out)}")
    return 0


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"
