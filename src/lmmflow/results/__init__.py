"""The fitted model and the tables, summaries, predictions built from it."""
from .model import LmerResult
from .tables import tidy

__all__ = ["LmerResult", "tidy"]
