"""MixLoRA E = 32, r = 4 with task-specific routing (Table 2, "Task"; appendix A, eq. 10).

The IFS routers read the frozen LLM's mean embedding of the sample's task definition instead of
the layer input; two heads choose A's and B's factors. One router serves every layer, so samples
of a task get the same factors everywhere, the paper's setting.
"""

from mmengine.config import read_base

with read_base():
    from .mixlora_e32_r4 import *

model.adapters = dict(
    name="mixlora",
    targets=r"(.*\.)?layers\.\d+\..+",
    experts=dict(type="LoRAFactorPool", num_factors=32, rank=4, dropout=0.05),
    router=dict(type="TaskEmbeddingRouter", top_k=4, separate_b=True),
    sharing="global",
)
