import numpy as np
import pytest
import torch

from harness.data.arrays import ArrayDataset
from harness.data.batches import BatchTransform, batch_order, limit
from harness.data.prepare import prepare_split
from harness.engine import TrainingRun, lr_factor
from harness.objectives import objective_for
from harness.models import build_classifier
from harness.protocols import PROTOCOLS, SMOKE

CPU = torch.device("cpu")


def test_protocols_carry_seeds_and_the_medmnist_recipe():
    assert {"smoke", "quick", "paper", "medmnist-v2"} <= set(PROTOCOLS.names())
    v2 = PROTOCOLS.get("medmnist-v2")
    assert (v2.optimizer, v2.lr, v2.batch_size, v2.epochs, v2.milestones, v2.gamma, v2.select_on) == \
        ("adam", 1e-3, 128, 100, (0.5, 0.75), 0.1, "auroc")
    assert all(PROTOCOLS.get(n).seeds for n in PROTOCOLS.names())


def test_multistep_schedule_drops_tenfold_at_half_and_three_quarters():
    factor = lr_factor(PROTOCOLS.get("medmnist-v2"), total_steps=100, steps_per_epoch=1)
    assert [factor(s) for s in (0, 49, 50, 74, 75, 99)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])


def test_cosine_schedule_warms_up_then_decays_to_zero():
    quick = PROTOCOLS.get("quick")
    factor = lr_factor(quick, total_steps=100, steps_per_epoch=10)
    values = [factor(s) for s in range(100)]
    assert values[0] < values[9] <= 1.0 and values[10] == pytest.approx(1.0) and values[-1] < 0.01
    assert all(a >= b for a, b in zip(values[10:], values[11:]))


def test_batches_cover_the_split_once_and_repeat_for_a_seed():
    first = batch_order(10, 4, torch.Generator().manual_seed(1), drop_last=True)
    again = batch_order(10, 4, torch.Generator().manual_seed(1), drop_last=True)
    assert [len(b) for b in first] == [4, 4] and all(torch.equal(a, b) for a, b in zip(first, again))
    assert sorted(torch.cat(batch_order(10, 4, torch.Generator(), drop_last=False)).tolist()) == list(range(10))


def test_augmentation_is_seeded_and_keeps_masks_aligned():
    images = torch.arange(2 * 16 * 16, dtype=torch.float32).reshape(2, 1, 16, 16).to(torch.uint8)
    masks = (images[:, 0] > 128).to(torch.uint8)
    transform = BatchTransform((0.0,), (1 / 255,), "flip_crop", CPU)
    a, ma = transform(images, torch.Generator().manual_seed(0), masks)
    b, mb = transform(images, torch.Generator().manual_seed(0), masks)
    assert torch.equal(a, b) and torch.equal(ma, mb) and a.shape == (2, 1, 16, 16)
    plain, _ = transform(images)
    assert torch.equal(plain, images.float())


def test_a_protocol_cap_is_the_same_subset_every_time():
    ds = ArrayDataset(np.zeros((50, 4, 4, 1), np.uint8), np.arange(50))
    assert np.array_equal(limit(ds, 10).targets, limit(ds, 10).targets) and len(limit(ds, 10)) == 10


def _toy_split(n=64, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 255, (n, 16, 16, 1), dtype=np.uint8)
    return prepare_split(ArrayDataset(images, np.arange(n) % 2), 16, "binary", CPU)


def test_an_absurd_learning_rate_is_recorded_as_diverged():
    torch.manual_seed(0)
    protocol = SMOKE.with_overrides(lr=1e12, epochs=2, optimizer="sgd", augmentation="none")
    model = build_classifier("resnet18", 2, 1, 16)
    run = TrainingRun(model, objective_for("binary", 2, protocol), protocol, 0, BatchTransform((0.5,), (0.25,), "none", CPU), CPU)
    outcome = run.fit(_toy_split(), _toy_split(seed=1), _toy_split(seed=2), progress=False)
    assert outcome.status == "diverged" and "lower the learning rate" in outcome.error
    assert outcome.metrics == {}


def test_a_resumed_fit_says_where_it_picks_up_and_its_one_bar_starts_there(tmp_path, capsys, monkeypatch):
    protocol = SMOKE.with_overrides(epochs=2, batch_size=16, augmentation="none")  # 64 images: 4 steps an epoch

    def training_run() -> TrainingRun:
        torch.manual_seed(0)
        model = build_classifier("test_resnet", 2, 1, 16)  # timm's tiny test model: checkpoints of a few hundred kB
        return TrainingRun(model, objective_for("binary", 2, protocol), protocol, 0, BatchTransform((0.5,), (0.25,), "none", CPU), CPU)

    splits, checkpoint = (_toy_split(), _toy_split(seed=1), _toy_split(seed=2)), tmp_path / "fit.pt"
    one_epoch = TrainingRun._train_epoch
    epochs = iter([one_epoch])
    monkeypatch.setattr(TrainingRun, "_train_epoch", lambda *args: next(epochs)(*args))  # killed during the second epoch
    with pytest.raises(StopIteration):
        training_run().fit(*splits, progress=False, checkpoint=checkpoint, time_inference=False)
    monkeypatch.undo()
    capsys.readouterr()

    said = []
    outcome = training_run().fit(*splits, checkpoint=checkpoint, time_inference=False, report=said.append)
    assert said == ["resuming from epoch 1 of 2 (the checkpoint's last finished epoch)"]
    frames = [f.strip() for f in capsys.readouterr().err.split("\r") if f.strip()]
    assert frames[0].startswith("epoch 2 of 2 (resumed):  50%|")  # one bar for the run, from the epoch it resumes at
    assert frames[-1].startswith("epoch 2 of 2 (resumed): 100%|") and "left, loss=" in frames[-1]
    assert outcome.status == "ok" and outcome.efficiency["resumed"] and [h["epoch"] for h in outcome.history] == [0, 1]
