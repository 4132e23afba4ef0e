"""``python -m regmix``: the same command line as the ``regmix`` script."""

from regmix.cli import main

if __name__ == "__main__":
    main()
