"""Pixel-level helpers shared by several modules (numpy and PIL only)."""

import numpy as np

__all__ = ["LUMA", "resize_rgb"]

#: ITU-R BT.601 luma weights of R, G, B (JPEG's Y channel).
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def resize_rgb(img, size, *, reducing_gap=None):
    """Resize an ``(H, W, 3)`` uint8 image with PIL's bicubic filter (antialiased).

    Parameters
    ----------
    img : ndarray of shape (H, W, 3), dtype uint8
        The image.
    size : int or (int, int)
        Output side, or output ``(height, width)``.
    reducing_gap : float or None, default=None
        PIL's two-step downscaling (faster, nearly identical); None resamples
        in one step.

    Returns
    -------
    resized : ndarray of shape (height, width, 3), dtype uint8
        ``img`` itself when it already has that size.
    """
    h, w = (size, size) if np.isscalar(size) else size
    if img.shape[0] == h and img.shape[1] == w:
        return img
    from PIL import Image

    out = Image.fromarray(img).resize((w, h), Image.BICUBIC, reducing_gap=reducing_gap)
    return np.asarray(out, dtype=np.uint8)
