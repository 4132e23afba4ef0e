import pytest

from .reference import dense_em


@pytest.fixture
def dense_reference():
    return dense_em
