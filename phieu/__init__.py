"""phieu: paper satisfaction surveys, end to end (print → scan → read → review → results)."""

__version__ = "0.1.0"
