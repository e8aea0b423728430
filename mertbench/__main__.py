"""`python -m mertbench`: same as the `mertbench` command."""
from mertbench.cli import main

main()
