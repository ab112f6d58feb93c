"""Letterbridge: paper pen-pal letters in, private routed digital mail out, replies back to paper."""

__version__ = "0.1.0"
