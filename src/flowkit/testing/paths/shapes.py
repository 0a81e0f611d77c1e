"""Layout: states shaped like images give the same numbers as flat vectors."""

from ...path.base import ProbabilityPath
from .._common import Device, assert_close, describe, generator, randn
from ._common import data, interior


def check_image_shapes(path: ProbabilityPath, *, n: int = 4, device: Device = None, seed: int = 0) -> None:
    """Check that states shaped like images ``(batch, C, H, W)`` give the same numbers as flat vectors.

    ``sample``, ``velocity`` and ``log_prob`` on ``(n, 2, 3, 2)`` tensors must
    equal the same calls on the ``(n, 12)`` flattened tensors, reshaped.

    Raises:
        AssertionError: naming the method whose result depends on the layout.
    """
    name = describe(path)
    gen = generator(seed)
    shape = (n, 2, 3, 2)
    x1 = data(n, 12, gen, device)
    x0 = randn((n, 12), gen, device) * float(path.source_std)
    t = interior(n, device)
    flat, image = path.sample(t, x0, x1), path.sample(t, x0.reshape(shape), x1.reshape(shape))
    for field in ("xt", "target"):
        got = getattr(image, field)
        if tuple(got.shape) != shape:
            raise AssertionError(f"{name}: sample().{field} has shape {tuple(got.shape)} for inputs {shape}")
        assert_close(
            got.reshape(n, 12),
            getattr(flat, field),
            atol=1e-12,
            rtol=1e-12,
            what=f"{name}: sample().{field} on images vs vectors",
        )
    assert_close(
        path.velocity(t, x0.reshape(shape), x1.reshape(shape)).reshape(n, 12),
        path.velocity(t, x0, x1),
        atol=1e-12,
        rtol=1e-12,
        what=f"{name}: velocity on images vs vectors",
    )
    assert_close(
        path.log_prob(t, x0.reshape(shape), x1.reshape(shape)),
        path.log_prob(t, x0, x1),
        atol=1e-9,
        rtol=1e-12,
        what=f"{name}: log_prob on images vs vectors",
    )
