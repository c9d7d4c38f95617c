"""LoRAExperts: equality with peft, sparse paths against dense references, gradients."""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, get_peft_model
from torch import nn

from octavius.adapters import AdaptedLinear, RoutingDecision, grouped_lora
from octavius.adapters.grouped import grouped_lora_add_
from octavius.adapters.lora_add import add_lora_, lora_product
from octavius.plugins.experts.lora_experts import LoRAExperts

D_IN, D_OUT, RANK = 12, 20, 4


class _Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(D_IN, D_OUT)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


def _bank(num_experts: int = 4, **kwargs) -> LoRAExperts:
    bank = LoRAExperts(D_IN, D_OUT, num_experts=num_experts, rank=RANK, alpha=8.0, **kwargs)
    with torch.no_grad():
        bank.lora_B.normal_()
    return bank


def _expert_outputs(bank: LoRAExperts, x: torch.Tensor) -> torch.Tensor:
    """Every expert on every token, ``(e, ..., d_out)``: the dense reference."""
    return torch.stack(
        [x @ bank.lora_A[e].T @ bank.lora_B[e] * bank.scale for e in range(bank.num_experts)]
    )


def test_single_expert_without_router_equals_peft_lora():
    block = _Block()
    reference = get_peft_model(
        _Block(), LoraConfig(r=RANK, lora_alpha=8, target_modules=["proj"], lora_dropout=0.0)
    )
    peft_layer = reference.base_model.model.proj
    peft_layer.base_layer.load_state_dict(block.proj.state_dict())
    with torch.no_grad():
        peft_layer.lora_B["default"].weight.normal_(0.0, 0.1)

    bank = LoRAExperts(D_IN, D_OUT, num_experts=1, rank=RANK, alpha=8.0)
    with torch.no_grad():
        bank.lora_A[0].copy_(peft_layer.lora_A["default"].weight)
        bank.lora_B[0].copy_(peft_layer.lora_B["default"].weight.T)
    ours = AdaptedLinear(block.proj, bank, router=None, name="proj")
    for p in ours.base_layer.parameters():
        p.requires_grad_(False)

    x = torch.randn(3, 5, D_IN)
    x_ours, x_ref = x.clone().requires_grad_(), x.clone().requires_grad_()
    y_ours, y_ref = ours(x_ours), reference(x_ref)
    torch.testing.assert_close(y_ours, y_ref, atol=1e-5, rtol=0)
    grad = torch.randn_like(y_ref)
    y_ours.backward(grad)
    y_ref.backward(grad)
    torch.testing.assert_close(x_ours.grad, x_ref.grad, atol=1e-5, rtol=0)
    torch.testing.assert_close(
        bank.lora_A.grad[0], peft_layer.lora_A["default"].weight.grad, atol=1e-5, rtol=0
    )
    torch.testing.assert_close(
        bank.lora_B.grad[0], peft_layer.lora_B["default"].weight.grad.T, atol=1e-5, rtol=0
    )


def test_initialisation_is_peft_like():
    bank = LoRAExperts(D_IN, D_OUT, num_experts=3, rank=RANK)
    assert torch.count_nonzero(bank.lora_B) == 0
    bound = 1 / D_IN**0.5  # kaiming_uniform(a=√5) on a (r, d_in) weight
    assert bank.lora_A.abs().max() <= bound
    assert not torch.equal(bank.lora_A[0], bank.lora_A[1])


def test_sparse_instance_topk_equals_dense_reference_with_unchosen_weights_zeroed():
    bank = _bank()
    x = torch.randn(3, 6, D_IN)
    indices = torch.tensor([[2, 0], [1, 3], [3, 2]])
    weights = torch.tensor([[0.7, 0.3], [0.4, 0.6], [0.5, 0.5]])
    decision = RoutingDecision(level="instance", indices=indices, weights=weights)
    full = torch.zeros(3, 4).scatter(1, indices, weights)  # unchosen experts weigh 0
    reference = torch.einsum("be,ebnd->bnd", full, _expert_outputs(bank, x))
    torch.testing.assert_close(bank(x, decision), reference, atol=1e-5, rtol=1e-5)
    dense = RoutingDecision(
        level="instance", indices=torch.arange(4).expand(3, 4), weights=full, mode="dense"
    )
    torch.testing.assert_close(bank(x, dense), reference, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("d_in, d_out", [(12, 20), (20, 12)])
def test_instance_weight_gradient_matches_reference(d_in, d_out):
    bank = LoRAExperts(d_in, d_out, num_experts=4, rank=RANK, alpha=8.0)
    with torch.no_grad():
        bank.lora_B.normal_()
    x = torch.randn(2, 5, d_in)
    indices = torch.tensor([[1, 2], [0, 3]])
    weights = torch.tensor([[0.2, 0.8], [0.9, 0.1]], requires_grad=True)
    bank(x, RoutingDecision(level="instance", indices=indices, weights=weights)).sum().backward()
    ref_w = weights.detach().clone().requires_grad_()
    outs = _expert_outputs(bank, x).detach()  # (e, b, n, d)
    chosen = outs[indices, torch.arange(2)[:, None]]  # (b, k, n, d)
    (ref_w[:, :, None, None] * chosen).sum().backward()
    torch.testing.assert_close(weights.grad, ref_w.grad, atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("in_place", [False, True], ids=["delta", "into_base_output"])
@pytest.mark.parametrize("k, drop", [(2, True), (1, False), (1, True)])
def test_grouped_token_execution_equals_dense_masked_reference(k, drop, in_place):
    bank = _bank()
    b, n = 2, 7
    x = torch.randn(b, n, D_IN, requires_grad=True)
    base = torch.randn(D_OUT, D_IN)
    indices = torch.stack([torch.randperm(4)[:k] for _ in range(b * n)]).view(b, n, k)
    if drop:
        indices[0, 3, -1] = -1  # a dropped assignment is not computed
    weights = torch.rand(b, n, k, requires_grad=True)
    decision = RoutingDecision(level="token", indices=indices, weights=weights)
    if in_place:  # as inside an adapted linear: accumulated into the fresh base output
        out = bank.add_delta(x @ base.T, x, decision)
    else:
        out = bank(x, decision)

    x_ref = x.detach().clone().requires_grad_()
    w_ref = weights.detach().clone().requires_grad_()
    a_ref = bank.lora_A.detach().clone().requires_grad_()
    b_ref = bank.lora_B.detach().clone().requires_grad_()
    reference = x_ref @ base.T if in_place else torch.zeros(b, n, D_OUT)
    for e in range(4):
        mask = (indices == e).to(x.dtype)  # (b, n, k)
        gate = (mask * w_ref).sum(-1, keepdim=True)  # (b, n, 1): 0 where e is not chosen
        reference = reference + gate * (x_ref @ a_ref[e].T @ b_ref[e]) * bank.scale
    torch.testing.assert_close(out, reference, atol=1e-5, rtol=1e-5)

    grad = torch.randn_like(out)
    out.backward(grad)
    reference.backward(grad)
    torch.testing.assert_close(x.grad, x_ref.grad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights.grad, w_ref.grad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(bank.lora_A.grad, a_ref.grad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(bank.lora_B.grad, b_ref.grad, atol=1e-5, rtol=1e-5)
    if drop:
        assert weights.grad[0, 3, -1] == 0


def test_grouped_lora_passes_gradcheck():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(6, 5, dtype=torch.double, generator=gen, requires_grad=True)
    a = torch.randn(3, 2, 5, dtype=torch.double, generator=gen, requires_grad=True)
    b = torch.randn(3, 2, 4, dtype=torch.double, generator=gen, requires_grad=True)
    idx = torch.tensor([[0, 2], [2, -1], [1, 0], [0, 1], [2, 1], [2, 0]])
    w = torch.rand(6, 2, dtype=torch.double, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda *t: grouped_lora(t[0], t[1], t[2], idx, t[3]), (x, a, b, w)
    )


def test_in_place_paths_pass_gradcheck():
    gen = torch.Generator().manual_seed(2)

    def t(*shape):
        return torch.randn(*shape, dtype=torch.double, generator=gen, requires_grad=True)

    x, y, a, b, w = t(6, 5), t(6, 4), t(3, 2, 5), t(3, 2, 4), t(6, 1)
    idx = torch.tensor([[0], [2], [1], [0], [2], [2]])
    assert torch.autograd.gradcheck(
        lambda *z: grouped_lora_add_(z[0] * 1.0, z[1], z[2], z[3], idx, z[4]), (y, x, a, b, w)
    )
    x3, y3, a3, b3 = t(2, 3, 5), t(2, 3, 4), t(2, 2, 5), t(2, 2, 4)
    assert torch.autograd.gradcheck(lambda *z: add_lora_(z[0] * 1.0, *z[1:]), (y3, x3, a3, b3))
    reference = torch.bmm(torch.bmm(x3, a3.transpose(1, 2)), b3)
    torch.testing.assert_close(lora_product(x3, a3, b3), reference, atol=1e-12, rtol=0)


def test_linears_sharing_a_token_decision_sort_it_once(monkeypatch):
    import octavius.plugins.experts.lora_experts as module

    calls = []
    plan = module.group_plan
    monkeypatch.setattr(module, "group_plan", lambda *a: calls.append(1) or plan(*a))
    banks = [_bank() for _ in range(3)]
    x = torch.randn(2, 5, D_IN)
    indices = torch.randint(0, 4, (2, 5, 1))
    decision = RoutingDecision(level="token", indices=indices, weights=torch.ones(2, 5, 1))
    outs = [bank(x, decision) for bank in banks]
    assert len(calls) == 1
    for bank, out in zip(banks, outs):
        reference = _expert_outputs(bank, x).gather(
            0, indices.permute(2, 0, 1)[..., None].expand(1, 2, 5, D_OUT)
        )[0]
        torch.testing.assert_close(out, reference, atol=1e-5, rtol=1e-5)


def test_dense_token_mode_equals_reference():
    bank = _bank()
    x = torch.randn(2, 5, D_IN)
    probs = torch.rand(2, 5, 4).softmax(-1)
    decision = RoutingDecision(
        level="token", indices=torch.arange(4).expand(2, 5, 4), weights=probs, mode="dense"
    )
    reference = torch.einsum("bne,ebnd->bnd", probs, _expert_outputs(bank, x))
    torch.testing.assert_close(bank(x, decision), reference, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("level", ["instance", "token"])
def test_unchosen_experts_get_no_gradient_in_a_sparse_step(level):
    bank = _bank()
    x = torch.randn(2, 5, D_IN)
    if level == "instance":
        indices = torch.tensor([[0, 2], [2, 0]])
    else:
        indices = torch.tensor([0, 2]).repeat(2, 5, 1)
        indices[1, 4] = torch.tensor([2, 0])
    weights = torch.full(indices.shape, 0.5)
    bank(
        x, RoutingDecision(level=level, indices=indices, weights=weights)
    ).square().sum().backward()
    for expert in (1, 3):
        assert torch.count_nonzero(bank.lora_A.grad[expert]) == 0
        assert torch.count_nonzero(bank.lora_B.grad[expert]) == 0
    for expert in (0, 2):
        assert torch.count_nonzero(bank.lora_A.grad[expert]) > 0
        assert torch.count_nonzero(bank.lora_B.grad[expert]) > 0


def test_delta_weight_reproduces_the_routed_forward():
    bank = _bank()
    x = torch.randn(1, 4, D_IN)
    indices, weights = torch.tensor([[3, 1]]), torch.tensor([[0.25, 0.75]])
    out = bank(x, RoutingDecision(level="instance", indices=indices, weights=weights))
    delta = bank.delta_weight(indices[0], weights[0])
    assert delta.shape == (D_OUT, D_IN)
    torch.testing.assert_close(x @ delta.T, out, atol=1e-5, rtol=1e-5)


def test_bad_configs_and_inputs_fail_clearly():
    with pytest.raises(ValueError, match="rank"):
        LoRAExperts(D_IN, D_OUT, rank=0)
    with pytest.raises(ValueError, match="dropout"):
        LoRAExperts(D_IN, D_OUT, dropout=1.5)
    with pytest.raises(TypeError, match="rnak"):
        LoRAExperts(D_IN, D_OUT, rnak=4)
    with pytest.raises(ValueError, match="needs a routing decision"):
        _bank(num_experts=2)(torch.randn(1, 2, D_IN), None)
