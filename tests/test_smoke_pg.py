def test_store_opens(store):
    assert store.revision() == 0
