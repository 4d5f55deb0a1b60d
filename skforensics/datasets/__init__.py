"""Data loading: the bundled sample images and loaders for forensic image folders."""

from .._image_io import get_max_image_pixels, load_images, set_max_image_pixels
from ._artifacts import make_pseudo_fakes
from ._folder import IMAGE_EXTENSIONS, ImageListing, list_images, load_image_folder
from ._samples import load_sample_images

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageListing",
    "get_max_image_pixels",
    "list_images",
    "load_image_folder",
    "load_images",
    "load_sample_images",
    "make_pseudo_fakes",
    "set_max_image_pixels",
]
