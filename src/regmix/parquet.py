"""Parquet files as a row source: :class:`ParquetData` streams a file or directory.

The public home of :class:`regmix.sources.parquet.ParquetData`; pass one to
:meth:`regmix.RegressionMixture.fit` in place of ``X`` (``pip install "regmix[parquet]"``).
"""

from regmix.sources.parquet import ParquetData

__all__ = ["ParquetData"]
