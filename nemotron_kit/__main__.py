"""``python -m nemotron_kit``: the same program as the ``nemotron-kit`` command."""

from nemotron_kit.cli import main

if __name__ == "__main__":
    main()
