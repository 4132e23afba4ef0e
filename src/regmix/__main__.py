"""``python -m regmix`` and the ``regmix`` script: the command line of :mod:`regmix.cli`.

This module is the entry point of both. The first thing it does, inside a ``try``
ready for Ctrl-C, is to install the handler of :mod:`regmix.interrupts`; then come the
command tree (:mod:`regmix.cli`, click only) and, once a command runs, the imports of
numpy, pandas, scikit-learn and the rest (the package itself loads nothing on import). An
interruption at any moment from then on -- during those imports, while
numba compiles, during a fit -- ends with one line ``error: interrupted`` and exit
status 130, not a traceback.
"""

try:
    from regmix.interrupts import exit_interrupted, install

    install()
    from regmix.cli import main as _command
except KeyboardInterrupt:  # before the handler was installed
    from regmix.interrupts import exit_interrupted

    exit_interrupted()


def main() -> None:
    """Run the ``regmix`` command line (the Ctrl-C handling is installed on import)."""
    _command(prog_name="regmix")


if __name__ == "__main__":
    main()
