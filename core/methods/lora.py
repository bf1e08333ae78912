"""LoRA (peft): low-rank adapters on the attention projections; the classification head trains too.

Target modules come from the architecture profile unless `lora.target_modules` names them. Only the
adapter and head are stored (peft's own safetensors format), which is what makes N task variants cheap.
"""

from __future__ import annotations

from peft import LoraConfig, TaskType, get_peft_model
from transformers import set_seed

from core.methods.base import FitContext, MethodSpec
from core.training import TrainedClassifier, train_classifier


def fit(ctx: FitContext) -> TrainedClassifier:
    settings = ctx.config.lora
    set_seed(ctx.seed)  # the head's and the adapters' initial weights
    model = ctx.base.classifier(len(ctx.labels), pretrained=True)
    targets = settings.target_modules or list(ctx.base.profile.lora_targets)
    # TaskType.SEQ_CLS makes peft keep the classification head trainable and save it with the adapter
    lora = LoraConfig(task_type=TaskType.SEQ_CLS, r=settings.r, lora_alpha=settings.alpha,
                      lora_dropout=settings.dropout, target_modules=targets)
    model = get_peft_model(model, lora)
    classifier = train_classifier(model, ctx, ctx.config.training.learning_rates.get("lora", 1e-3))
    classifier.details.update(lora_r=settings.r, lora_alpha=settings.alpha, target_modules=targets)
    return classifier


SPEC = MethodSpec("lora", "LoRA adapter", fit, trains_network=True)
