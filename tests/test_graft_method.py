import pytest


def test_graft_run_against_a_finetuned_donor(run):
    common = ["method=graft", "trainer.max_steps=3", "method.graft.workload_size=8",
              "method.graft.accuracy_items=12"]
    full, _ = run([*common, "method.graft.k=null"])
    # Grafting every candidate at alpha=1 makes the grafted model the donor in every linear
    # layer; embeddings and norms are also fine-tuned in the donor, so the gap is mostly closed.
    assert full["k"] == full["candidates"] == 4 * 7
    assert full["gap_recovery_ppl"] > 0.5, full
    # per layer: q, o (64x64); k, v (32x64: 2 KV heads); gate, up, down (128x64)
    assert full["grafted_params"] == 4 * (2 * 64 * 64 + 2 * 32 * 64 + 3 * 128 * 64)
    none, _ = run([*common, "method.graft.k=0"])
    assert none["k"] == 0
    assert none["target_ppl"] == pytest.approx(none["before_target_ppl"], rel=1e-6)
    assert none["gap_recovery_ppl"] == pytest.approx(0.0, abs=1e-6)
    # Nothing grafted: the target's own accuracy, and a TIR of exactly 1 (none where the
    # target answers nothing right: a ratio to 0)
    assert none["target_acc"] == none["before_target_acc"]
    assert none["tir_acc"] == (1.0 if none["before_target_acc"] > 0 else None)
    rand, _ = run([*common, "method.graft.select=random", "method.graft.k=4"])
    assert rand["k"] == 4
    assert rand["donor_target_ppl"] == full["donor_target_ppl"]  # one cached donor
