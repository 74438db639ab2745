import json
import subprocess
import sys

import pytest
import torch

from tests.conftest import REPO, compose_cfg
from transplant.config import ConfigError
from transplant.models import decoder_layers, load_model
from transplant.surgery.organ import Organ, implant, organ_manifest
from transplant.validation import validate

ORGAN = ["method=organ", "method.organ.length=2", "trainer.max_steps=3"]


def _organ_file(tmp_path) -> Organ:
    files = list((tmp_path / "out" / "cache" / "organs").glob("*/organ.safetensors"))
    assert len(files) == 1
    return Organ.load(files[0])


@pytest.mark.parametrize("in_place", ["false", "true"])
def test_only_the_organ_trains_and_lands_where_asked(run, tmp_path, in_place):
    metrics, _ = run([*ORGAN, f"method.organ.in_place={in_place}", "method.organ.position=0"])
    organ = _organ_file(tmp_path)
    donor, _ = load_model("tiny_llama")
    start = 4 // 3
    assert organ.manifest["source_layers"] == [start, start + 1]
    assert metrics["params_trainable"] == sum(p.numel() for i in (1, 2)
                                              for p in decoder_layers(donor)[i].parameters())
    # The organ moved away from the donor's layers: it trained.
    trained = organ.layer_state(0)
    original = decoder_layers(donor)[start].state_dict()
    assert any(not torch.equal(trained[k], original[k]) for k in original)
    assert metrics["position"] == 0 and metrics["train_tokens"] == 3 * 2 * 32


def test_implant_at_source_changes_only_the_organ_layers(tmp_path):
    donor, _ = load_model("tiny_llama")
    donor_state = {k: v.clone() for k, v in donor.state_dict().items()}
    shifted = {f"{i}.{k}": v + 1.0 for i in range(2)
               for k, v in decoder_layers(donor)[1 + i].state_dict().items()}
    organ = Organ(shifted, organ_manifest(donor.config, 1, 2, "tiny_llama"))
    implant(donor, organ, 1)
    for k, v in donor.state_dict().items():
        in_organ = k.startswith(("model.layers.1.", "model.layers.2."))
        assert torch.equal(v, donor_state[k] + 1.0 if in_organ else donor_state[k]), k


def test_position_sweep_trains_the_organ_once(run, tmp_path):
    first, _ = run([*ORGAN, "method.organ.position=0"])
    second, _ = run([*ORGAN, "method.organ.position=2"])
    assert (first["organ_reused"], second["organ_reused"]) == (False, True)
    assert second["train_tokens"] == first["train_tokens"]  # cost reported with every use
    assert second["position"] == 2 and second["target_ppl"] != first["target_ppl"]


@pytest.mark.parametrize("override,message", [
    ("method.organ.start=3", "method.organ.start=3 is invalid: expected 0..2 for a 2-layer "
                             "organ of a 4-layer donor"),
    ("method.organ.position=3", "method.organ.position=3 is invalid: expected 0..2 (replace"),
    ("method.organ.length=0", "method.organ.length=0 is invalid: expected an integer > 0"),
])
def test_bad_organ_config_names_the_key(override, message):
    cfg = compose_cfg(["model=tiny_llama", *ORGAN, override])
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    assert message in str(err.value)


def test_organ_cli_extract_inspect_implant(tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "transplant.organ_cli", *args], cwd=REPO,
                              capture_output=True, text=True)

    model, tok = load_model("tiny_gpt2")
    model.save_pretrained(tmp_path / "donor", max_shard_size="100KB")
    tok.save_pretrained(tmp_path / "donor")
    out = cli("extract", str(tmp_path / "donor"), "--stream", "--start", "1", "--length", "2",
              "--out", str(tmp_path / "o.safetensors"))
    assert out.returncode == 0, out.stderr
    info = json.loads(cli("inspect", str(tmp_path / "o.safetensors")).stdout)
    assert info["source_layers"] == [1, 2] and info["verified"] and info["family"] == "gpt2"
    out = cli("implant", str(tmp_path / "donor"), str(tmp_path / "o.safetensors"),
              "--position", "0", "--mode", "insert", "--out", str(tmp_path / "grown"))
    assert out.returncode == 0, out.stderr
    grown, _ = load_model(str(tmp_path / "grown"))
    assert grown.config.n_layer == 6
    assert torch.equal(decoder_layers(grown)[0].mlp.c_fc.weight,
                       decoder_layers(model)[1].mlp.c_fc.weight)
    bad = cli("implant", "tiny_llama", str(tmp_path / "o.safetensors"), "--position", "0",
              "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and "organ family gpt2 != recipient family llama" in bad.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("method", [[*ORGAN], ["method=graft", "trainer.max_steps=1",
                                                "method.graft.workload_size=4",
                                                "method.graft.accuracy_items=4"]])
def test_every_load_of_the_configured_model_keeps_its_options(run, monkeypatch, method):
    # The donor reloaded as the organ's default recipient (and graft's target) must be the
    # same revision, trust setting, dtype and tiny seed as the configured model.
    from transplant.models import loading

    loads = []
    real = loading.load_model

    def spy(spec, cache=None):
        loads.append(spec)
        return real(spec, cache)

    monkeypatch.setattr(loading, "load_model", spy)
    run([*method, "model.revision=r1", "model.seed=3"])
    mine = [s for s in loads if s.name == "tiny_llama"]
    assert len(mine) >= 2
    assert all((s.revision, s.seed, s.dtype) == ("r1", 3, "float32") for s in mine), mine


def test_untrained_organ_control_moves_the_donors_own_layers(run):
    # Implanted where it came from, the untrained organ is the donor itself; elsewhere it is
    # the donor's layers moved, with no training: the control for a position sweep.
    home, _ = run([*ORGAN, "method.organ.trained=false"])
    zero, _ = run(["method=zero_shot"])
    assert home["target_ppl"] == pytest.approx(zero["target_ppl"], rel=1e-6)
    assert home["params_trainable"] == 0 and home["train_tokens"] == 0
    moved, _ = run([*ORGAN, "method.organ.trained=false", "method.organ.position=0"])
    assert moved["target_ppl"] != pytest.approx(zero["target_ppl"], rel=1e-6)
