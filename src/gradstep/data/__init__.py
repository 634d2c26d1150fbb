"""Data: batch iterators, readers and bundled datasets."""

from .batching import Batches, epoch_order, resolve_seed
from .datasets import DATASETS, load_dataset, tutorial_line

__all__ = ["DATASETS", "Batches", "epoch_order", "load_dataset", "resolve_seed", "tutorial_line"]
