"""The example plugin, installed for real, adds a router that configs name by type."""

from __future__ import annotations

from pathlib import Path

from .plugin_dists import pip_install_target, run_python

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "octavius-plugin-example"

FORWARD = """
import torch
from mmengine.config import Config
from transformers import LlamaConfig, LlamaForCausalLM
from octavius.adapters import RoutingContext, inject_adapters, use_routing_context
from octavius.plugin_manager import component_origin
from octavius.registry import ROUTERS

cfg = Config(dict(adapters=dict(rules=[dict(
    targets=["q_proj", "v_proj"],
    experts=dict(type="LoRAExperts", num_experts=4, rank=4),
    router=dict(type="CosineRouter", top_k=2, proj_dim=8),
    sharing="module",
)])))
torch.manual_seed(0)
llm = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64,
    num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4))
report = inject_adapters(llm, cfg.adapters.to_dict())
with torch.no_grad():  # B starts at zero, which would hide the router's gradient
    for m in llm.modules():
        if type(m).__name__ == "LoRAExperts":
            m.lora_B.normal_(std=0.1)
ids = torch.randint(0, 64, (2, 7))
mask = torch.ones_like(ids)
with use_routing_context(RoutingContext(attention_mask=mask)):
    out = llm(input_ids=ids, attention_mask=mask, labels=ids)
out.loss.backward()
router = next(m for m in llm.modules() if type(m).__name__ == "CosineRouter")
print("origin", component_origin("ROUTERS", "CosineRouter", ROUTERS.get("CosineRouter")))
print("routers", sum(type(m).__name__ == "CosineRouter" for m in llm.modules()))
print("finite", bool(torch.isfinite(out.loss)))
print("router_grad", router.proj.weight.grad is not None and bool(router.proj.weight.grad.abs().sum() > 0))
"""


def test_example_plugin_installs_and_its_router_runs(tmp_path):
    target = tmp_path / "site"
    pip_install_target(EXAMPLE, target)
    assert (target / "octavius_plugin_example" / "cosine_router.py").is_file()
    out = run_python(FORWARD, target, tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "origin plugin octavius-plugin-example" in lines
    assert "routers 4" in lines  # q and v of two layers, one router each
    assert "finite True" in lines
    assert "router_grad True" in lines


def test_example_plugin_is_not_loaded_when_autoload_is_off(tmp_path):
    target = tmp_path / "site"
    pip_install_target(EXAMPLE, target)
    out = run_python(
        "from octavius.registry import ROUTERS; print('CosineRouter' in ROUTERS.module_dict or "
        "(ROUTERS.import_from_location() or 'CosineRouter' in ROUTERS.module_dict))",
        target,
        tmp_path,
        OCTAVIUS_DISABLE_PLUGIN_AUTOLOAD="1",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
