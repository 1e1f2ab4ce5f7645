"""``python -m whoopkit``: the command line, from a checkout without installing."""

from whoopkit.cli import main

main()
