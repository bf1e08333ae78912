"""Tokenizer coverage: familiar English reads as covered; symbols the model never saw do not."""

import pytest

from core.task.coverage import load_tokenizer, tokenizer_coverage


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("default")


def test_english_is_covered(tokenizer):
    report = tokenizer_coverage(["The invoice was paid twice this month.", "Please reset my password."], tokenizer)
    assert report["unknown_rate"] == 0 and report["texts_with_unknown"] == 0
    assert 1 <= report["pieces_per_word"] < 2 and "covers this text well" in report["verdict"]


def test_unseen_symbols_show_up_as_unknown_tokens_with_the_words_named(tokenizer):
    texts = ["(◕‿◕✿) hello", "ʕ•ᴥ•ʔ ʕ•ᴥ•ʔ", "(╯°□°)╯︵ ┻━┻"]
    report = tokenizer_coverage(texts, tokenizer, max_length=4)
    assert report["unknown_rate"] > 0.1 and report["texts_with_unknown"] == 1.0
    assert report["unknown_words"][0] == ("ʕ•ᴥ•ʔ", 2)
    assert "far from what the model was trained on" in report["verdict"]
    assert report["truncated"] > 0


def test_no_text_is_a_message_not_a_crash(tokenizer):
    assert tokenizer_coverage([], tokenizer)["verdict"] == "no text to check"


def test_test_texts_that_tokenise_like_another_labels_text_are_counted():
    import pandas as pd

    from core.task.coverage import token_collisions
    from core.task.data import Task

    class Letters:  # a tokenizer that knows a-z only: every other character is one unknown token, 0
        def __call__(self, texts, add_special_tokens=False, truncation=False, max_length=None):
            ids = [[ord(c) if "a" <= c <= "z" else 0 for c in text] for text in texts]
            return {"input_ids": [row[:max_length] if truncation else row for row in ids]}

    frame = lambda rows: pd.DataFrame(rows, columns=["text", "label"])  # noqa: E731
    task = Task(name="t", train=frame([("a☺", "happy"), ("b☹", "sad")]), validation=frame([("c!", "sad")]),
                test=frame([("a☹", "sad"), ("b☺", "sad"), ("c?", "sad")]))
    out = token_collisions(task, Letters())
    # "a☹" reads as "a?" like the happy "a☺"; "b☺" reads like the sad "b☹" (same label: no collision); "c?" like "c!"
    assert out["colliding"] == 1 and out["test_texts"] == 3
    assert out["examples"] == [{"text": "a☹", "label": "sad", "others": ["happy"]}]
    # cut to what a model of max_length 1 reads, the same one text collides
    assert token_collisions(task, Letters(), max_length=1)["colliding"] == 1


def test_kaomoji_collisions_through_the_default_tokenizer():
    from core.config import TaskSpec
    from core.task.coverage import load_tokenizer, tokenizer_report
    from core.task.load import load_task

    report = tokenizer_report(load_task(TaskSpec(builtin="kaomoji")), load_tokenizer("default"))
    assert report["unknown_rate"] > 0.2 and report["collisions"]["colliding"] == 60
