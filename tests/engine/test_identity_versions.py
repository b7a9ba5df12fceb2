"""Resume checks across versions: a setting that a checkpoint of an older version does not
know is not a difference (new config keys must not lock older runs out of resuming)."""

from resvision.engine.identity import compare_for_resume


def test_a_key_known_on_one_side_only_is_not_compared():
    old = {"recipe": {"optim": {"lr": 0.1, "name": "momentum"}}}
    new = {"recipe": {"optim": {"lr": 0.1, "name": "momentum", "clip_grad_norm": None,
                                "norm_weight_decay": 0.0}}}  # fmt: skip
    check = compare_for_resume({}, old, {}, new)
    assert check.refused == [] and check.warned == [] and check.applied == []


def test_a_changed_value_beside_a_new_key_is_still_refused():
    old = {"recipe": {"optim": {"lr": 0.1}}, "preprocess": {"size": 32}}
    new = {"recipe": {"optim": {"lr": 0.2, "clip_grad_norm": 1.0}},
           "preprocess": {"size": 32, "interpolation": "bilinear"}}  # fmt: skip
    check = compare_for_resume({}, old, {}, new)
    assert check.refused == ["identity.recipe.optim.lr: 0.1 in the checkpoint, 0.2 now"]


def test_a_value_set_to_none_is_still_a_difference():
    old = {"recipe": {"optim": {"aux_lr": 0.5}}}
    new = {"recipe": {"optim": {"aux_lr": None}}}
    check = compare_for_resume({}, old, {}, new)
    assert check.refused == ["identity.recipe.optim.aux_lr: 0.5 in the checkpoint, None now"]
