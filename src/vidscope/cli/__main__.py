"""``python -m vidscope.cli``: the ``vidscope`` command."""

from vidscope.cli import main

main()
