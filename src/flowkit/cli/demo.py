"""``flowkit demo``: train OT-CFM on a 2-D toy on the CPU, then draw and measure it.

With no arguments: about a minute or two on two CPU cores. Writes to the output
folder ``samples.png`` (samples beside held-out data), ``trajectories.png``
(noise to data), ``density.png`` (``exp log p_1`` on a grid, by the
instantaneous change of variables), ``loss.png`` and the run folder ``run/``
(usable with ``flowkit sample`` and ``flowkit eval``), and prints the held-out
NLL, the dopri5 NFE and the wall time.
"""

import argparse
import time
from pathlib import Path
from typing import Any

import torch

from ._common import check_output_folder, heldout_data, nonnegative, pick_device, positive
from .demo_config import demo_config
from .evaluate import print_report

DEFAULTS = {"data": "moons", "steps": 4000, "batch_size": 256, "lr": 2e-3, "width": 256, "depth": 4}


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="train OT-CFM on a 2-D toy and draw it (about 1-2 minutes on a CPU)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    p.add_argument("--out", default="flowkit-demo", help="output folder (default: ./flowkit-demo)")
    p.add_argument("--data", help=f"a 2-D data set (default: {DEFAULTS['data']}; 8gaussians with --cond)")
    p.add_argument("--steps", type=int, default=DEFAULTS["steps"], help="training steps")
    p.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    p.add_argument("--lr", type=float, default=DEFAULTS["lr"])
    p.add_argument("--width", type=int, default=DEFAULTS["width"], help="hidden width of the MLP field")
    p.add_argument("--depth", type=int, default=DEFAULTS["depth"], help="hidden layers of the MLP field")
    p.add_argument("--n-eval", type=int, default=2000, help="held-out points and samples")
    p.add_argument("--grid", type=int, default=90, help="density heat-map resolution")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="device (default: cpu)")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads for torch (default: 1; a 2-D MLP gains nothing from more)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--cond",
        action="store_true",
        help="a label-conditional flow with guidance, drawn per class (default data: 8gaussians)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .. import MLPField, build
    from ..data import get_dataset
    from ..metrics import evaluate
    from ..plots import data_bounds, density_grid, plot_density, plot_loss, plot_samples, plot_trajectories
    from ..train import save_checkpoint, train
    from ..train.files import MANIFEST_FILE
    from ..train.manifest import check_same_run, make_manifest, read_manifest
    from .train import load_training_data

    wall = time.perf_counter()
    for flag in ("steps", "batch_size", "width", "depth", "n_eval"):
        positive("--" + flag.replace("_", "-"), getattr(args, flag))
    nonnegative("--threads", args.threads)
    if args.grid < 2:
        raise ValueError(f"--grid must be an integer of at least 2 (points per side); got {args.grid}")
    if args.cond:
        from .demo_cond import run_conditional

        return run_conditional(args)
    spec = get_dataset(args.data or str(DEFAULTS["data"]))
    if spec.event_shape != (2,):
        raise ValueError(f"the demo draws 2-D data; {args.data!r} has samples of shape {spec.event_shape}")
    out = Path(args.out)
    check_output_folder(out)  # before the work, not after
    device = pick_device(args.device)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    flow = build(
        path="ot",
        solver="dopri5",
        objective="cfm",
        model=MLPField(2, width=args.width, depth=args.depth),
        dim=2,
    )
    if (out / "run" / MANIFEST_FILE).is_file():  # refuse another run's folder now, not after training
        planned = make_manifest(flow, None, {"name": spec.name})
        check_same_run(out / "run", read_manifest(out / "run"), planned)
    config = demo_config(args, device, spec.name)
    print(
        f"flowkit demo: OT-CFM on {spec.name} ({spec.description}), MLP {args.width}x{args.depth}, "
        f"{args.steps} steps of batch {args.batch_size} on {device}"
    )
    data, _ = load_training_data(spec.name, None, args.seed)
    result = train(flow, data, config)
    ema = result.ema_flow
    save_checkpoint(out / "run", result.flow, ema, step=result.step, config=config, data_name=spec.name)
    print(f"trained in {result.wall_time:.1f} s ({result.steps_per_s:.0f} steps/s)")

    heldout, _ = heldout_data(spec.name, args.n_eval, args.seed, device)
    generator = torch.Generator(device=device).manual_seed(args.seed)
    report = evaluate(ema, heldout, solver="dopri5", generator=generator)
    print_report(report, spec.name, result.step, None)

    # pictures: samples with trajectories, the density on a grid, the loss curve
    x0 = ema.path.sample_source((args.n_eval, 2), device=device, generator=generator)
    sol = ema.solve(x0, t_eval=torch.linspace(0, 1, 41).tolist())
    assert sol.xs is not None
    box = data_bounds(heldout.cpu(), margin=0.25)
    files = [
        plot_samples(
            sol.x.cpu(),
            heldout.cpu(),
            out / "samples.png",
            bounds=box,
            title=f"OT-CFM on {spec.name}: held-out data and samples (dopri5)",
        ),
        plot_trajectories(
            sol.xs[:, :200].cpu(),
            out / "trajectories.png",
            ts=sol.ts,
            bounds=box,
            title="trajectories from noise (t=0) to data (t=1)",
        ),
    ]
    start = time.perf_counter()
    grid = density_grid(lambda p: ema.log_prob(p.to(device)), box, resolution=args.grid, batch=args.grid**2)
    cell = (box[1] - box[0]) * (box[3] - box[2]) / (args.grid - 1) ** 2
    mass = float(grid[2].exp().sum()) * cell
    files.append(
        plot_density(grid, out / "density.png", title=f"model density p_1(x) (mass on the grid {mass:.3f})")
    )
    files.append(plot_loss(result.losses, out / "loss.png", title=f"CFM loss ({spec.name})"))
    grid_time = time.perf_counter() - start
    print(f"density grid {args.grid}x{args.grid}: {grid_time:.1f} s, probability mass on it {mass:.3f}")
    print(f"wrote {', '.join(str(f) for f in files)} and the run folder {out / 'run'}")
    print(
        f"held-out NLL {report.nll:.3f} nats | dopri5 NFE {report.nfe_sample} (sampling), "
        f"{report.nfe_likelihood:.0f} (likelihood) | wall time {time.perf_counter() - wall:.1f} s"
    )
    return 0
