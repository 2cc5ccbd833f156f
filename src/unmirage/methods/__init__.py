"""Alignment methods: safety fine-tuning (sft, dpo) and unlearning (ga, graddiff, npo, simnpo, rmu).

Importing this package registers every method in `METHODS`.
"""

from . import dpo, ga, npo, rmu, sft  # noqa: F401  (register the methods)
from .base import METHODS

__all__ = ["METHODS"]
