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
