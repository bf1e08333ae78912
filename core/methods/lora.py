"""LoRA (peft): low-rank adapters on the attention projections; the classification head trains too.

Target modules come from the architecture profile unless `lora.target_modules` names them. Only the
adapter and head are stored (peft's own safetensors format), which is what makes N task variants cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from core.errors import ModelLoadError
from core.methods.base import FitContext, MethodSpec
from core.schema import Strict

if TYPE_CHECKING:
    from core.backbone.models import BaseModel
    from core.methods.decoder.predictors import DecoderPredictor
    from core.training.loop import TrainedClassifier

ADAPTER_WEIGHTS = "adapter_model.safetensors"


class LoraSettings(Strict):
    """The `lora:` section of a config (QLoRA and RAG + LoRA read it too)."""

    r: int = Field(8, ge=1, le=1024)
    alpha: int = Field(16, ge=1)
    dropout: float = Field(0.1, ge=0, lt=1)
    target_modules: list[str] | None = None  # None = the architecture's default (core/backbone/architectures.py)


def fit(ctx: FitContext) -> TrainedClassifier:
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import set_seed

    from core.training.loop import train_classifier

    settings = ctx.config.lora
    set_seed(ctx.seed)  # the head's and the adapters' initial weights
    model = ctx.base.classifier(len(ctx.labels), pretrained=True)
    targets = settings.target_modules or list(ctx.base.profile.lora_targets)
    # TaskType.SEQ_CLS makes peft keep the classification head trainable and save it with the adapter
    rank, alpha = ctx.lora_rank_and_alpha()
    lora = LoraConfig(task_type=TaskType.SEQ_CLS, r=rank, lora_alpha=alpha, lora_dropout=settings.dropout,
                      target_modules=targets)
    model = get_peft_model(model, lora)
    classifier = train_classifier(model, ctx, ctx.learning_rate("lora"))
    classifier.details.update(lora_r=rank, lora_alpha=alpha, target_modules=targets)
    return classifier


def fit_decoder(ctx: FitContext) -> DecoderPredictor:
    """On an LLM: supervised fine-tuning of LoRA adapters on every linear projection (answer tokens only)."""
    from transformers import set_seed

    from core.methods.decoder.fits import frozen_dtype, supervised, with_lora

    set_seed(ctx.seed)
    return supervised(ctx, with_lora(ctx, ctx.base.causal_lm(dtype=frozen_dtype(ctx))), "lora")


def load_adapter(base: BaseModel, folder: str | Path, num_labels: int, batch_size: int = 64) -> TrainedClassifier:
    """A stored LoRA adapter (a run kept with keep_artifacts) on its base model, ready to predict.

    Like a base model, the folder must lie inside the model roots, and only safetensors weights load:
    an adapter saved as adapter_model.bin (a pickle, which can run code) is refused in words.
    """
    from peft import PeftModel

    from core.backbone.models import allowed_folder
    from core.training.loop import TrainedClassifier

    folder = allowed_folder(str(folder), Path(folder).expanduser())
    if not (folder / ADAPTER_WEIGHTS).is_file():
        pickled = sorted(path.name for path in folder.glob("*.bin"))
        found = f" (it has {', '.join(pickled)}: pickled weights, which can run code when loaded)" if pickled else ""
        raise ModelLoadError(f"{folder} has no {ADAPTER_WEIGHTS}{found}; adaptlab loads LoRA adapters only from "
                             "safetensors. Save the adapter with safe_serialization=True")
    model = PeftModel.from_pretrained(base.classifier(num_labels, pretrained=True), folder, is_trainable=False)
    model.to(base.device).eval()
    parameters = sum(p.numel() for p in model.parameters())
    return TrainedClassifier(model, base.tokenizer, base.device, base.max_length, batch_size, base.autocast_dtype,
                             0, parameters, {"adapter": str(folder)})


SPEC = MethodSpec("lora", "LoRA adapter", colour="#1F77B4", fits={"encoder": fit, "decoder": fit_decoder},
                  learning_rates={"encoder": 2e-3, "decoder": 1e-3}, task_kinds=("classification", "qa"),
                  trains_network=True, early_stops=True, changes_base_weights=True,
                  shares_base_model=True, default_on=("encoder", "decoder"), settings=LoraSettings,
                  search={"learning_rate_x": (0.5, 1.0, 2.0), "rank_x": (0.5, 1.0, 2.0)})
