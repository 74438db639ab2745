from transplant.cache import cached_json


def test_cached_json_computes_once_per_key(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"ppl": 12.5, "n": len(calls)}

    first = cached_json("evals", {"model": "a"}, compute)
    again = cached_json("evals", {"model": "a"}, compute)
    other = cached_json("evals", {"model": "b"}, compute)
    assert first == again == {"ppl": 12.5, "n": 1}
    assert other == {"ppl": 12.5, "n": 2} and len(calls) == 2
