"""A small Vision Transformer in plain torch, laid out as torchvision's ``VisionTransformer``.

Dosovitskiy et al. 2021 (arXiv 2010.11929), eqs. 1-4: a strided convolution cuts the image into
patch_size x patch_size patches and embeds them (eq. 1), a learnt class token and position
embedding are added, ``depth`` pre-norm blocks of multi-head self-attention and a GELU MLP
follow (eqs. 2-3), and the final LayerNorm of the class token feeds a linear head (eq. 4).
Deshmukh+23 (seed 002, Sec. 2.1) use "a custom ViT with 12 transformer blocks and a kernel size
of 32": the defaults depth=12 and patch_size=32 follow them. They do not give the widths; the
defaults dim=192, heads=3, mlp_dim=768 are ViT-Tiny's (Touvron et al. 2021), our choice.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class EncoderBlock(nn.Module):
    """Pre-norm transformer block: x + MSA(LN(x)), then x + MLP(LN(x)) (eqs. 2-3)."""

    def __init__(self, dim: int, heads: int, mlp_dim: int, dropout: float, attention_dropout: float):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(dim, heads, dropout=attention_dropout, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.ln_2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(
            nn.Linear(dim, mlp_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(mlp_dim, dim), nn.Dropout(dropout)
        )
        for module in self.mlp:
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.normal_(module.bias, std=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normed = self.ln_1(x)
        attended, _ = self.self_attention(normed, normed, normed, need_weights=False)
        x = x + self.dropout(attended)
        return x + self.mlp(self.ln_2(x))


class VisionTransformer(nn.Module):
    """Patch embedding, class token, position embedding, encoder blocks and a linear head.

    Parameters
    ----------
    in_channels : int
        Channels of the input images.
    num_outputs : int
        Size of the linear head.
    input_size : tuple of int
        (height, width) in pixels; both must be multiples of ``patch_size``.
    patch_size, dim, depth, heads, mlp_dim : int
        Patch side (pixels), embedding width, number of blocks, attention heads, MLP width.
    dropout, attention_dropout : float
        Dropout after the position embedding / inside the blocks, and on attention weights.
    """

    def __init__(self, *, in_channels: int, num_outputs: int, input_size: tuple[int, int], patch_size: int,
                 dim: int, depth: int, heads: int, mlp_dim: int, dropout: float, attention_dropout: float):
        super().__init__()
        self.patch_size = patch_size
        self.embedding_dim = dim
        n_patches = (input_size[0] // patch_size) * (input_size[1] // patch_size)
        self.conv_proj = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size)
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embedding = nn.Parameter(torch.empty(1, n_patches + 1, dim).normal_(std=0.02))
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.Sequential(
            *[EncoderBlock(dim, heads, mlp_dim, dropout, attention_dropout) for _ in range(depth)]
        )
        self.ln = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_outputs)
        fan_in = in_channels * patch_size * patch_size
        nn.init.trunc_normal_(self.conv_proj.weight, std=math.sqrt(1.0 / fan_in))
        nn.init.zeros_(self.conv_proj.bias)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def _embed_patches(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) -> (N, n_patches, dim) patch embeddings (eq. 1 without tokens)."""
        return self.conv_proj(x).flatten(2).transpose(1, 2)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised class-token embedding, shape (N, ``dim``) (eq. 4 before the head)."""
        tokens = self._embed_patches(x)
        class_tokens = self.class_token.expand(tokens.shape[0], -1, -1)
        tokens = torch.cat([class_tokens, tokens], dim=1) + self.pos_embedding
        tokens = self.layers(self.dropout(tokens))
        return self.ln(tokens)[:, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits or raw outputs, shape (N, ``num_outputs``)."""
        return self.head(self.forward_features(x))


def vit(*, in_channels: int, num_outputs: int, input_size: tuple[int, int], patch_size: int = 32,
        dim: int = 192, depth: int = 12, heads: int = 3, mlp_dim: int = 768, dropout: float = 0.0,
        attention_dropout: float = 0.0) -> VisionTransformer:
    """A ViT sized by its options (defaults: Deshmukh+23's depth 12 and patch 32, ViT-Tiny widths).

    Raises
    ------
    ValueError
        If the input sides are not multiples of ``patch_size``, ``dim`` is not a multiple of
        ``heads``, a size is not a positive integer, or a dropout lies outside [0, 1).
    """
    for option, value in (("patch_size", patch_size), ("dim", dim), ("depth", depth), ("heads", heads),
                          ("mlp_dim", mlp_dim)):
        if int(value) != value or value < 1:
            raise ValueError(f"{option} must be a positive integer, got {value}")
    if input_size[0] % patch_size or input_size[1] % patch_size:
        raise ValueError(f"input_size {tuple(input_size)} must be a multiple of patch_size {patch_size}")
    if dim % heads:
        raise ValueError(f"dim {dim} must be a multiple of heads {heads}")
    for option, value in (("dropout", dropout), ("attention_dropout", attention_dropout)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{option} must be in [0, 1), got {value}")
    return VisionTransformer(in_channels=in_channels, num_outputs=num_outputs, input_size=tuple(input_size),
                             patch_size=int(patch_size), dim=int(dim), depth=int(depth), heads=int(heads),
                             mlp_dim=int(mlp_dim), dropout=dropout, attention_dropout=attention_dropout)
