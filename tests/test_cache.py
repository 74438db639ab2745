import pytest

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


def test_an_entry_built_by_another_pipeline_version_is_rebuilt(tmp_path, monkeypatch):
    from transplant import cache

    builds = []

    def build(out):
        builds.append(cache.PIPELINE_VERSION)
        (out / "x").write_text(str(cache.PIPELINE_VERSION))

    old = cache.cached_dir("organs", {"organ": 1}, build, root=tmp_path)
    assert cache.cached_dir("organs", {"organ": 1}, build, root=tmp_path) == old
    monkeypatch.setattr(cache, "PIPELINE_VERSION", cache.PIPELINE_VERSION + 1)
    new = cache.cached_dir("organs", {"organ": 1}, build, root=tmp_path)
    assert new != old and (new / "x").read_text() == str(cache.PIPELINE_VERSION)
    assert len(builds) == 2
    # A named entry (a zoo model) of an older pipeline is refused, naming the version.
    cache.named_dir("zoo", "m", {"r": 1}, build, root=tmp_path)
    monkeypatch.setattr(cache, "PIPELINE_VERSION", cache.PIPELINE_VERSION + 1)
    with pytest.raises(cache.CacheKeyMismatchError, match="pipeline_version"):
        cache.named_dir("zoo", "m", {"r": 1}, build, root=tmp_path)
