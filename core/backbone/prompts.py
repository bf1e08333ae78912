"""Prompts for a decoder: an instruction, optional examples (shots), optional passages, then the question.

With a chat template (instruct models) the instruction is the system turn, each shot a user/assistant
pair and the passages open the last user turn; without one, a plain "Question: / Answer:" layout is
used and the run records that it was. A prompt that does not fit the context loses passages from the
least relevant end first, then shots from the oldest, then the question's start: the run counts how
many prompts were cut.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CLASSIFY_INSTRUCTION = ("Classify the text. Answer with exactly one of these labels and nothing else: {labels}.")
QA_INSTRUCTION = "Answer the question with a short answer: a name, a word or a code, not a sentence."
ABSTAIN_CLAUSE = " If you do not know the answer, answer: I don't know."
ABSTAIN_WITH_PASSAGES = " If the answer is not in the passages and you do not know it, answer: I don't know."
PASSAGE_HEADER = "Passages:"


@dataclass
class PromptParts:
    instruction: str
    question: str
    shots: list[tuple[str, str]] = field(default_factory=list)  # (input, answer) pairs shown before the question
    passages: list[str] = field(default_factory=list)  # most relevant first
    context: str = ""  # a passage that comes with the question itself (reading comprehension)


def user_turn(question: str, passages: list[str], context: str) -> str:
    blocks = []
    if passages:
        blocks.append(PASSAGE_HEADER + "\n" + "\n".join(f"[{i + 1}] {p}" for i, p in enumerate(passages)))
    if context:
        blocks.append(context)
    blocks.append(question)
    return "\n\n".join(blocks)


def shorten(tokenizer, texts: list[str], limit: int) -> list[str]:
    """Texts cut to `limit` tokens (the config's model.max_length), as an encoder truncates its inputs; 0 keeps all."""
    if not limit or not texts:
        return list(texts)
    ids = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    return [text if len(row) <= limit else tokenizer.decode(row[:limit]) for text, row in zip(texts, ids)]


class PromptBuilder:
    """Renders PromptParts with the tokenizer's chat template (or the plain layout), cut to `budget` tokens."""

    def __init__(self, tokenizer, budget: int):
        self.tokenizer = tokenizer
        self.budget = budget  # prompt tokens allowed: the context minus the longest answer expected
        self.chat = bool(getattr(tokenizer, "chat_template", None))
        self.cut = 0  # prompts that had to lose passages, shots or question text to fit

    def render(self, parts: PromptParts) -> str:
        text = self._render(parts)
        if self.length(text) <= self.budget:
            return text
        self.cut += 1
        parts = PromptParts(parts.instruction, parts.question, list(parts.shots), list(parts.passages), parts.context)
        while self.length(text) > self.budget and (parts.passages or parts.shots):
            if parts.passages:
                parts.passages.pop()  # least relevant last
            else:
                parts.shots.pop(0)
            text = self._render(parts)
        while self.length(text) > self.budget and len(parts.question) > 16:  # then the question's start
            parts.question = parts.question[len(parts.question) // 4:]
            text = self._render(parts)
        return text

    def length(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _render(self, parts: PromptParts) -> str:
        if not self.chat:
            shots = "".join(f"Question: {q}\nAnswer: {a}\n\n" for q, a in parts.shots)
            return (f"{parts.instruction}\n\n{shots}"
                    f"{user_turn('Question: ' + parts.question, parts.passages, parts.context)}\nAnswer:")
        messages = [{"role": "system", "content": parts.instruction}]
        for question, answer in parts.shots:
            messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        messages.append({"role": "user", "content": user_turn(parts.question, parts.passages, parts.context)})
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def answer_suffix(self) -> str:
        """What follows an answer in training text, so the model learns to stop (the end of its turn)."""
        return self.tokenizer.eos_token or ""
