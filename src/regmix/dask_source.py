"""Dask collections as a row source: :class:`DaskData` computes where the rows live.

The public home of :class:`regmix.sources.dask.DaskData`; pass one to
:meth:`regmix.RegressionMixture.fit` in place of ``X`` (``pip install "regmix[dask]"``).
"""

from regmix.sources.dask import DaskData

__all__ = ["DaskData"]
