"""Records shared by every stage, and the loaders that produce them."""

from .records import GROUPS, Sample, resolve_image, load_image
from .vlguard import load_vlguard, samples_to_vlguard

__all__ = ["GROUPS", "Sample", "resolve_image", "load_image", "load_vlguard", "samples_to_vlguard"]
