"""Stage 0 of the study, the encoders: an image tower and a point encoder that perceive the world.

The papers' encoders come pretrained — CLIP ViT-L/14 on image–text pairs, Point-BERT / ULIP on
ShapeNet — and stay frozen; the adapters learn to *read* features that already say what is in
the picture. The tiny CLIP tower and Point-BERT of the test assets are random: a linear probe on
the random tower's patch tokens predicts the shape of the largest object no better than on raw
pixels (both at chance with 160 images), so LoRA-tuning on them measures whether an adapter can
learn vision from a few hundred answers, not interference. Stage 0 therefore pretrains both on
perception of the synthetic world (disjoint items, their own seed stream), never on a question:

- :func:`pretrain_image_tower`: dense supervision of the CLIP tower's feature layer (the one the
  model reads, ``feature_layer=-2``): per patch, how much of it each (colour, shape) object's
  box covers — a segmentation-style target, binary cross-entropy on a linear head;
- :func:`pretrain_point_encoder`: Point-BERT's ``[cls; max]`` feature of one object's points,
  sampled and normalised as Object-As-Scene does for each RoI, classifies its shape and colour
  (cross-entropy on linear heads), as Point-BERT is fine-tuned on ModelNet.

Both are cached by their spec and report held-out accuracy (``pretrain.json``), shown on the page.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from octavius.testing.asset_cache import SPEC_FILE, build_dir
from octavius.testing.synthetic_2d import (
    COLOURS,
    DIFFICULTY,
    SHAPES_2D,
    random_shapes,
    render_image,
)
from octavius.testing.synthetic_3d import SHAPES_3D, random_objects, sample_points

__all__ = ["patch_coverage", "pretrain_encoders", "pretrain_image_tower", "pretrain_point_encoder"]

_SEED_IMAGES, _SEED_OBJECTS = 21, 23


def _palette() -> list[str]:
    return list(COLOURS)[: DIFFICULTY["easy"]["colours"]]


def patch_coverage(boxes: list[tuple[float, ...]], classes: list[int], grid: int, k: int) -> Tensor:
    """Per patch of a ``grid × grid`` layout, the share of it each class's box covers: ``(grid², k)``.

    Boxes are ``(x1, y1, x2, y2)`` in ``[0, 1]`` image coordinates; patches run row by row, as a
    ViT's patch tokens do.
    """
    edges = torch.linspace(0, 1, grid + 1)
    lo, hi = edges[:-1], edges[1:]
    out = torch.zeros(grid, grid, k)
    for (x1, y1, x2, y2), c in zip(boxes, classes):
        wx = (torch.minimum(hi, torch.tensor(x2)) - torch.maximum(lo, torch.tensor(x1))).clamp(
            min=0
        )
        wy = (torch.minimum(hi, torch.tensor(y2)) - torch.maximum(lo, torch.tensor(y1))).clamp(
            min=0
        )
        out[:, :, c] = torch.maximum(out[:, :, c], torch.outer(wy, wx) * grid * grid)
    return out.view(grid * grid, k)


def _schedule(optimizer: torch.optim.Optimizer, steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    warmup = max(1, steps // 20)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / (steps - warmup)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def pretrain_image_tower(
    out_dir: str | Path,
    clip_dir: str | Path,
    *,
    images: int = 2000,
    held_out: int = 200,
    steps: int = 400,
    batch_size: int = 64,
    lr: float = 2e-3,
    feature_layer: int = -2,
    image_size: int = 32,
    seed: int = 0,
    log: Any = print,
) -> Path:
    """Pretrain the CLIP vision tower at ``clip_dir`` on patch coverage (module docstring).

    Returns:
        ``out_dir``: ``CLIPVisionModel`` + image processor (``from_pretrained``-loadable) and
        ``pretrain.json`` (loss, held-out patch accuracy: the argmax class — background
        included — of each patch's largest coverage, over patches with coverage).
    """
    spec = dict(
        clip=json.loads((Path(clip_dir) / SPEC_FILE).read_text("utf-8"))["key"]
        if (Path(clip_dir) / SPEC_FILE).is_file() else str(clip_dir),
        images=images, held_out=held_out, steps=steps, batch_size=batch_size, lr=lr,
        feature_layer=feature_layer, image_size=image_size, seed=seed, version=1,
    )  # fmt: skip

    def build(tmp: Path) -> None:
        from transformers import CLIPImageProcessor, CLIPVisionModel

        start = time.monotonic()
        model = CLIPVisionModel.from_pretrained(str(clip_dir))
        processor = CLIPImageProcessor.from_pretrained(str(clip_dir))
        config = model.config
        grid = config.image_size // config.patch_size
        palette = _palette()
        names = [(c, s) for c in palette for s in SHAPES_2D]
        pixels, targets = [], []
        for i in range(images + held_out):
            rng = np.random.default_rng([seed, _SEED_IMAGES, i])
            world = random_shapes(rng, "easy")
            image = render_image(world, image_size, rng, 0)
            pixels.append(processor(images=image, return_tensors="pt")["pixel_values"][0])
            classes = [names.index((s.colour, s.shape)) for s in world]
            targets.append(patch_coverage([s.box for s in world], classes, grid, len(names)))
        x, y = torch.stack(pixels), torch.stack(targets)
        head = nn.Linear(config.hidden_size, len(names))
        params = [*model.parameters(), *head.parameters()]
        optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
        scheduler = _schedule(optimizer, steps)
        gen = torch.Generator().manual_seed(seed)

        def logits(batch: Tensor) -> Tensor:
            states = model(pixel_values=batch, output_hidden_states=True).hidden_states
            return head(states[feature_layer][:, 1:])

        model.train()
        losses = []
        for step in range(steps):
            index = torch.randint(images, (batch_size,), generator=gen)
            loss = nn.functional.binary_cross_entropy_with_logits(logits(x[index]), y[index])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
            if step % max(1, steps // 5) == 0 or step == steps - 1:
                log(f"[study] stage 0 image tower: step {step + 1}/{steps}, loss {loss:.4f}")
        model.eval()
        with torch.no_grad():
            pred = torch.sigmoid(logits(x[images:]))
        truth = y[images:]
        covered = truth.amax(-1) > 0.25
        accuracy = (pred.argmax(-1) == truth.argmax(-1))[covered].float().mean()
        empty = truth.amax(-1) == 0
        background = (pred.amax(-1) < 0.5)[empty].float().mean()
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        report = {
            **spec,
            "loss_first": losses[0],
            "loss_last": sum(losses[-20:]) / len(losses[-20:]),
            "held_out_patch_accuracy": float(accuracy),
            "held_out_background_accuracy": float(background),
            "minutes": (time.monotonic() - start) / 60,
        }
        (tmp / "pretrain.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")

    return build_dir(out_dir, "study_image_tower", spec, build)


def _object_clouds(count: int, points_per_roi: int, seed: int) -> tuple[Tensor, Tensor, Tensor]:
    """``count`` objects' RoI clouds ``(count, p, 6)`` sampled and normalised as Object-As-Scene
    does, with their shape and colour indices."""
    from octavius.models.point_ops import normalize_unit_sphere, points_in_boxes, sample_indices

    palette = _palette()
    clouds, shapes, colours = [], [], []
    scene = 0
    while len(clouds) < count:
        rng = np.random.default_rng([seed, _SEED_OBJECTS, scene])
        world = random_objects(rng, "easy")
        points = torch.as_tensor(sample_points(rng, world, "easy"), dtype=torch.float32)[:, :6]
        boxes = torch.tensor([o.box for o in world], dtype=torch.float32)
        inside = points_in_boxes(points[:, :3], boxes)
        gen = torch.Generator().manual_seed(seed * 100_003 + scene)
        for obj, member in zip(world, inside):
            if not member.any():
                continue
            sampled = points[sample_indices(member.nonzero().squeeze(1), points_per_roi, gen)]
            xyz = normalize_unit_sphere(sampled[None, :, :3])[0]
            clouds.append(torch.cat([xyz, sampled[:, 3:]], dim=-1))
            shapes.append(SHAPES_3D.index(obj.shape))
            colours.append(palette.index(obj.colour))
        scene += 1
    return (
        torch.stack(clouds[:count]),
        torch.tensor(shapes[:count]),
        torch.tensor(colours[:count]),
    )


def pretrain_point_encoder(
    out_path: str | Path,
    point_bert: Mapping[str, Any],
    *,
    objects: int = 3000,
    held_out: int = 300,
    steps: int = 400,
    batch_size: int = 64,
    lr: float = 2e-3,
    points_per_roi: int = 32,
    seed: int = 0,
    log: Any = print,
) -> Path:
    """Pretrain a Point-BERT of constructor arguments ``point_bert`` on object shape and colour.

    Returns:
        the directory holding ``point_bert.safetensors`` (the encoder's state dict, read by its
        own checkpoint loader) and ``pretrain.json`` (loss, held-out shape and colour accuracy).
    """
    cfg = {k: v for k, v in dict(point_bert).items() if k not in ("type", "checkpoint")}
    spec = dict(
        point_bert=cfg, objects=objects, held_out=held_out, steps=steps, batch_size=batch_size,
        lr=lr, points_per_roi=points_per_roi, seed=seed, version=1,
    )  # fmt: skip

    def build(tmp: Path) -> None:
        from safetensors.torch import save_file

        from octavius.registry import ENCODERS

        start = time.monotonic()
        torch.manual_seed(seed)
        encoder = ENCODERS.get("PointBERT")(**{**cfg, "frozen": False})
        clouds, shapes, colours = _object_clouds(objects + held_out, points_per_roi, seed)
        heads = nn.ModuleDict(
            {
                "shape": nn.Linear(encoder.feature_dim, len(SHAPES_3D)),
                "colour": nn.Linear(encoder.feature_dim, len(_palette())),
            }
        )
        params = [*encoder.parameters(), *heads.parameters()]
        optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
        scheduler = _schedule(optimizer, steps)
        gen = torch.Generator().manual_seed(seed)
        encoder.train()
        losses = []
        for step in range(steps):
            index = torch.randint(objects, (batch_size,), generator=gen)
            features = encoder.encode_points(clouds[index])
            loss = nn.functional.cross_entropy(heads["shape"](features), shapes[index])
            loss = loss + nn.functional.cross_entropy(heads["colour"](features), colours[index])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
            if step % max(1, steps // 5) == 0 or step == steps - 1:
                log(f"[study] stage 0 point encoder: step {step + 1}/{steps}, loss {loss:.4f}")
        encoder.eval()
        with torch.no_grad():
            features = encoder.encode_points(clouds[objects:])
            shape_acc = (heads["shape"](features).argmax(-1) == shapes[objects:]).float().mean()
            colour_acc = (heads["colour"](features).argmax(-1) == colours[objects:]).float().mean()
        state = {k: v.detach().contiguous().clone() for k, v in encoder.state_dict().items()}
        save_file(state, str(tmp / "point_bert.safetensors"))
        report = {
            **spec,
            "loss_first": losses[0],
            "loss_last": sum(losses[-20:]) / len(losses[-20:]),
            "held_out_shape_accuracy": float(shape_acc),
            "held_out_colour_accuracy": float(colour_acc),
            "minutes": (time.monotonic() - start) / 60,
        }
        (tmp / "pretrain.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")

    return build_dir(out_path, "study_point_encoder", spec, build)


def pretrain_encoders(
    out_dir: str | Path,
    clip_dir: str | Path,
    point_bert: Mapping[str, Any],
    image: Mapping[str, Any] | None = None,
    points: Mapping[str, Any] | None = None,
    threads: int = 2,
    log: Any = print,
) -> dict[str, Path]:
    """Both encoders under ``out_dir`` (``image_tower/``, ``point_encoder/``), cached.

    Returns:
        ``dict(clip=<tower dir>, point_bert=<.safetensors file>)``: what a config's
        ``encoders.image.pretrained`` and ``point_encoder.checkpoint`` take.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        root = Path(out_dir)
        clip = pretrain_image_tower(root / "image_tower", clip_dir, log=log, **dict(image or {}))
        pcl = pretrain_point_encoder(
            root / "point_encoder", point_bert, log=log, **dict(points or {})
        )
    finally:
        torch.set_num_threads(previous)
    return {"clip": clip, "point_bert": pcl / "point_bert.safetensors"}
