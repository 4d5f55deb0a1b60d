"""Data loading: the bundled sample images and loaders for forensic image folders."""

from ._samples import load_sample_images

__all__ = ["load_sample_images"]
