"""``python -m wildpose`` (also what torchrun runs: ``torchrun ... -m wildpose train CONFIG``)."""

from .cli import main

main()
