"""``python -m bandersnatch``: the same command as the console script."""

from .main import main

main()
