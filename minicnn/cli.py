"""The ``minicnn`` command: train, evaluate, check gradients, search, and report the setup.

    minicnn train --model lenet5 --dataset mnist-offline --epochs 8 --out runs/lenet
    minicnn train --out runs/lenet --resume                  # continue an interrupted run
    minicnn eval --checkpoint runs/lenet
    minicnn gradcheck
    minicnn search --trials 6 --limit 1000
    minicnn info

Every subcommand's ``--help`` lists its options with examples. The work is done in
``minicnn.train.run``; this file only parses arguments and prints.
"""
import argparse
import json
import os
import platform
import sys

EXAMPLES = """examples:
  minicnn train --model lenet5 --dataset mnist-offline --epochs 8 --out runs/lenet
      the demo: LeNet-5 on the 4,000 MNIST digits shipped with minicnn (no network needed)
  minicnn train --out runs/lenet --resume
      continue the run saved in runs/lenet exactly where it stopped
  minicnn train --out runs/lenet --resume --epochs 12
      train that run longer (the learning-rate schedule is stretched)
  minicnn train --model resnet20 --dataset cifar10 --download --optimizer sgd --lr 0.1 \\
      --weight-decay 5e-4 --batch-size 128 --epochs 30 --out runs/resnet20
  minicnn eval --checkpoint runs/lenet            (accuracy and confusion matrix)
  minicnn gradcheck                               (finite-difference check of every op)
  minicnn search --trials 6 --limit 1000          (random search over lr and weight decay)
  minicnn info                                    (versions, kernels, GPU)
"""


def _add_data_options(parser):
    parser.add_argument("--dataset", choices=("mnist-offline", "mnist", "fashion-mnist", "cifar10"),
                        help="mnist-offline: 4,000/1,000 real MNIST digits shipped with minicnn "
                             "(default); the others are read from --data-root")
    parser.add_argument("--data-root", help="folder of the dataset files (default: "
                                            "$MINICNN_DATA or ~/.minicnn/data)")
    parser.add_argument("--download", action="store_true", help="fetch missing dataset files")
    parser.add_argument("--limit", type=int, help=argparse.SUPPRESS)  # tiny runs for tests
    _add_thread_option(parser)


def _add_thread_option(parser):
    parser.add_argument("--threads", type=int, default=1, metavar="N",
                        help="threads for minicnn's kernels, BLAS held to one (default 1; "
                             "2 speeds up a ResNet-20 step ~1.5x on 2 cores, a LeNet-5 step "
                             "~1.1x, see minicnn.train.run.compute_threads); "
                             "0 keeps the libraries' own settings")


def _train_parser(subparsers):
    parser = subparsers.add_parser(
        "train", help="train a model and save checkpoints, history and plots",
        description="Train a model; writes checkpoint.npz (last epoch), best.npz (best "
                    "validation accuracy), history.json and PNG plots into --out, then prints "
                    "the test accuracy, time per epoch and images/s.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="lenet5 (default), resnet20, vgg_cifar, resnet18, ...")
    _add_data_options(parser)
    parser.add_argument("--epochs", type=int, help="number of epochs (default 8)")
    parser.add_argument("--batch-size", type=int,
                        help="mini-batch size (default: 16 for mnist-offline, 64 for mnist and "
                             "fashion-mnist, 128 for cifar10)")
    parser.add_argument("--lr", type=float, help="learning rate (default: sgd 0.05, adam/adamw 2e-3)")
    parser.add_argument("--optimizer", choices=("sgd", "adam", "adamw"), help="default adam")
    parser.add_argument("--momentum", type=float, help="SGD momentum, Nesterov (default 0.9)")
    parser.add_argument("--weight-decay", type=float, help="L2 penalty / AdamW decay (default 0)")
    parser.add_argument("--label-smoothing", type=float, help="cross-entropy label smoothing (default 0.1)")
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                        help="random shifts (and flips for CIFAR) of training batches (default on)")
    parser.add_argument("--schedule", choices=("cosine", "step", "none"),
                        help="learning-rate schedule (default cosine, per step)")
    parser.add_argument("--warmup-epochs", type=float, help="linear warm-up before the cosine (default 0)")
    parser.add_argument("--val-split", type=float, help="fraction of the training set held out "
                                                        "for validation / best checkpoint (default 0.1)")
    parser.add_argument("--ema", type=float, dest="ema_decay", metavar="DECAY",
                        help="keep an exponential moving average of the weights (e.g. 0.999)")
    parser.add_argument("--grad-clip", type=float, help="clip the gradient norm to this value")
    parser.add_argument("--seed", type=int, help="random seed (default 0)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its checkpoint.npz (its settings "
                             "are used; --epochs may extend it)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG pictures")
    parser.add_argument("--stop-after", type=int, help=argparse.SUPPRESS)  # simulate an interruption
    parser.set_defaults(handler=cmd_train)


def _eval_parser(subparsers):
    parser = subparsers.add_parser(
        "eval", help="test accuracy and confusion matrix of a saved model",
        description="Evaluate a checkpoint on its dataset's test set.",
        epilog="examples:\n  minicnn eval --checkpoint runs/lenet\n"
               "  minicnn eval --checkpoint runs/lenet --which best --out runs/lenet/eval",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True,
                        help="a training folder (its checkpoint.npz) or a checkpoint file")
    parser.add_argument("--which", choices=("last", "best"), default="last",
                        help="for a folder: the last epoch (checkpoint.npz, default) or the "
                             "best by validation accuracy (best.npz)")
    parser.add_argument("--out", help="also save confusion_matrix.png there")
    _add_thread_option(parser)
    parser.set_defaults(handler=cmd_eval)


def _search_parser(subparsers):
    parser = subparsers.add_parser(
        "search", help="random search over learning rate and weight decay",
        description="Coarse-to-fine random search (log-uniform lr and weight decay) on a small "
                    "budget; prints the trials sorted by validation accuracy.",
        epilog="examples:\n  minicnn search --trials 6 --fine-trials 3 --limit 1000\n"
               "  minicnn search --model lenet5 --optimizer sgd --lr-range 1e-3 1 --out runs/search",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="lenet5",
                        help="the model every trial trains (default lenet5; as for train)")
    _add_data_options(parser)
    parser.add_argument("--optimizer", choices=("sgd", "adam", "adamw"), default="adamw",
                        help="optimizer of every trial (default adamw)")
    parser.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    parser.add_argument("--trials", type=int, default=6, help="coarse trials (default 6)")
    parser.add_argument("--fine-trials", type=int, default=3,
                        help="fine trials, sampled in ranges narrowed around the best coarse "
                             "trial (default 3; 0 skips the fine stage)")
    parser.add_argument("--coarse-epochs", type=int, default=1,
                        help="epochs of each coarse trial (default 1)")
    parser.add_argument("--fine-epochs", type=int, default=2,
                        help="epochs of each fine trial (default 2)")
    parser.add_argument("--lr-range", type=float, nargs=2, default=(1e-4, 1e-1), metavar=("LOW", "HIGH"),
                        help="learning rates of the coarse stage, sampled log-uniformly "
                             "(default 1e-4 1e-1)")
    parser.add_argument("--wd-range", type=float, nargs=2, default=(1e-6, 1e-2), metavar=("LOW", "HIGH"),
                        help="weight decays of the coarse stage, sampled log-uniformly "
                             "(default 1e-6 1e-2)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the sampling and of the trials' initialisation (default 0)")
    parser.add_argument("--out", help="save the table as search.json there")
    parser.set_defaults(handler=cmd_search, limit=None)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="minicnn", description="minicnn: a from-scratch CNN framework -- train, evaluate, "
                                    "check gradients.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _train_parser(subparsers)
    _eval_parser(subparsers)
    gradcheck = subparsers.add_parser(
        "gradcheck", help="finite-difference gradient check of every differentiable op",
        description="Checks every op's backward against central differences in float64; exits "
                    "with 1 if one fails.", epilog="example:\n  minicnn gradcheck --ops conv pool",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    gradcheck.add_argument("--ops", nargs="+", help="only ops whose name contains one of these")
    gradcheck.set_defaults(handler=cmd_gradcheck)
    _search_parser(subparsers)
    info = subparsers.add_parser("info", help="versions, kernel backend, Numba cache, GPU",
                                 description="Print the versions and the compute setup.")
    info.set_defaults(handler=cmd_info)
    return parser


# ----- commands ----------------------------------------------------------------------------------
TRAIN_SETTINGS = ("model", "dataset", "epochs", "batch_size", "lr", "optimizer", "momentum",
                  "weight_decay", "label_smoothing", "augment", "seed", "schedule", "warmup_epochs",
                  "val_split", "ema_decay", "grad_clip", "limit", "data_root", "download")


def cmd_train(args):
    from .train.run import train_run

    if args.resume:
        given = [name for name in TRAIN_SETTINGS if name != "epochs" and getattr(args, name) not in (None, False)]
        if given:
            print(f"note: --resume uses the settings saved in the checkpoint; ignoring "
                  f"{', '.join('--' + g.replace('_', '-') for g in given)}")
        summary = train_run(args.out, resume=True, epochs=args.epochs, progress=not args.no_progress,
                            stop_after=args.stop_after, plots=not args.no_plots)
    else:
        config = {name: getattr(args, name) for name in TRAIN_SETTINGS}
        summary = train_run(args.out, config=config, progress=not args.no_progress,
                            stop_after=args.stop_after, plots=not args.no_plots)
    _print_train_summary(summary)
    diverged = summary["stop_reason"] is not None and "diverged" in summary["stop_reason"]
    return 1 if diverged else 0


def _print_train_summary(summary):
    print(f"output folder:    {summary['out_dir']}")
    if summary.get("seconds_per_epoch") is not None:
        print(f"time per epoch:   {summary['seconds_per_epoch']:.1f} s "
              f"(total {summary['total_seconds']:.1f} s)")
        print(f"images/s:         {summary['images_per_s']:.0f} (training)")
    if summary["stop_reason"]:
        print(f"stopped early:    {summary['stop_reason']}")
    if "test_acc" in summary:
        print(f"test accuracy:    {100 * summary['test_acc']:.2f}% (epoch {summary['epochs']}, "
              f"checkpoint.npz)")
    if "best_test_acc" in summary:
        print(f"                  {100 * summary['best_test_acc']:.2f}% (epoch "
              f"{summary['best_epoch']}, the best by validation accuracy, best.npz)")
    for error in summary.get("plot_errors") or []:
        print(f"warning: plot not written: {error}")


def cmd_eval(args):
    from .train.run import evaluate_checkpoint, resolve_checkpoint

    path = resolve_checkpoint(args.checkpoint, args.which)
    result = evaluate_checkpoint(path)
    data = result["data"]
    print(f"checkpoint:    {path}")
    print(f"model:         {result['config']['model']} on {result['config']['dataset']} "
          f"({len(data.test_labels)} test images)")
    print(f"test loss:     {result['loss']:.4f}")
    print(f"test accuracy: {100 * result['accuracy']:.2f}%")
    print("confusion matrix (rows: true class, columns: predicted):")
    print(format_confusion(result["confusion"], data.classes))
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        try:
            import matplotlib
            matplotlib.use("Agg")
            from . import viz
            figure = viz.plot_confusion_matrix(data.test_labels, result["predictions"],
                                               class_names=list(data.classes))
            viz.save_figure(figure, os.path.join(args.out, "confusion_matrix.png"))
        except Exception as error:  # noqa: BLE001 -- a picture is optional
            print(f"warning: confusion_matrix.png not written: {type(error).__name__}: {error}")
    return 0


def format_confusion(counts, class_names):
    names = [str(name)[:8] for name in class_names]
    width = max(5, max(len(n) for n in names), len(str(counts.max())))
    header = " " * (width + 1) + " ".join(n.rjust(width) for n in names)
    rows = [names[i].rjust(width) + " " + " ".join(str(v).rjust(width) for v in row)
            for i, row in enumerate(counts)]
    return "\n".join([header, *rows])


def cmd_gradcheck(args):
    from .train.gradcheck_suite import format_gradcheck_table, run_gradchecks

    rows = run_gradchecks(names=args.ops)
    if not rows:
        print(f"no op matches {args.ops}")
        return 2
    print(format_gradcheck_table(rows))
    return 0 if all(row["passed"] for row in rows) else 1


def cmd_search(args):
    from .train.run import search_run

    config = {"model": args.model, "dataset": args.dataset, "optimizer": args.optimizer,
              "batch_size": args.batch_size, "seed": args.seed, "limit": args.limit,
              "data_root": args.data_root, "download": args.download}
    result = search_run(config, trials=args.trials, fine_trials=args.fine_trials,
                        coarse_epochs=args.coarse_epochs, fine_epochs=args.fine_epochs,
                        lr_range=tuple(args.lr_range), wd_range=tuple(args.wd_range), seed=args.seed)
    print(result.table())
    best = result.best
    print(f"best: lr={best['lr']:.3g}, weight_decay={best['weight_decay']:.3g} "
          f"(val_acc {best['val_acc']:.4f})")
    for message in result.warnings:
        print(f"warning: {message}")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "search.json"), "w", encoding="utf-8") as f:
            json.dump(result.rows, f, indent=1, default=float)
    return 0


def cmd_info(args):
    import numpy

    from . import __version__
    from kernels.backend import get_backend

    print(f"minicnn        {__version__}")
    print(f"python         {platform.python_version()} ({sys.executable})")
    print(f"numpy          {numpy.__version__}")
    try:
        import numba
        from numba.core.config import CACHE_DIR
        print(f"numba          {numba.__version__}")
        print(f"numba cache    {CACHE_DIR or '__pycache__ folders beside the kernel sources (default)'}")
    except ImportError:
        print("numba          not installed (the compiled CPU kernels are unavailable)")
    print(f"cpu kernels    {get_backend()}  (MINICNN_BACKEND=reference for the NumPy reference)")
    from kernels.cpu import get_num_threads
    print(f"cpu threads    {get_num_threads()}  (MINICNN_NUM_THREADS, or --threads for train/eval)")
    print(f"cpu cores      {os.cpu_count()}")
    from kernels.cpu import memory
    print(f"memory reuse   up to {memory.MAX_BYTES / 2**20:.0f} MiB for arrays of "
          f"{memory.MIN_BYTES // 1024} KiB or more  (MINICNN_POOL_MB; 0 turns it off)")
    print(f"cupy           {_cupy_line()}")
    from .autograd.device import cuda_is_available
    print(f"gpu usable     {'yes' if cuda_is_available() else 'no'}")
    return 0


def _cupy_line():
    try:
        import cupy
    except Exception as error:  # noqa: BLE001 -- ImportError or a broken CUDA install
        return f"not available ({type(error).__name__})"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
        return f"{cupy.__version__} ({count} GPU{'s' if count != 1 else ''})"
    except Exception as error:  # noqa: BLE001
        return f"{cupy.__version__} (no usable GPU: {type(error).__name__})"


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 2
    from .train.run import compute_threads

    threads = getattr(args, "threads", 0)
    try:
        with compute_threads(threads if threads > 0 else None):
            return args.handler(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"minicnn {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted; `minicnn train --out DIR --resume` continues from the last "
              "finished epoch", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
