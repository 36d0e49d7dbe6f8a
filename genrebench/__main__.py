"""`python -m genrebench` runs the CLI."""

from genrebench.cli import main

main()
