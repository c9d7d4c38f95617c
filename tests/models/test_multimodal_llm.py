"""MultimodalLLM on tiny checkpoints: splicing, response-only loss, training, routing signals, generation."""

from __future__ import annotations

import pytest
import torch

from octavius.adapters.context import current_routing_context
from octavius.data import IGNORE_INDEX, InstructionDataset, instruction_collate
from octavius.models.multimodal_llm import MultimodalLLM
from octavius.registry import ENCODERS, MODELS
from tests.data.data_testing import synthetic_set, tiny_assets

OCTAVIUS_SMALL = dict(
    preset="octavius", experts=dict(num_experts=4, rank=4, alpha=8.0, dropout=0.0)
)


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return tiny_assets(tmp_path_factory.mktemp("assets"))


@pytest.fixture(scope="module")
def data(tmp_path_factory, assets):
    made = synthetic_set(tmp_path_factory.mktemp("synthetic"))
    common = dict(
        tokenizer=str(assets.llm),
        data_root=str(made.root),
        image_root="images",
        point_root="scenes",
    )
    return {
        split: InstructionDataset(
            f"annotations/{split}.json", test_mode=split.endswith("test"), **common
        )
        for split in ("2d_train", "3d_train", "2d_test", "3d_test")
    }


@pytest.fixture(scope="module")
def encoders(assets, tmp_path_factory):
    oas = ENCODERS.get("ObjectAsSceneEncoder").example_config(tmp_path_factory.mktemp("oas"))
    return dict(
        image=dict(type="CLIPImageEncoder", pretrained=str(assets.clip)),
        point_cloud=dict(type="ObjectAsSceneEncoder", **oas),
    )


def make_model(assets, encoders, seed=0, **kwargs):
    torch.manual_seed(seed)
    return MultimodalLLM(
        llm=str(assets.llm), encoders=encoders, projector=dict(type="MLPProjector"), **kwargs
    )


def randomise_lora_b(model, std=0.2):
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("lora_B"):
                param.normal_(0.0, std)


def batch_of(model, samples, training):
    return model.data_preprocessor(instruction_collate(samples), training)


def mixed_train(data):
    return [data["2d_train"][0], data["3d_train"][1], data["2d_train"][7], data["3d_train"][3]]


def mixed_test(data):
    return [data["2d_test"][0], data["3d_test"][2], data["2d_test"][4], data["3d_test"][0]]


@pytest.mark.parametrize("training", [True, False])
def test_modality_tokens_land_exactly_at_the_placeholders(assets, encoders, data, training):
    model = make_model(assets, encoders).eval()
    two_images = dict(data["2d_train"][3])
    tok = model.tokenizer
    img_id = model.placeholder_ids["image"]
    ids = two_images["input_ids"].tolist()
    at = ids.index(img_id)
    two_images["input_ids"] = torch.tensor([*ids[: at + 1], img_id, *ids[at + 1 :]])
    for key, fill in (("labels", IGNORE_INDEX), ("question_mask", True)):
        seq = two_images[key].tolist()
        two_images[key] = torch.tensor([*seq[: at + 1], fill, *seq[at + 1 :]])
    two_images["images"] = [data["2d_train"][10]["images"][0], two_images["images"][0]]
    text_only = dict(data["2d_train"][1], images=[])
    text_only["input_ids"] = text_only["input_ids"][text_only["input_ids"] != img_id]
    text_only["labels"] = text_only["labels"][: len(text_only["input_ids"])]
    text_only["question_mask"] = text_only["question_mask"][: len(text_only["input_ids"])]
    samples = [data["3d_train"][0], two_images, text_only, data["2d_train"][5]]
    batch_in = batch_of(model, samples, training)
    with torch.no_grad():
        spliced = model.prepare_inputs(batch_in["inputs"], batch_in["data_samples"])
        images, ok_img = model.encode_modality("image", [im for s in samples for im in s["images"]])
        points, ok_pts = model.encode_modality(
            "point_cloud", [p for s in samples for p in s["point_clouds"]]
        )
        embed = model.llm.get_input_embeddings()
    queues = {
        img_id: list(zip(images, ok_img)),
        model.placeholder_ids["point_cloud"]: list(zip(points, ok_pts)),
    }
    for i, sample in enumerate(samples):
        exp_emb, exp_lab, exp_q, exp_attn = [], [], [], []
        for tid, lab, q in zip(
            sample["input_ids"].tolist(),
            sample["labels"].tolist(),
            sample["question_mask"].tolist(),
        ):
            if tid in queues:
                feats, ok = queues[tid].pop(0)
                exp_emb.append(feats)
                exp_lab += [IGNORE_INDEX] * len(feats)
                exp_q += [False] * len(feats)
                exp_attn += ok.long().tolist()
            else:
                exp_emb.append(embed(torch.tensor([tid])))
                exp_lab.append(lab)
                exp_q.append(q)
                exp_attn.append(1)
        n = len(exp_lab)
        row = slice(0, n) if spliced.attention_mask.shape[1] == n or training else slice(-n, None)
        torch.testing.assert_close(
            spliced.inputs_embeds[i, row], torch.cat(exp_emb), rtol=0, atol=0
        )
        assert spliced.labels[i, row].tolist() == exp_lab
        assert spliced.question_mask[i, row].tolist() == exp_q
        assert spliced.attention_mask[i, row].tolist() == exp_attn
        assert spliced.attention_mask[i].sum() == sum(exp_attn)  # everything else is padding
        assert spliced.position_ids[i, row][torch.tensor(exp_attn).bool()].tolist() == list(
            range(sum(exp_attn))
        )
    assert all(not q for q in queues.values())
    assert tok.decode(samples[1]["input_ids"]).count("<image>") == 2


def test_loss_covers_response_tokens_only(assets, encoders, data):
    model = make_model(assets, encoders).eval()
    batch_in = batch_of(model, mixed_train(data), True)
    losses = model(**batch_in, mode="loss")
    assert set(losses) == {"loss_lm"}
    with torch.no_grad():
        logits = model(**batch_in, mode="tensor")
        spliced = model.prepare_inputs(batch_in["inputs"], batch_in["data_samples"])
    targets = spliced.labels[:, 1:]
    picked = targets != IGNORE_INDEX
    assert int(picked.sum()) == int((batch_in["inputs"]["labels"] != IGNORE_INDEX).sum())
    manual = torch.nn.functional.cross_entropy(logits[:, :-1][picked], targets[picked])
    torch.testing.assert_close(losses["loss_lm"], manual)


def test_a_few_steps_on_a_repeated_batch_reduce_the_loss(assets, encoders, data):
    model = make_model(assets, encoders, adapters=OCTAVIUS_SMALL).train()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert any("lora_A" in n for n in trainable) and any(
        n.startswith("projectors.") for n in trainable
    )
    assert not any(
        n.startswith("llm.") and "lora" not in n and "router" not in n for n in trainable
    )
    assert not any(n.startswith("encoders.image.") for n in trainable)
    batch_in = batch_of(model, mixed_train(data), True)
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-2)
    history = []
    for _ in range(8):
        loss = model(**batch_in, mode="loss")["loss_lm"]
        optim.zero_grad()
        loss.backward()
        optim.step()
        history.append(loss.item())
    assert history[-1] < 0.8 * history[0], history


def test_aux_losses_are_weighted_and_returned(assets, encoders, data):
    batch_samples = mixed_train(data)
    values = {}
    for weight in (0.0, 0.5):
        model = make_model(
            assets,
            encoders,
            adapters="llava_mole",
            aux_loss_weights=dict(token_balance_loss=weight),
        ).train()
        values[weight] = model(**batch_of(model, batch_samples, True), mode="loss")
    assert set(values[0.0]) == {"loss_lm", "aux_token_balance_loss"}
    assert set(values[0.5]) == {"loss_lm", "loss_token_balance_loss"}
    raw = values[0.0]["aux_token_balance_loss"]
    assert raw > 0
    torch.testing.assert_close(values[0.5]["loss_token_balance_loss"], 0.5 * raw)


def test_routing_context_carries_the_instance_signals(assets, encoders, data):
    model = make_model(assets, encoders).eval()
    samples = mixed_train(data)
    seen = []
    handle = model.llm.register_forward_pre_hook(lambda *_: seen.append(current_routing_context()))
    batch_in = batch_of(model, samples, True)
    with torch.no_grad():
        model(**batch_in, mode="tensor")
    handle.remove()
    ctx = seen[0]
    spliced = model.prepare_inputs(batch_in["inputs"], batch_in["data_samples"])
    torch.testing.assert_close(ctx.inputs_embeds, spliced.inputs_embeds)
    assert torch.equal(ctx.attention_mask, spliced.attention_mask) and torch.equal(
        ctx.question_mask, spliced.question_mask
    )
    for i, s in enumerate(samples):
        placeholders = int(
            sum((s["input_ids"] == pid).sum() for pid in model.placeholder_ids.values())
        )
        assert int(ctx.question_mask[i].sum()) == int(s["question_mask"].sum()) - placeholders
    assert ctx.task_ids.tolist() == [s["task_id"] for s in samples]
    assert ctx.task_names == [s["data_sample"]["task_type"] for s in samples]
    assert ctx.task_definitions == [s["data_sample"]["task_definition"] for s in samples]
    assert ctx.text_encoder(["Detect objects.", "Describe it."]).shape == (2, 64)


def test_text_encoder_is_the_frozen_llm_without_adapters(assets, encoders):
    plain = make_model(assets, encoders)
    adapted = make_model(assets, encoders, adapters=OCTAVIUS_SMALL)
    randomise_lora_b(adapted)
    texts = ["Find every object and give its box.", "Answer a question."]
    torch.testing.assert_close(adapted.text_encoder(texts), plain.text_encoder(texts))
    assert adapted.training  # the encoder leaves the model's mode alone
    emb = make_model(assets, encoders, text_encoder="embedding_mean").text_encoder(texts[:1])
    ids = torch.tensor(plain.tokenizer(texts[0], add_special_tokens=False)["input_ids"])
    torch.testing.assert_close(emb[0], plain.llm.get_input_embeddings()(ids).mean(0))


def test_greedy_generation_with_cache_equals_without(assets, encoders, data):
    model = make_model(assets, encoders, adapters=OCTAVIUS_SMALL).eval()
    randomise_lora_b(model)
    router = next(m for n, m in model.named_modules() if type(m).__name__ == "InstanceRouter")
    calls = []
    router.register_forward_hook(lambda *_: calls.append(1))
    batch_in = batch_of(model, mixed_test(data), False)
    cached = model.generate(batch_in["inputs"], batch_in["data_samples"], max_new_tokens=10)
    assert len(calls) == 1  # routing decided once, at the prompt, for every decoding step
    recomputed = model.generate(
        batch_in["inputs"], batch_in["data_samples"], max_new_tokens=10, use_cache=False
    )
    assert cached.token_ids == recomputed.token_ids and cached.texts == recomputed.texts
    assert any(len(ids) > 1 for ids in cached.token_ids)


def test_batched_generation_equals_one_by_one(assets, encoders, data):
    model = make_model(assets, encoders, adapters=OCTAVIUS_SMALL).eval()
    randomise_lora_b(model)
    samples = mixed_test(data)
    lengths = {len(s["input_ids"]) for s in samples}
    assert len(lengths) > 1  # the batch really is padded
    batched = model.generate(**_gen_args(model, samples), max_new_tokens=8)
    alone = [model.generate(**_gen_args(model, [s]), max_new_tokens=8) for s in samples]
    assert batched.token_ids == [a.token_ids[0] for a in alone]
    assert batched.texts == [a.texts[0] for a in alone]


def _gen_args(model, samples):
    batch_in = batch_of(model, samples, False)
    return dict(inputs=batch_in["inputs"], data_samples=batch_in["data_samples"])


def test_predict_returns_data_samples_with_text(assets, encoders, data):
    model = make_model(assets, encoders, generation=dict(max_new_tokens=4)).eval()
    samples = mixed_test(data)[:2]
    out = model.val_step(instruction_collate(samples))
    assert [o["sample_id"] for o in out] == [s["data_sample"]["sample_id"] for s in samples]
    assert all(isinstance(o["pred_text"], str) and 1 <= len(o["pred_token_ids"]) <= 4 for o in out)
    assert out[0]["gt_text"] == samples[0]["data_sample"]["gt_text"]


def test_init_weights_keeps_the_pretrained_llm_and_its_adapters(assets, encoders):
    model = make_model(assets, {"image": encoders["image"]}, adapters=OCTAVIUS_SMALL)
    before = {k: v.clone() for k, v in model.llm.state_dict().items()}
    model.init_weights()  # what mmengine's Runner calls before training
    assert all(torch.equal(before[k], v) for k, v in model.llm.state_dict().items())


def test_built_from_a_config(assets, encoders):
    model = MODELS.build(
        dict(
            type="MultimodalLLM",
            llm=dict(pretrained=str(assets.llm), attn_implementation="eager"),
            encoders=dict(image=encoders["image"]),
            projector=dict(image=dict(type="LinearProjector")),
            data_preprocessor=dict(type="InstructionDataPreprocessor", test_padding_side="left"),
        )
    )
    assert model.data_preprocessor.pad_token_id == model.tokenizer.pad_token_id
    assert (
        model.projectors["image"].proj.in_features == 32
        and model.projectors["image"].proj.out_features == 64
    )
    assert not any(p.requires_grad for p in model.llm.parameters())


def test_clear_errors(assets, encoders, data):
    model = make_model(assets, {"image": encoders["image"]}).eval()
    batch_in = batch_of(model, [data["2d_train"][0], data["3d_train"][0]], True)
    sid = data["3d_train"][0]["data_sample"]["sample_id"]
    with pytest.raises(
        ValueError, match=f"sample {sid} has a point_cloud but the model has no encoder"
    ):
        model(**batch_in, mode="loss")
    batch_in = batch_of(model, [data["2d_train"][0]], True)
    batch_in["inputs"]["images"] = [[]]
    with pytest.raises(ValueError, match=r"has 1 <image> placeholder\(s\) but 0 image item"):
        model(**batch_in, mode="loss")
    with pytest.raises(ValueError, match="build the dataset with test_mode=True"):
        model.generate(**_gen_args(model, [data["2d_train"][0]]))
    with pytest.raises(ValueError, match="mode must be one of"):
        model(**batch_of(model, [data["2d_train"][0]], True), mode="logits")
    short = make_model(assets, {"image": encoders["image"]}, max_length=40)
    with pytest.raises(ValueError, match="more than max_length=40"):
        short(**batch_of(short, [data["2d_train"][0]], True), mode="loss")
    with pytest.raises(ValueError, match="an encoder for 'image'; put it under that key"):
        make_model(assets, {"point_cloud": encoders["image"]})
    with pytest.raises(ValueError, match="matches no linear layer"):
        make_model(
            assets, {}, adapters=[dict(targets=r".*\.nothing", experts=dict(type="LoRAExperts"))]
        )


def test_freeze_projectors_leaves_only_adapters_trainable(assets, encoders):
    model = make_model(assets, encoders, adapters="octavius", freeze_projectors=True)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable, "the adapters must stay trainable"
    assert not any(n.startswith("projectors.") for n in trainable)
    assert any(n.startswith("llm.") for n in trainable)  # the LoRA experts and the gate
    unfrozen = make_model(assets, encoders, adapters="octavius")
    assert any(
        n.startswith("projectors.") and p.requires_grad for n, p in unfrozen.named_parameters()
    )
