"""LLaVA-MoLE (eq. 3–8): token top-1 LoRA experts on the MLPs, plain LoRA on attention.

Two rules. ``mlp``: gate/up/down of every decoder MLP get rank-32 LoRA experts, routed per token
to the top-1 expert by one router per MLP block (the block input is what the router reads), with
the Switch-style balancing loss at α = 1e-2. ``attention``: q/k/v/o get one rank-32 LoRA without
router. α = 2r and dropout 0.05 are LLaVA-1.5's LoRA settings (the paper gives the rank only).
"""

adapters = dict(
    rules=dict(
        mlp=dict(
            targets=r".*\.mlp\.(gate_proj|up_proj|down_proj|c_fc|c_proj)",
            experts=dict(type="LoRAExperts", num_experts=3, rank=32, alpha=64.0, dropout=0.05),
            router=dict(type="TokenRouter", top_k=1, balance_loss_weight=1e-2),
            sharing="block",
        ),
        attention=dict(
            targets=r".*\.(self_attn|attn)\.(q_proj|k_proj|v_proj|o_proj|c_attn|c_proj)",
            experts=dict(type="LoRAExperts", num_experts=1, rank=32, alpha=64.0, dropout=0.05),
            router=None,
        ),
    )
)
