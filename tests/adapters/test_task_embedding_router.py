"""TaskEmbeddingRouter (MixLoRA appendix A) and the HashingTextEncoder."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from octavius.adapters.builders import build_experts, build_router
from octavius.adapters.context import MissingRoutingSignalError, RoutingContext, use_routing_context
from octavius.adapters.layer import AdaptedLinear
from octavius.registry import TEXT_ENCODERS

D, E = 16, 6
OKVQA = (
    "Answer the question in natural language based on the content of the image. "
    "The questions require external knowledge to answer."
)
CAPTION = "Write a short caption describing the image."
COUNT = "Count the objects of the given category in the image."


class CountingEncoder:
    """A frozen text encoder that records every batch of texts it is asked to encode."""

    def __init__(self, dim: int = D) -> None:
        self.hashing = TEXT_ENCODERS.build({"type": "HashingTextEncoder", "embed_dim": dim})
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> torch.Tensor:
        self.calls.append(list(texts))
        return self.hashing(texts)


def make_router(**kwargs) -> nn.Module:
    return build_router({"type": "TaskEmbeddingRouter", **kwargs}, in_features=D, num_experts=E)


def test_encoder_runs_once_per_distinct_definition():
    router = make_router(top_k=2)
    encoder = CountingEncoder()
    x = torch.randn(3, 4, D)
    first = router(
        x, RoutingContext(task_definitions=[OKVQA, CAPTION, OKVQA], text_encoder=encoder)
    )
    assert encoder.calls == [[OKVQA, CAPTION]]
    assert torch.equal(first.indices[0], first.indices[2])  # same task, same choice
    router(x[:2], RoutingContext(task_definitions=[CAPTION, COUNT], text_encoder=encoder))
    assert encoder.calls == [[OKVQA, CAPTION], [COUNT]]
    again = router(
        x, RoutingContext(task_definitions=[COUNT, OKVQA, CAPTION], text_encoder=encoder)
    )
    assert len(encoder.calls) == 2
    assert torch.equal(again.indices[1], first.indices[0])
    router.clear_cache()
    router(x[:1], RoutingContext(task_definitions=[COUNT], text_encoder=encoder))
    assert encoder.calls[-1] == [COUNT]


def test_routers_of_one_call_share_the_context_encoders_embeddings():
    routers = [make_router() for _ in range(3)]
    encoder = CountingEncoder()
    ctx = RoutingContext(task_definitions=[COUNT, CAPTION], text_encoder=encoder)
    for router in routers:
        router(torch.randn(2, 1, D), ctx)
    assert encoder.calls == [[COUNT, CAPTION]]
    with pytest.raises(ValueError, match="16-d embeddings"):
        build_router({"type": "TaskEmbeddingRouter"}, in_features=8, num_experts=E)(
            torch.randn(2, 1, 8), ctx
        )


def test_decision_is_eq_6_on_the_task_embedding():
    router = make_router(top_k=3)
    encoder = CountingEncoder()
    definitions = [OKVQA, CAPTION]
    decision = router(
        torch.randn(2, 1, D), RoutingContext(task_definitions=definitions, text_encoder=encoder)
    )
    probs = torch.softmax(encoder.hashing(definitions) @ router.proj.weight.T, dim=-1)
    top = probs.topk(3, dim=-1)
    assert torch.equal(decision.indices, top.indices)
    torch.testing.assert_close(decision.weights, top.values / top.values.sum(-1, keepdim=True))
    torch.testing.assert_close(decision.probs, probs)
    assert decision.level == "instance" and decision.factors is None


def test_missing_signals_name_the_signal():
    router = make_router()
    x = torch.randn(1, 2, D)
    with pytest.raises(MissingRoutingSignalError, match="'task_definitions'"):
        router(x, None)
    with pytest.raises(MissingRoutingSignalError, match="'task_definitions'"):
        router(x, RoutingContext(text_encoder=CountingEncoder()))
    with pytest.raises(MissingRoutingSignalError, match="'text_encoder'"):
        router(x, RoutingContext(task_definitions=[OKVQA]))


def test_configured_encoder_needs_no_context_encoder():
    router = make_router(text_encoder={"type": "HashingTextEncoder", "embed_dim": 40})
    assert router.embed_dim == 40 and router.proj.in_features == 40
    assert not any(p.requires_grad for p in router.text_encoder.parameters())
    decision = router(torch.randn(2, 3, D), RoutingContext(task_definitions=[COUNT, CAPTION]))
    assert decision.indices.shape == (2, 2)


def test_bad_inputs_raise_clear_errors():
    router = make_router()
    x = torch.randn(2, 1, D)
    with pytest.raises(ValueError, match="one string per sample"):
        router(x, RoutingContext(task_definitions=[OKVQA], text_encoder=CountingEncoder()))
    with pytest.raises(ValueError, match="non-empty task definition"):
        router(x, RoutingContext(task_definitions=[OKVQA, " "], text_encoder=CountingEncoder()))
    with pytest.raises(ValueError, match=r"expected \(2, 16\)"):
        router(
            x, RoutingContext(task_definitions=[OKVQA, COUNT], text_encoder=CountingEncoder(dim=8))
        )
    with pytest.raises(TypeError, match="registered text encoder"):
        make_router(text_encoder="HashingTextEncoder")
    with pytest.raises(ValueError, match="top_k"):
        make_router(top_k=E + 1)


def layer_with(experts_cfg, **router_kwargs):
    experts = build_experts(experts_cfg, in_features=D, out_features=8)
    with torch.no_grad():
        for name, param in experts.named_parameters():
            if name in ("lora_B", "factors_b"):  # trained B, so the delta depends on routing
                param.normal_()
    base = nn.Linear(D, 8).requires_grad_(False)
    return AdaptedLinear(base, experts, make_router(**router_kwargs), name="layers.0.v_proj")


@pytest.mark.parametrize(
    ("experts_cfg", "router_kwargs"),
    [
        ({"type": "LoRAExperts", "num_experts": E, "rank": 2}, {"top_k": 2}),
        ({"type": "LoRAFactorPool", "num_factors": E, "rank": 3}, {"top_k": 3}),
        ({"type": "LoRAFactorPool", "num_factors": E, "rank": 3}, {"top_k": 3, "separate_b": True}),
    ],
)
def test_routes_experts_and_factors_and_its_weights_learn(experts_cfg, router_kwargs):
    layer = layer_with(experts_cfg, **router_kwargs)
    before = {n: p.detach().clone() for n, p in layer.router.named_parameters()}
    opt = torch.optim.SGD([p for p in layer.parameters() if p.requires_grad], lr=1.0)
    x = torch.randn(3, 4, D)
    ctx = RoutingContext(task_definitions=[OKVQA, CAPTION, COUNT], text_encoder=CountingEncoder())
    with use_routing_context(ctx):
        loss = layer(x).square().mean()
    loss.backward()
    opt.step()
    assert all(not torch.equal(before[n], p) for n, p in layer.router.named_parameters())


def test_factor_pool_pairs_factors_or_takes_a_separate_b_choice():
    ctx = RoutingContext(task_definitions=[OKVQA, COUNT], text_encoder=CountingEncoder())
    x = torch.randn(2, 3, D)
    for separate_b in (False, True):
        layer = layer_with(
            {"type": "LoRAFactorPool", "num_factors": E, "rank": 3}, top_k=3, separate_b=separate_b
        )
        decision = layer.router(x, ctx)
        idx_b = decision.factors.b_indices if separate_b else decision.indices
        pool = layer.experts
        want = torch.stack(
            [
                x[s]
                @ (pool.scale * pool.factors_b[idx_b[s]].T @ pool.factors_a[decision.indices[s]]).T
                for s in range(2)
            ]
        )
        torch.testing.assert_close(pool(x, decision), want, atol=1e-5, rtol=1e-5)
    assert separate_b and not torch.equal(decision.factors.b_indices, decision.indices)


def test_separate_b_needs_a_factor_pool():
    layer = layer_with(
        {"type": "LoRAExperts", "num_experts": E, "rank": 2}, top_k=2, separate_b=True
    )
    ctx = RoutingContext(task_definitions=[OKVQA], text_encoder=CountingEncoder())
    with use_routing_context(ctx), pytest.raises(TypeError, match="separate_b"):
        layer(torch.randn(1, 2, D))


def test_hashing_text_encoder_is_deterministic_and_meaningful():
    encoder = TEXT_ENCODERS.build({"type": "HashingTextEncoder", "embed_dim": 512})
    other = TEXT_ENCODERS.build({"type": "HashingTextEncoder", "embed_dim": 512})
    texts = [OKVQA, "Answer the question based on the image content.", "Count the cats."]
    emb = encoder(texts)
    assert emb.shape == (3, 512) and emb.dtype == torch.float32
    assert torch.equal(emb, other(texts))
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(3))
    assert emb[0] @ emb[1] > emb[0] @ emb[2] + 0.1  # shared words, closer embeddings
    with pytest.raises(TypeError, match="list of strings"):
        encoder(OKVQA)
    with pytest.raises(ValueError, match="ngram_range"):
        TEXT_ENCODERS.build({"type": "HashingTextEncoder", "ngram_range": (2, 1)})


def test_a_missing_definition_names_the_dataset_unless_a_fallback_is_configured():
    from octavius.plugins.routers.task_embedding import MissingTaskDefinitionError

    x = torch.randn(3, 2, D)
    ctx = RoutingContext(
        task_definitions=[OKVQA, None, "  "],
        datasets=["okvqa_train.json", "vision_flan_191.json", "vision_flan_191.json"],
        text_encoder=CountingEncoder(),
    )
    with pytest.raises(MissingTaskDefinitionError, match=r"\[1, 2\].*vision_flan_191\.json"):
        make_router()(x, ctx)
    with pytest.raises(MissingTaskDefinitionError, match="fallback_definition"):
        make_router()(x, ctx)
    encoder = CountingEncoder()
    router = make_router(top_k=2, fallback_definition=COUNT)
    decision = router(
        x, RoutingContext(task_definitions=[OKVQA, None, COUNT], text_encoder=encoder)
    )
    assert encoder.calls == [[OKVQA, COUNT]]  # the fallback routes exactly like its text
    assert torch.equal(decision.indices[1], decision.indices[2])
    with pytest.raises(ValueError, match="fallback_definition must be a non-empty text"):
        make_router(fallback_definition="")
