"""LoRA_Specialist, r = 4 (MixLoRA Table 3): a LoRA trained on one seen task alone and tested on
that task; one run per seen task, chosen by ``specialist_task``.

The training file holds that task's Vision-Flan instances (split the annotation by task name).
"""

from mmengine.config import read_base

with read_base():
    from .lora_r4_seen_tasks import *

specialist_task = "scienceqa"  # scienceqa, coco, fairface, inaturalist, st_vqa or pacs
train_dataloader.dataset.update(ann_file=f"specialist/{specialist_task}.json", name=specialist_task)
test_dataloader.dataset.datasets = [
    d for d in test_dataloader.dataset.datasets if d["name"] == specialist_task
]
