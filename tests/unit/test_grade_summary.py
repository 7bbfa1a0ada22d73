"""The grade summary's statistics."""

from __future__ import annotations

import pytest

from genlab.grading.cli import _median


@pytest.mark.parametrize("values, median", [
    ([0, 10], 5), ([10, 0], 5), ([3], 3), ([1, 2, 9], 2), ([9, 1, 2, 4], 3), ([0, 0, 10, 10, 10], 10),
])
def test_median_of_even_and_odd_counts(values, median):
    assert _median(values) == median
