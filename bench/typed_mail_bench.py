"""Typed mail end to end: typed letters in typed envelopes through `letterbridge ingest`, as
shipped (issue 14's targets: ≥ 95 % released untouched, 0 leaks in them). The same benchmark
as bench/handwritten_mail_bench.py with `--typed`; writes bench/results/typed_mail.md.

    .venv/bin/python -m bench.typed_mail_bench [--letters 7] [--seed 15]
"""

from __future__ import annotations

import sys

from bench.handwritten_mail_bench import main

if __name__ == "__main__":
    sys.exit(main(["--typed", *sys.argv[1:]]))
