r"""The building blocks of [`UNetField`][flowkit.UNetField]: time embedding, residual and attention blocks.

Every block keeps the spatial size except [`Downsample`][flowkit.field.unet_blocks.Downsample]
(halves it) and [`Upsample`][flowkit.field.unet_blocks.Upsample] (doubles it).
"""

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn


def sinusoidal_embedding(t: Tensor, dim: int, max_period: float = 10_000.0, scale: float = 1000.0) -> Tensor:
    r"""The transformer's sinusoidal features of ``scale * t``, ``(batch, dim)``.

    With ``h = dim / 2`` frequencies ``w_k = max_period^{-k/h}`` (``k = 0..h-1``),

    $$
    e(t) = \big[\cos(s t w_0), \dots, \cos(s t w_{h-1}), \sin(s t w_0), \dots, \sin(s t w_{h-1})\big],
    $$

    with ``s = scale``: times in ``[0, 1]`` are stretched to ``[0, 1000]`` as in DDPM, so the
    slowest and fastest features both vary over the unit interval.

    Examples:
        >>> sinusoidal_embedding(torch.zeros(2), 4)
        tensor([[1., 1., 0., 0.],
                [1., 1., 0., 0.]])
    """
    half = dim // 2
    # At least float32 for the phases (half precision would round scale * t badly), float64 for float64
    # times; the result comes back in t's dtype so a float64 (or half) network gets its own dtype.
    work = torch.float64 if t.dtype == torch.float64 else torch.float32
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=work) / half)
    args = (scale * t.to(work)).unsqueeze(-1) * freqs
    out = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return out.to(t.dtype) if t.is_floating_point() else out


class TimeEmbedding(nn.Module):
    """Sinusoidal features of ``t`` through a two-layer SiLU MLP: ``(batch,) -> (batch, dim)``.

    Args:
        base: number of sinusoidal features (even).
        dim: output width.
    """

    def __init__(self, base: int, dim: int) -> None:
        super().__init__()
        self.base = base
        self.mlp = nn.Sequential(nn.Linear(base, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: Tensor) -> Tensor:
        return self.mlp(sinusoidal_embedding(t, self.base))


class ResBlock(nn.Module):
    r"""A residual block: ``h = x' + conv(drop(SiLU(GN(conv(SiLU(GN(x))) + W e)))))``.

    ``x'`` is ``x`` itself, or a 1x1 convolution of it when the channel count changes;
    ``e`` is the time (and condition) embedding, added per channel after the first convolution.

    Args:
        channels_in: input channels.
        channels_out: output channels.
        emb_dim: width of the embedding ``e``.
        groups: GroupNorm groups (must divide both channel counts).
        dropout: dropout probability before the second convolution.
    """

    def __init__(
        self, channels_in: int, channels_out: int, emb_dim: int, groups: int, dropout: float
    ) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, channels_in)
        self.conv1 = nn.Conv2d(channels_in, channels_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, channels_out)
        self.norm2 = nn.GroupNorm(groups, channels_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(channels_out, channels_out, 3, padding=1)
        self.skip: nn.Module = (
            nn.Identity() if channels_in == channels_out else nn.Conv2d(channels_in, channels_out, 1)
        )

    def forward(self, x: Tensor, emb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    r"""Multi-head self-attention over the pixels of a feature map, with a residual connection.

    ``x + proj(softmax(q k^T / sqrt(d)) v)`` where ``q, k, v`` are 1x1 convolutions of ``GN(x)``
    split into ``heads`` heads of ``d = channels / heads`` features; every pixel attends to every
    pixel, so one such block makes each output depend on the whole input.

    Args:
        channels: feature channels (divisible by ``heads``).
        heads: attention heads.
        groups: GroupNorm groups.
    """

    def __init__(self, channels: int, heads: int, groups: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        height = x.shape[-2]
        q, k, v = rearrange(
            self.qkv(self.norm(x)),
            "b (three heads d) x y -> three b heads (x y) d",
            three=3,
            heads=self.heads,
        )
        out = F.scaled_dot_product_attention(q, k, v)
        out = rearrange(out, "b heads (x y) d -> b (heads d) x y", x=height)
        return x + self.proj(out)


class Downsample(nn.Module):
    """Halves height and width with a stride-2 3x3 convolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    """Doubles height and width: nearest-neighbour upsampling, then a 3x3 convolution."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


__all__ = ["Downsample", "ResBlock", "SelfAttention", "TimeEmbedding", "Upsample", "sinusoidal_embedding"]
