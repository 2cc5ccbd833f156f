"""Alignment methods: safety fine-tuning (sft, dpo) and unlearning (ga, graddiff, npo, simnpo, rmu).

Each registers itself in `methods.base.METHODS`, which loads them on its first lookup (`plugins.py`).
"""

from .base import METHODS

__all__ = ["METHODS"]
