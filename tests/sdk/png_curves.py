"""Reading curves back out of a rendered plot: find a line by its colour, measure its height.

Used to check that a PNG drawn by ``sdk.plotting`` shows the values it was given, not just
that a file exists.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])


def colour_mask(image: np.ndarray, hex_colour: str, tolerance: float = 0.12) -> np.ndarray:
    """Pixels within ``tolerance`` (RGB distance, 0-1 scale) of the colour."""
    return np.asarray(np.linalg.norm(image[:, :, :3] - rgb(hex_colour), axis=2) < tolerance)


def longest_run(columns: np.ndarray) -> np.ndarray:
    """The longest stretch of consecutive column indices (the curve, not the legend swatch)."""
    runs = np.split(columns, np.where(np.diff(columns) > 3)[0] + 1)
    return max(runs, key=len)


def line_heights(image: np.ndarray, hex_colour: str) -> tuple[np.ndarray, np.ndarray]:
    """(columns, mean pixel row of the colour in each column) along the drawn curve."""
    mask = colour_mask(image, hex_colour)
    columns = longest_run(np.where(mask.any(axis=0))[0])
    rows = np.array([mask[:, c].nonzero()[0].mean() for c in columns])
    return columns, rows


def fit_residual(
    columns: np.ndarray, rows: np.ndarray, loss: Callable[[float], float], first_step: float, last_step: float
) -> float:
    """RMS residual of ``row = a + b * loss(step at column)``, relative to the rows' range.

    The curve's first and last columns are ``first_step`` and ``last_step``; ``b`` must be
    negative (a higher loss is drawn higher up, at a smaller row index), else ``inf``.
    """
    steps = first_step + (columns - columns[0]) * (last_step - first_step) / (columns[-1] - columns[0])
    values = np.array([loss(s) for s in steps])
    slope, intercept = np.polyfit(values, rows, 1)
    if slope >= 0:
        return float("inf")
    residual = rows - (intercept + slope * values)
    return float(np.sqrt(np.mean(residual**2)) / (rows.max() - rows.min()))
