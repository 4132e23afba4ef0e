"""The ``regmix`` command line."""

from __future__ import annotations

import sys

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="regmix")
def main() -> None:
    """Finite mixtures of regressions fitted by exact maximum-likelihood EM."""


@main.command()
@click.option("--out", default="regmix-demo.png", show_default=True,
              type=click.Path(dir_okay=False, writable=True), help="Where to write the PNG.")
@click.option("--seed", default=0, show_default=True, type=int, help="Random seed.")
def demo(out: str, seed: int) -> None:
    """Fit the classic two-line example and plot it."""
    from .demo import run_demo, save_demo_figure

    result = run_demo(seed)
    click.echo("Two-component mixture of regressions on 100 points (no intercept)")
    click.echo(result.table)
    try:
        save_demo_figure(result, out)
    except ImportError:
        click.echo("error: the plot needs matplotlib: pip install 'regmix[plot]'", err=True)
        sys.exit(2)
    except OSError as err:
        click.echo(f"error: cannot write {out}: {err.strerror or err}", err=True)
        sys.exit(2)
    click.echo(f"wrote {out}")
