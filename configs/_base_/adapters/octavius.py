"""Octavius LoRA-MoE (eq. 3): LoRA experts on q/k/v/o, one global instance gate, sparse top-2.

One rule: every attention projection of the decoder gets ``num_experts`` rank-32 LoRA experts;
one instance-based gate for the whole model picks the top-2 from the question ``z^qu`` once per
sample. α = r and dropout 0.1 follow LAMM's LoRA settings (the paper gives the rank only).
GPT-2's fused ``c_attn``/``c_proj`` match too, so the rule adapts any causal LM.
"""

adapters = dict(
    name="attention",
    targets=r".*\.(self_attn|attn)\.(q_proj|k_proj|v_proj|o_proj|c_attn|c_proj)",
    experts=dict(type="LoRAExperts", num_experts=4, rank=32, alpha=32.0, dropout=0.1),
    router=dict(type="InstanceRouter", top_k=2, mode="sparse"),
    sharing="global",
)
