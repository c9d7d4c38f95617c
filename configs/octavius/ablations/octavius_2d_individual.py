"""Table 4 "Individual": a dedicated LoRA per task, chosen by the sample's task id, no learnt gate.

One expert per task type of the data pipeline (caption, classification, conversation,
detection, vqa: task t → expert t). The paper's 2.4% trainable parameters suggest six LoRAs over
its own task split, which it does not list.
"""

from mmengine.config import read_base

with read_base():
    from ...octavius_2d import *

model.adapters.experts.num_experts = 5
model.adapters.router.mode = "individual"
