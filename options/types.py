"""argparse value types with messages that say what is expected."""
from __future__ import annotations

import argparse
import math


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def nonnegative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def nonnegative_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    value = float(text)
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a finite number of 0 or more, got {text}")
    return value


def dropout_probability(text: str) -> float:
    """argparse type: a dropout rate in [0, 1)."""
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, got {text}")
    return value


def positive_finite(text: str) -> float:
    """argparse type: a finite number > 0."""
    value = float(text)
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a number > 0 (inf allowed)."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def count_or_inf(text: str) -> float:
    """argparse type: a whole number >= 1, or inf (no limit)."""
    if text.strip().lower() in ("inf", "infinity"):
        return float("inf")
    try:
        return positive_int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, or inf, got {text}") from None


def beta(text: str) -> float:
    """argparse type: an Adam beta in [0, 1)."""
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, got {text}")
    return value


def port(text: str) -> int:
    """argparse type: a TCP port, 1..65535."""
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 1 to 65535, got {text}")
    return value


def workers(text: str) -> int:
    """argparse type: a number of loader workers, or -1 for automatic."""
    value = int(text)
    if value < -1:
        raise argparse.ArgumentTypeError(f"must be 0 or more, or -1 for automatic, got {text}")
    return value


def seed(text: str) -> int:
    """argparse type: a random seed, 0 to 2**32 - 1 (what numpy and torch both take)."""
    value = int(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to {2**32 - 1}, got {text}")
    return value


def at_least_two(text: str) -> int:
    """argparse type: an integer >= 2 (a sample size that a variance needs)."""
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be at least 2, got {text}")
    return value


def probability(text: str) -> float:
    """argparse type: a probability in [0, 1]."""
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be from 0 to 1, got {text}")
    return value


def width_by_height(text: str) -> tuple[int, int]:
    """argparse type: WIDTHxHEIGHT in pixels, each from 8 to 4096 (e.g. 512x256)."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise argparse.ArgumentTypeError(f"must be WIDTHxHEIGHT in pixels, such as 512x256, got {text}")
    width, height = (int(p) for p in parts)
    if not (8 <= width <= 4096 and 8 <= height <= 4096):
        raise argparse.ArgumentTypeError(f"sides must be from 8 to 4096 pixels, got {text}")
    return width, height
