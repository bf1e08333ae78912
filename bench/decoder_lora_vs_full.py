"""LoRA against full fine-tuning on a ~1B-parameter decoder built from a config (random weights).

    python bench/decoder_lora_vs_full.py                       # ~1.1B Llama-shaped decoder: for a GPU
    python bench/decoder_lora_vs_full.py --layers 2 --hidden 256 --steps 3    # a smoke run on a CPU

Memory and speed do not need pretrained weights, so the model is built from a config. Same batch and
sequence length for both; peak memory (CUDA allocator peak, or process RSS on a CPU) and median step
time. Goal: LoRA at most 0.55x the memory and 0.5x the step time of full fine-tuning.
"""

from __future__ import annotations

import argparse
import gc
import statistics

from common import save, timed


def measure(kind: str, args) -> dict:
    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import LlamaConfig, LlamaForSequenceClassification

    from core.evaluation.measure import track_peak_memory

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    config = LlamaConfig(hidden_size=args.hidden, intermediate_size=int(args.hidden * 2.75),
                         num_hidden_layers=args.layers,
                         num_attention_heads=max(1, args.hidden // 64), num_key_value_heads=max(1, args.hidden // 256),
                         vocab_size=32000, num_labels=4, pad_token_id=0)
    torch.manual_seed(0)
    with track_peak_memory(device) as peak:
        model = LlamaForSequenceClassification(config).to(device)
        total = sum(p.numel() for p in model.parameters())
        if kind == "lora":
            model = get_peft_model(model, LoraConfig(task_type=TaskType.SEQ_CLS, r=16, lora_alpha=32,
                                                     target_modules=["q_proj", "v_proj"]))
        if device.type == "cuda":
            model.gradient_checkpointing_enable() if args.checkpointing else None
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4,
                                      fused=device.type == "cuda")
        ids = torch.randint(1, 32000, (args.batch, args.length), device=device)
        labels = torch.randint(0, 4, (args.batch,), device=device)
        times = []
        for _ in range(args.steps + 1):  # the first step pays allocation and kernel selection
            with timed() as t:
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                    loss = model(input_ids=ids, labels=labels).loss
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            times.append(t())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    del model, optimizer
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return {"parameters": total, "trainable": trainable, "peak_memory_mb": peak.megabytes,
            "memory_kind": peak.kind, "median_step_seconds": statistics.median(times[1:])}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--layers", type=int, default=22)
    parser.add_argument("--hidden", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--length", type=int, default=512)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--checkpointing", action="store_true")
    args = parser.parse_args()
    full = measure("full", args)
    lora = measure("lora", args)
    save("decoder_lora_vs_full",
         f"python bench/decoder_lora_vs_full.py --layers {args.layers} --hidden {args.hidden} --batch {args.batch} "
         f"--length {args.length} --steps {args.steps}",
         "LoRA <= 0.55x the peak memory and <= 0.5x the step time of full fine-tuning",
         {"full": full, "lora": lora, "memory_ratio": lora["peak_memory_mb"] / full["peak_memory_mb"],
          "step_time_ratio": lora["median_step_seconds"] / full["median_step_seconds"]},
         notes="Llama-shaped decoder from a config with random weights; AdamW; bf16 autocast on CUDA; LoRA r=16 on "
               "q_proj and v_proj; median of the steps after the first")


if __name__ == "__main__":
    main()
