"""LoRA, r = 16 on the seen tasks (MixLoRA Table 3): the Table 1 model tested on six seen tasks."""

from mmengine.config import read_base

with read_base():
    from .._base_.datasets.vision_flan_seen_tasks import *
    from .lora_r16 import *

test_dataloader = _seen_test_dataloader
test_evaluator = _seen_test_evaluator
