"""Load this exported LLM option and answer: python load.py "a question" "another"  (or import predict).

This file is copied as-is into every option exported from a decoder LLM (core/results/decoder_export.py) and runs
without adaptlab: transformers (and peft for an adapter), faiss and sentence-transformers for dense retrieval, bm25s
for BM25. It asks as adaptlab asked (adaptlab.json: the instruction, the shots, the layout, the context budget, k)
and answers as it answered: classification scores each label's words after the prompt and takes the most likely;
a question gets the greedy reply's first line. One prompt at a time, so nothing is padded.
"""
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# an exported option's settings, beside this file; in adaptlab's own source (no adaptlab.json there) the file only
# defines its functions, so importing it to check it does nothing
SETTINGS = json.loads((HERE / "adaptlab.json").read_text(encoding="utf-8")) if (HERE / "adaptlab.json").exists() else {}
PROMPT = SETTINGS.get("prompt", {})  # instruction, shots, layout, budgets (what adaptlab's PromptBuilder did)
RETRIEVAL = SETTINGS.get("retrieval")  # None: the option retrieves nothing


def load(base=None):
    """(tokenizer, model): the base with this folder's peft adapter, this folder's whole model, or the base alone."""
    base = base or SETTINGS["base_model"]
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # a bf16 run held a frozen base in bf16 and trained weights (full, scratch) in fp32, and ran both under bf16
    # autocast (computed(), below): the same here, or the answers drift. QLoRA's 4-bit base keeps its other weights
    # in fp32 (peft's prepare_model_for_kbit_training did so in the run)
    quantised = quantization() if SETTINGS.get("quantization") else {}
    bf16 = SETTINGS["precision"] == "bf16" and SETTINGS["weights"] != "model" and not quantised
    # no code from the folder runs, and weights load only from safetensors (pickled weights can run code)
    tokenizer = AutoTokenizer.from_pretrained(HERE, trust_remote_code=False)
    model = AutoModelForCausalLM.from_pretrained(HERE if SETTINGS["weights"] == "model" else base,
                                                 dtype=torch.bfloat16 if bf16 else torch.float32,
                                                 trust_remote_code=False, use_safetensors=True, **quantised)
    if SETTINGS["weights"] == "adapter":
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, HERE)
    return tokenizer, model.eval()


def quantization():
    """QLoRA: the base loaded in 4 bits as the run loaded it (adaptlab.json's quantization), on the first GPU."""
    import importlib.util

    import torch
    from transformers import BitsAndBytesConfig

    if not torch.cuda.is_available() or importlib.util.find_spec("bitsandbytes") is None:
        raise RuntimeError("this QLoRA option answers with its base model loaded in 4 bits by bitsandbytes, which "
                           "needs a CUDA GPU and the bitsandbytes package (pip install bitsandbytes); run it where "
                           "both are")
    return {"quantization_config": BitsAndBytesConfig(**SETTINGS["quantization"],
                                                      bnb_4bit_compute_dtype=torch.bfloat16),
            "device_map": {"": 0}}


def computed(device="cpu"):
    """bf16 autocast where the run computed in bf16 (adaptlab.json's precision), else plain fp32."""
    import torch

    return torch.autocast(device, dtype=torch.bfloat16, enabled=SETTINGS.get("precision") == "bf16")


# ---- retrieval: the top k passages of passages.jsonl for each question ----------------------------------------
def passages():
    with open(HERE / "passages.jsonl", encoding="utf-8") as lines:
        return [json.loads(line)["text"] for line in lines]


def embed(texts, using):
    """Unit-length mean-pooled embeddings of the retrieval encoder `using` names (adaptlab.json)."""
    import torch
    from sentence_transformers import SentenceTransformer

    encoder = SentenceTransformer(using["encoder"], device="cpu")
    encoder.max_seq_length = using["encoder_max_length"]
    with computed():  # pooled in the encoder's dtype, then made unit length in fp32, as adaptlab did
        pooled = encoder.encode([using["encoder_template"].format(text=t) for t in texts], convert_to_tensor=True)
    return torch.nn.functional.normalize(pooled.float(), dim=-1).numpy()


def dense_search(questions, k):
    """Cosine similarity of unit-length mean-pooled embeddings, in the FAISS index (index.faiss)."""
    import faiss

    index = faiss.read_index(str(HERE / "index.faiss"))
    _, found = index.search(embed(questions, RETRIEVAL), min(k, index.ntotal))
    return [[int(i) for i in row if i >= 0] for row in found]


def bm25_search(questions, k):
    """BM25 (bm25s's files in bm25/): lower case, English stopwords out, Snowball stems; no shared word, no hit."""
    import bm25s
    import Stemmer

    model = bm25s.BM25.load(str(HERE / "bm25"))
    tokens = bm25s.tokenize(questions, stopwords="en", stemmer=Stemmer.Stemmer("english"), show_progress=False)
    found, scores = model.retrieve(tokens, k=min(k, RETRIEVAL["passages"]), show_progress=False)
    return [[int(i) for i, score in zip(row, row_scores) if score > 0] for row, row_scores in zip(found, scores)]


def retrieve(questions, texts):
    """The top k passages per question; with a reranker, the first stage's top (width x k) rescored by it."""
    k, reranker = RETRIEVAL["k"], RETRIEVAL.get("reranker")
    if not reranker:
        return first_stage(questions, k)
    return rerank(questions, first_stage(questions, k * reranker["width"]), texts, k)


def rerank(questions, candidates, texts, k):
    """The cross-encoder in reranker/ scores each (question, passage); the k best stay (a tie: the first stage's
    order)."""
    from sentence_transformers import CrossEncoder

    model = CrossEncoder(str(HERE / RETRIEVAL["reranker"]["folder"]), device="cpu", local_files_only=True,
                         trust_remote_code=False)
    pairs = [(question, texts[i]) for question, row in zip(questions, candidates) for i in row]
    scores = iter(model.predict(pairs, show_progress_bar=False).tolist() if pairs else [])
    ranked = []
    for row in candidates:
        row_scores = [next(scores) for _ in row]
        ranked.append([row[j] for j in sorted(range(len(row)), key=lambda j: -row_scores[j])[:k]])
    return ranked


def first_stage(questions, k):
    kind = RETRIEVAL["kind"]
    if kind == "dense":
        return dense_search(questions, k)
    if kind == "bm25":
        return bm25_search(questions, k)
    depth, fused = k * RETRIEVAL["fusion_depth"], []  # hybrid: reciprocal rank fusion of both rankings
    for rankings in zip(dense_search(questions, depth), bm25_search(questions, depth)):
        scores = {}
        for ranking in rankings:
            for rank, passage in enumerate(ranking, start=1):
                scores[passage] = scores.get(passage, 0.0) + 1.0 / (RETRIEVAL["fusion_constant"] + rank)
        fused.append(sorted(scores, key=lambda p: -scores[p])[:k])
    return fused


def similar_shots(questions):
    """llm.shot_selection: similar. Each question's `count` nearest training examples (shots.faiss holds their
    questions' vectors, row i is shot_pool[i]), the nearest last, next to the question."""
    import faiss

    chosen, pool = SETTINGS["shot_selection"], [tuple(shot) for shot in PROMPT["shot_pool"]]
    if not questions or not pool:
        return [[] for _ in questions]
    index = faiss.read_index(str(HERE / "shots.faiss"))
    _, found = index.search(embed(questions, chosen), min(chosen["count"], len(pool)))
    return [[pool[i] for i in row[::-1] if i >= 0] for row in found]


# ---- the prompt --------------------------------------------------------------------------------------------------
def shorten(tokenizer, text, limit):
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return text if not limit or len(ids) <= limit else tokenizer.decode(ids[:limit])


def layout(tokenizer, question, shots, found, context):
    numbered = "\n".join(f"[{i + 1}] {passage}" for i, passage in enumerate(found))
    blocks = [PROMPT["passage_header"] + "\n" + numbered] if found else []
    blocks += [context] if context else []
    if not PROMPT["chat"]:
        shown = "".join(f"Question: {q}\nAnswer: {a}\n\n" for q, a in shots)
        return PROMPT["instruction"] + "\n\n" + shown + "\n\n".join(blocks + ["Question: " + question]) + "\nAnswer:"
    messages = [{"role": "system", "content": PROMPT["instruction"]}]
    for shot, answer in shots:
        messages += [{"role": "user", "content": shot}, {"role": "assistant", "content": answer}]
    messages.append({"role": "user", "content": "\n\n".join(blocks + [question])})
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def render(tokenizer, question, found=(), context="", shots=None):
    """The prompt, cut to the budget as adaptlab cut it: passages from the least relevant end, then the oldest shots,
    then the question's start. shots: this question's own (similar shots); None: the fixed ones."""
    def length(text):
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    shots = [tuple(shot) for shot in (PROMPT["shots"] if shots is None else shots)]
    found = list(found)
    text = layout(tokenizer, question, shots, found, context)
    while length(text) > PROMPT["budget"] and (found or shots):
        found.pop() if found else shots.pop(0)
        text = layout(tokenizer, question, shots, found, context)
    while length(text) > PROMPT["budget"] and len(question) > 16:
        question = question[len(question) // 4:]
        text = layout(tokenizer, question, shots, found, context)
    return text


def prompts(tokenizer, questions, contexts=None):
    questions = [shorten(tokenizer, q, PROMPT["max_input_tokens"]) for q in questions]
    texts = passages() if RETRIEVAL else []
    found = retrieve(questions, texts) if RETRIEVAL else [[] for _ in questions]
    shown = similar_shots(questions) if "shot_selection" in SETTINGS else [None] * len(questions)
    return [render(tokenizer, q, [texts[i] for i in row], c or "", shots)
            for q, row, c, shots in zip(questions, found, contexts or [""] * len(questions), shown)]


# ---- answering ---------------------------------------------------------------------------------------------------
def label_scores(tokenizer, model, prompt):
    """log P(label | prompt), summed over each label's tokens."""
    import torch

    start = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    scores = []
    for label in SETTINGS["labels"]:
        words = tokenizer(label, add_special_tokens=False)["input_ids"]
        logits = model(input_ids=torch.tensor([start + words], device=model.device)).logits[0, len(start) - 1:-1]
        scores.append(torch.log_softmax(logits.float().cpu(), -1).gather(1, torch.tensor(words)[:, None]).sum().item())
    return scores


def reply(tokenizer, model, prompt):
    """The greedy reply, up to max_new_tokens, stopped at the end of the turn; its first line."""
    import torch

    ids = torch.tensor([tokenizer(prompt, add_special_tokens=False)["input_ids"]], device=model.device)
    stops = SETTINGS["generation"]["stop_token_ids"]
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False, eos_token_id=stops,
                         max_new_tokens=SETTINGS["generation"]["max_new_tokens"], pad_token_id=tokenizer.pad_token_id)
    tokens = out[0, ids.shape[1]:].tolist()
    ended = [i for i, token in enumerate(tokens) if token in stops]
    text = tokenizer.decode(tokens[:ended[0]] if ended else tokens, skip_special_tokens=True)
    return text.strip().split("\n")[0].strip()


def predict(questions, contexts=None):
    """Classification: the label each text gets; QA: each question's answer."""
    import torch

    tokenizer, model = load()
    with torch.inference_mode(), computed(model.device.type):
        rendered = prompts(tokenizer, list(questions), contexts)
        if SETTINGS["kind"] == "classification":
            return [SETTINGS["labels"][max(range(len(s)), key=s.__getitem__)]
                    for s in (label_scores(tokenizer, model, p) for p in rendered)]
        return [reply(tokenizer, model, p) for p in rendered]


if __name__ == "__main__":
    print(json.dumps(predict(sys.argv[1:])))
