"""``python -m wildpose`` (also what torchrun runs: ``torchrun ... -m wildpose train CONFIG``)."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    main()
