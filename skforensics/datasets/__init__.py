"""Data loading: the bundled sample images and loaders for forensic image folders."""

from .._image_io import load_images
from ._folder import IMAGE_EXTENSIONS, ImageListing, list_images, load_image_folder
from ._samples import load_sample_images

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageListing",
    "list_images",
    "load_image_folder",
    "load_images",
    "load_sample_images",
]
