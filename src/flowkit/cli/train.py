"""``flowkit train``: train a flow on a built-in data set into a run folder, resuming what is there."""

import argparse
import inspect
import math
from typing import Any

import torch

from ._common import is_main_process, parse_options, pick_device, positive


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "train",
        help="train a flow on a built-in data set",
        description=(
            "Train a flow-matching model and write its run folder (manifest.json, checkpoint.safetensors, "
            "metrics.jsonl). If --out already holds this run, training resumes from its checkpoint up to "
            "--steps; a folder holding another run, or this run with other settings (--lr, --batch-size, "
            "--seed, --warmup-steps, ...), is refused, listing the differences. The folder is locked while "
            "a run trains in it."
        ),
    )
    p.add_argument(
        "--data",
        default="moons",
        help="a built-in data set (moons, 8gaussians, checkerboard, digits, mnist, ...), a folder of PNG "
        "images, or an .npz file of images",
    )
    p.add_argument(
        "--model",
        help="a registered model: mlp (default for vectors) or unet (default for images: a folder, an "
        ".npz, or digits/mnist with --model unet)",
    )
    p.add_argument(
        "--model-option",
        action="append",
        metavar="KEY=VALUE",
        help="model option, e.g. channels=32 (repeatable)",
    )
    p.add_argument("--hflip", action="store_true", help="random horizontal flips of images (off for digits)")
    p.add_argument("--path", default="ot", help="a registered path name (default: ot)")
    p.add_argument(
        "--solver", default="dopri5", help="the run's default solver for sampling (default: dopri5)"
    )
    p.add_argument("--objective", default="cfm", help="a registered objective name (default: cfm)")
    p.add_argument("--steps", type=int, default=1000, help="total optimizer steps (default: 1000)")
    p.add_argument("--out", required=True, help="the run folder")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup-steps", type=int, default=100)
    p.add_argument("--width", type=int, default=256, help="hidden width of the MLP field")
    p.add_argument("--depth", type=int, default=4, help="hidden layers of the MLP field")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: cuda when available)")
    p.add_argument("--data-size", type=int, help="points drawn from a 2-D toy (default: 10000)")
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--compile", action="store_true", help="torch.compile the field")
    p.add_argument("--no-bf16", action="store_true", help="no bfloat16 autocast on CUDA")
    for part in ("path", "solver", "objective"):
        p.add_argument(
            f"--{part}-option", action="append", metavar="KEY=VALUE", help=f"{part} option (repeatable)"
        )
    p.add_argument(
        "--override-settings",
        action="store_true",
        help="resume even though settings that change the result differ from the folder's; the change "
        "is recorded in manifest.json as an amendment with its step",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def is_image_source(data: str) -> bool:
    """Whether ``--data`` names files (a folder or an ``.npz``) rather than a built-in data set."""
    from pathlib import Path

    return data.lower().endswith(".npz") or Path(data).is_dir() or "/" in data


def load_training_data(
    name: str, size: int | None, seed: int, as_images: bool = False
) -> tuple[torch.Tensor, float | None]:
    """The training set of a built-in data set (the train split of digits and mnist) and its bin width.

    A folder of PNGs or an ``.npz`` file is read whole (see [`flowkit.data.images`][flowkit.data.images]).
    """
    from ..data import get_dataset, load_dataset

    if is_image_source(name):
        from ..data.images import load_images

        images = load_images(name)
        return images.x, images.bin_width
    spec = get_dataset(name)
    generator = torch.Generator().manual_seed(seed)
    if spec.name in ("digits", "mnist"):
        x = load_dataset(spec.name, size, generator=generator, split="train", as_images=as_images)
        return x, spec.bin_width
    return load_dataset(spec.name, size, generator=generator), spec.bin_width


def run(args: argparse.Namespace) -> int:
    from .. import build
    from ..plugin import get_registry
    from ..train import TrainConfig, train

    for flag in ("steps", "batch_size", "width", "depth", "data_size", "checkpoint_every", "log_every"):
        positive("--" + flag.replace("_", "-"), getattr(args, flag))
    torch.manual_seed(args.seed)  # before anything is built: the initial weights follow --seed
    model_name = args.model or ("unet" if is_image_source(args.data) else "mlp")
    data, bin_width = load_training_data(args.data, args.data_size, args.seed, as_images=model_name == "unet")
    options = {
        part: parse_options(getattr(args, f"{part}_option"), f"--{part}-option")
        for part in ("path", "solver", "objective")
    }
    objective_cls = get_registry().get("objective", args.objective).cls
    if "data" in inspect.signature(objective_cls).parameters and "data" not in options["objective"]:
        options["objective"]["data"] = data  # fm: the exact marginal field of the training set
    shape = tuple(data.shape[1:])
    model_options = parse_options(args.model_option, "--model-option")
    if model_name == "mlp":
        data = data.reshape(data.shape[0], -1)
        shape = (math.prod(shape),)
        model_options = {"width": args.width, "depth": args.depth, **model_options}
    flow = build(
        path=args.path,
        solver=args.solver,
        objective=args.objective,
        model=model_name,
        model_options=model_options,
        shape=shape,
        path_options=options["path"],
        solver_options=options["solver"],
        objective_options=options["objective"],
    )
    pick_device(args.device)  # a clear error for a device that is not there
    config = TrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        warmup_steps=args.warmup_steps,
        seed=args.seed,
        device=args.device,  # None: cuda:LOCAL_RANK when there is CUDA (one per process under torchrun)
        bf16=not args.no_bf16,
        compile=args.compile,
        dequantize=bin_width if bin_width is not None else False,
        data_name=args.data,
        log_every=args.log_every,
        checkpoint_every=args.checkpoint_every,
        out=args.out,
        resume=True,
        progress=not args.quiet,
        hflip=args.hflip,
        override_settings=args.override_settings,
    )
    result = train(flow, data, config)
    if not is_main_process():
        return 0
    device = next(result.flow.parameters()).device
    done = result.step - result.start_step
    if done == 0:
        print(f"{args.out} already holds this run at step {result.step}; raise --steps to train further")
        return 0
    resumed = f" (resumed from step {result.start_step})" if result.start_step else ""
    loss = f"; last loss {result.losses[-1][1]:.4f}" if result.losses else ""
    print(
        f"trained {args.objective} on {args.data} to step {result.step}{resumed} in {result.wall_time:.1f} s "
        f"({result.steps_per_s:.1f} steps/s on {device}){loss}"
    )
    print(f"run folder: {args.out} (manifest.json, checkpoint.safetensors, metrics.jsonl)")
    return 0
