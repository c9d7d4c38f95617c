"""Transform: open the images of an instruction sample with PIL."""

from __future__ import annotations

import os
import warnings
from typing import Any

from PIL import Image, UnidentifiedImageError

from octavius.data.errors import DataError
from octavius.registry import TRANSFORMS

__all__ = ["LoadInstructionImages"]


@TRANSFORMS.register_module()
class LoadInstructionImages:
    """Open every path in ``results['image_paths']`` as an RGB PIL image into ``results['images']``.

    Images stay PIL images by default: the image encoder preprocesses them with its checkpoint's
    processor config (``encoder.preprocess``). With ``image_processor`` set, they are
    preprocessed here instead (in the data-loader workers) into ``(3, H, W)`` tensors.

    Args:
        image_processor: a directory or hub name with a ``preprocessor_config.json``, loaded with
            ``AutoImageProcessor.from_pretrained``; ``None`` keeps PIL images.
    """

    def __init__(self, image_processor: str | os.PathLike | None = None) -> None:
        self.processor = None
        if image_processor is not None:
            from transformers import AutoImageProcessor

            self.processor = AutoImageProcessor.from_pretrained(str(image_processor))

    def __call__(self, results: dict[str, Any]) -> dict[str, Any]:
        images = []
        for path in results.get("image_paths", []):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error", Image.DecompressionBombWarning)
                    with Image.open(path) as handle:
                        image = handle.convert("RGB")
            except FileNotFoundError as err:
                raise DataError("missing_image", f"image file not found: {path}") from err
            except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
                raise DataError(
                    "unreadable_image",
                    f"image {path} is too large to decode safely ({err}); resize it below "
                    f"{Image.MAX_IMAGE_PIXELS} pixels.",
                ) from err
            except (UnidentifiedImageError, OSError) as err:
                raise DataError("unreadable_image", f"cannot read image {path}: {err}") from err
            if self.processor is not None:
                image = self.processor(images=image, return_tensors="pt")["pixel_values"][0]
            images.append(image)
        results["images"] = images
        return results

    def __repr__(self) -> str:
        return f"{type(self).__name__}(image_processor={self.processor is not None})"
