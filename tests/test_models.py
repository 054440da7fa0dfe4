import pytest
import timm
import torch

from harness.errors import MedbenchError, UnknownNameError
from harness.models import build_classifier, load_backbone_weights

BACKBONES = ["resnet18", "resnet34", "resnet50", "resnet101",
             "vit_tiny_patch16_224", "vit_small_patch16_224", "vit_base_patch16_224"]
BIG_BACKBONES = {"resnet50", "resnet101", "vit_small_patch16_224", "vit_base_patch16_224"}


def _pretrained_like(backbone: str) -> dict[str, torch.Tensor]:
    """Weights as a pretrained checkpoint would carry them: 3 input channels, a 1000-class head."""
    torch.manual_seed(123)
    return timm.create_model(backbone, pretrained=False).state_dict()


def _load_like_a_pretrained_checkpoint(backbone: str) -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    source = _pretrained_like(backbone)
    model = build_classifier(backbone, num_classes=3, in_chans=1, image_size=32)
    report = load_backbone_weights(model, source, backbone=backbone)
    assert report.matched_fraction == 1.0 and report.adapted_input_conv and report.head_reinitialised
    conv = model.pretrained_cfg["first_conv"] + ".weight"
    assert torch.allclose(model.state_dict()[conv], source[conv].sum(dim=1, keepdim=True))
    return model, source


# Each listed backbone is built and loaded once (the big ones are slow only because they are big); a training
# step is the same code for every timm model, so it is taken with timm's tiny test models of both families.
@pytest.mark.parametrize("backbone", [pytest.param(b, marks=pytest.mark.slow) if b in BIG_BACKBONES else b
                                      for b in BACKBONES])
def test_every_listed_backbone_builds_and_loads_pretrained_weights(backbone: str):
    _load_like_a_pretrained_checkpoint(backbone)


@pytest.mark.parametrize("backbone", ["test_resnet", "test_vit"])
def test_a_loaded_model_of_each_family_takes_a_training_step(backbone: str):
    model, _ = _load_like_a_pretrained_checkpoint(backbone)
    x, y = torch.randn(2, 1, 32, 32), torch.tensor([0, 2])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_vit_position_embeddings_are_resampled_to_the_task_size():
    source = _pretrained_like("vit_tiny_patch16_224")
    model = build_classifier("vit_tiny_patch16_224", num_classes=2, in_chans=3, image_size=64)
    report = load_backbone_weights(model, source)
    assert report.matched_fraction == 1.0
    assert model.pos_embed.shape[1] == 1 + (64 // 16) ** 2


def test_weights_of_another_architecture_are_refused():
    model = build_classifier("resnet50", num_classes=2, in_chans=3, image_size=32)
    with pytest.raises(MedbenchError, match=r"match only \d+% of resnet50"):
        load_backbone_weights(model, _pretrained_like("resnet18"), backbone="resnet50")


def test_small_stem_is_three_by_three_stride_one_without_maxpool():
    model = build_classifier("resnet18", num_classes=2, in_chans=1, image_size=28, stem="small")
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1)
    assert isinstance(model.maxpool, torch.nn.Identity)
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 2)
    report = load_backbone_weights(model, _pretrained_like("resnet18"))
    assert report.mis_shaped == ["conv1.weight (64, 3, 7, 7)→(64, 1, 3, 3)"] and report.matched_fraction > 0.98


def test_small_stem_needs_a_resnet():
    with pytest.raises(MedbenchError, match="ResNet-family"):
        build_classifier("vit_tiny_patch16_224", num_classes=2, in_chans=1, image_size=32, stem="small")


def test_unknown_backbone_suggests_the_closest():
    with pytest.raises(UnknownNameError, match="did you mean 'resnet50'"):
        build_classifier("resnet5O", num_classes=2, in_chans=1, image_size=32)


def test_loading_does_not_modify_the_callers_weights():
    source = _pretrained_like("resnet18")
    kept = source["conv1.weight"].clone()
    load_backbone_weights(build_classifier("resnet18", 2, 1, 32), source)
    assert torch.equal(source["conv1.weight"], kept)
