import gzip
import json
import shutil

from transplant.results.archive import main, restore, save
from transplant.results.report import main as report


def test_archive_keeps_finished_records_and_a_restored_run_is_skipped(run, tmp_path, capsys):
    m_zero, zero_dir = run(["method=zero_shot"], study="s")
    run(["method=lora"], study="s")
    _, bad_dir = run(["method=full_ft", "method.optim.lr=1e12", "trainer.max_steps=6",
                      "trainer.gradient_clip_val=null"], study="s", multirun=True)
    study, archive = zero_dir.parent, tmp_path / "archive"

    assert save(study, archive) == {"saved": 2, "unchanged": 0, "not done": 1}
    assert not (archive / bad_dir.name).exists()  # a failed run is no record to keep
    kept = archive / zero_dir.name
    assert sorted(p.name for p in kept.iterdir()) == ["config.yaml", "docs", "metric_specs.json",
                                                       "metrics.json", "status.json"]
    for f in ("config.yaml", "status.json", "metrics.json", "metric_specs.json"):
        assert (kept / f).read_bytes() == (zero_dir / f).read_bytes()
    for doc in (zero_dir / "docs").glob("*.json"):
        assert gzip.decompress((kept / "docs" / f"{doc.name}.gz").read_bytes()) == \
            doc.read_bytes()
    packed = {p: p.read_bytes() for p in archive.rglob("*") if p.is_file()}
    assert save(study, archive) == {"saved": 0, "unchanged": 2, "not done": 1}
    assert {p: p.read_bytes() for p in archive.rglob("*") if p.is_file()} == packed

    lean = tmp_path / "lean"
    assert main(["save", str(study), str(lean), "--no-docs"]) == 0
    assert capsys.readouterr().out == "2 saved, 0 unchanged, 1 not done\n"
    assert sorted(p.name for p in (lean / zero_dir.name).iterdir()) == [
        "config.yaml", "metric_specs.json", "metrics.json", "status.json"]

    # The report reads the archive as it reads the study, per-document scores included.
    assert report([str(study), "--reference", "method=zero_shot"]) == 0
    from_study = capsys.readouterr().out
    assert report([str(archive), "--reference", "method=zero_shot"]) == 0
    from_archive = capsys.readouterr().out
    assert "ppl ratio" in from_archive
    body = from_study.split("\n", 1)[1].split("## Failed")[0]  # the failed run stays behind
    assert from_archive.split("\n", 1)[1].rstrip() == body.rstrip()

    # Another machine: the study is gone; restored, the finished run is not run again.
    shutil.rmtree(study)
    assert restore(archive, study) == {"restored": 2, "already done": 0}
    assert json.loads((zero_dir / "metrics.json").read_text())["target_ppl"] == \
        m_zero["target_ppl"]
    assert (zero_dir / "docs" / "target.json").exists()
    again, _ = run(["method=zero_shot"], study="s")
    assert again is None
    assert restore(archive, study) == {"restored": 0, "already done": 2}


def test_archive_of_a_missing_study_says_so(tmp_path, capsys):
    assert main(["save", str(tmp_path / "nothing"), str(tmp_path / "a")]) == 2
    assert "no study directory at" in capsys.readouterr().err
