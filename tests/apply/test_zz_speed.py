import pytest
@pytest.mark.parametrize("i", range(10))
def test_x(store, i):
    store.revision()
