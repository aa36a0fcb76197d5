"""lensbench.plan: a validated spec becomes an ordered DAG of steps with cache keys.

Only the stable surface is used here: ``make_plan``, ``Plan.steps``, ``Plan.roles`` and
``Step.id / kind / key / inputs / params``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lensbench.plan import make_plan
from lensbench.spec import load_spec

REPO = Path(__file__).resolve().parents[1]
NFW = REPO / "specs/examples/nfw_detection.toml"
ASTROMETRIC = REPO / "specs/papers/astrometric.toml"
SPLITS = ("train", "val", "test")


def smoke_plan(path: Path, *overrides: str):
    """The plan of ``path`` under its smoke preset, with ``--set`` style overrides."""
    return make_plan(load_spec(path, preset="smoke", overrides=overrides))


@pytest.fixture(scope="module")
def nfw_plan():
    return smoke_plan(NFW)


@pytest.fixture(scope="module")
def astrometric_plan():
    return smoke_plan(ASTROMETRIC)


@pytest.mark.parametrize("plan_name", ["nfw_plan", "astrometric_plan"])
def test_every_step_comes_after_its_inputs(plan_name, request):
    plan = request.getfixturevalue(plan_name)
    seen = set()
    for step in plan.steps:
        late = [i for i in step.inputs.values() if i not in seen]
        assert not late, f"step {step.id} comes before its inputs {late}"
        seen.add(step.id)
    assert len(seen) == len(plan.steps), "step ids are not unique"


@pytest.mark.parametrize("plan_name", ["nfw_plan", "astrometric_plan"])
def test_every_step_has_a_sha256_key_and_equal_keys_are_planned_once(plan_name, request):
    plan = request.getfixturevalue(plan_name)
    keys = [(step.kind, step.key) for step in plan.steps]
    for step in plan.steps:
        assert re.fullmatch(r"[0-9a-f]{64}", step.key), f"step {step.id} has key {step.key!r}"
    assert len(set(keys)) == len(keys)


def test_keys_are_the_same_on_every_call(nfw_plan):
    again = smoke_plan(NFW)
    assert [(s.id, s.kind, s.key) for s in again.steps] == [(s.id, s.kind, s.key) for s in nfw_plan.steps]


def test_a_classification_branch_simulates_each_split_trains_and_evaluates(nfw_plan):
    (roles,) = nfw_plan.roles.values()
    by_id = {step.id: step for step in nfw_plan.steps}
    for split in SPLITS:
        assert by_id[roles[f"simulate:{split}"]].kind == "simulate"
    train, evaluate = by_id[roles["train"]], by_id[roles["evaluate"]]
    assert train.kind == "train" and evaluate.kind == "evaluate"
    assert set(train.inputs.values()) == {roles["simulate:train"], roles["simulate:val"]}
    assert set(evaluate.inputs.values()) == {roles["train"], roles["simulate:test"]}


def test_changing_the_epochs_changes_the_train_key_but_not_the_simulations(nfw_plan):
    longer = smoke_plan(NFW, "training.epochs=3")
    (before,), (after,) = nfw_plan.roles.values(), longer.roles.values()
    keys_before = {s.id: s.key for s in nfw_plan.steps}
    keys_after = {s.id: s.key for s in longer.steps}
    for split in SPLITS:
        role = f"simulate:{split}"
        assert keys_after[after[role]] == keys_before[before[role]], f"{role} key changed with training.epochs"
    assert keys_after[after["train"]] != keys_before[before["train"]]
    assert keys_after[after["evaluate"]] != keys_before[before["evaluate"]]


def test_survey_scenarios_share_the_signal_but_simulate_their_own_data(astrometric_plan):
    """astrometric.toml: five scenarios (A-E), two more architectures on C, and HEALPix-native
    networks on B and D: one signal per split for all, one dataset per (scenario, projection)."""
    roles = astrometric_plan.roles
    kinds = {step.id: step.kind for step in astrometric_plan.steps}
    datasets = {(spec.survey_scenario, spec.simulation.projection) for spec in astrometric_plan.specs}
    assert len(roles) == len(astrometric_plan.specs) == 9 and len(datasets) == 7
    for split in SPLITS:
        signal = {branch[f"signal:{split}"] for branch in roles.values()}
        simulate = {branch[f"simulate:{split}"] for branch in roles.values()}
        assert len(signal) == 1, f"signal:{split} planned {len(signal)} times: {sorted(signal)}"
        assert len(simulate) == len(datasets), f"simulate:{split}: one per scenario and projection: {sorted(simulate)}"
        assert {kinds[s] for s in signal} == {"signal"} and {kinds[s] for s in simulate} == {"simulate"}
    assert len({branch["train"] for branch in roles.values()}) == 9
    counts = {kind: sum(k == kind for k in kinds.values()) for kind in ("signal", "simulate", "train")}
    assert counts == {"signal": 3, "simulate": 3 * len(datasets), "train": 9}


def test_branches_of_one_scenario_share_its_simulations(astrometric_plan):
    roles = astrometric_plan.roles
    scenario_c = [branch for name, branch in roles.items() if name.startswith("variant=C")]
    assert len(scenario_c) == 3
    for split in SPLITS:
        assert len({branch[f"simulate:{split}"] for branch in scenario_c}) == 1
    assert len({branch["train"] for branch in scenario_c}) == 3


def test_simulate_steps_take_the_signal_of_their_split_as_input(astrometric_plan):
    by_id = {step.id: step for step in astrometric_plan.steps}
    for branch in astrometric_plan.roles.values():
        for split in SPLITS:
            simulate = by_id[branch[f"simulate:{split}"]]
            assert branch[f"signal:{split}"] in simulate.inputs.values()


def test_a_grid_over_the_training_seed_trains_on_the_same_data(tmp_path):
    spec = tmp_path / "seeds.toml"
    spec.write_text(f'extends = "{NFW}"\n[grid]\n"training.seed" = [1, 2, 3]\n')
    plan = make_plan(load_spec(spec, preset="smoke"))
    by_kind = {}
    for step in plan.steps:
        by_kind.setdefault(step.kind, []).append(step)
    assert len(by_kind["simulate"]) == 3  # one per split, shared by the three seeds
    assert len({s.key for s in by_kind["train"]}) == 3
    assert [s.params["training"].seed for s in by_kind["train"]] == [1, 2, 3]


def test_the_training_seed_defaults_to_the_experiment_seed(nfw_plan):
    train = next(s for s in nfw_plan.steps if s.kind == "train")
    assert train.params["training"].seed == nfw_plan.specs[0].experiment.seed


def test_a_task_step_reading_a_role_nobody_plays_is_refused(monkeypatch):
    from lensbench.tasks import TASKS, Task, TaskStep

    broken = Task(name="broken", report=lambda branches, context: {},
                  steps=lambda spec: [TaskStep("evaluate", "evaluate", {}, {"model": "pretrain"})])
    monkeypatch.setitem(TASKS._entries, "broken", broken)
    with pytest.raises(ValueError, match="step 'evaluate' reads role 'pretrain', which no earlier step plays"):
        smoke_plan(NFW, "experiment.task=broken")


def test_torch_thread_count_is_in_the_keys_of_steps_that_run_a_network():
    """Smoke training with 1 and 2 torch threads gave weights up to 2.7e-3 apart: the thread count
    belongs to the keys of train and evaluate, not to those of the simulation."""
    import torch

    before = torch.get_num_threads()
    try:
        keys = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            keys.append({s.id: s.key for s in smoke_plan(NFW).steps})
    finally:
        torch.set_num_threads(before)
    differ = {step for step in keys[0] if keys[0][step] != keys[1][step]}
    assert {"train", "evaluate"} <= differ and not any(step.startswith("simulate") for step in differ)


def test_compiled_and_eager_simulations_do_not_share_a_cache_entry(monkeypatch):
    """torch.compile reorders float operations, so compiled renders differ from eager ones in their
    last bits: the two must not be reused for each other."""
    monkeypatch.delenv("LENSBENCH_NO_COMPILE", raising=False)
    compiled = smoke_plan(NFW, "execution.compile=true")
    eager = smoke_plan(NFW, "execution.compile=false")
    simulate_keys = [{s.key for s in plan.steps if s.kind == "simulate"} for plan in (compiled, eager)]
    assert simulate_keys[0].isdisjoint(simulate_keys[1])
    monkeypatch.setenv("LENSBENCH_NO_COMPILE", "1")  # compilation off on this machine: the same as eager
    assert {s.key for s in smoke_plan(NFW, "execution.compile=true").steps if s.kind == "simulate"} == simulate_keys[1]
