"""``bench/create.py --help`` names every figure the benchmark prints, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

import bench.create

SOURCE = Path(bench.create.__file__).read_text()


def test_the_help_names_exactly_the_printed_figures() -> None:
    printed = set(re.findall(r'"figure": "(\w+)"', SOURCE)) | set(re.findall(r'summary\("(\w+)"', SOURCE))
    doc = bench.create.__doc__ or ""
    named = set(re.findall(r"``(\w+)``", doc)) & (printed | set(re.findall(r"^\* ``(\w+)``", doc, re.M)))
    assert printed == named, (printed, named)
