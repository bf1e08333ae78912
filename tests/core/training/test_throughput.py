"""Training throughput and MFU arithmetic (core/training/throughput.py)."""

from types import SimpleNamespace

import pytest
import torch

from core.training.throughput import PEAK_BF16, flops_per_token, non_embedding_parameters, peak_flops, throughput


def test_flops_per_token_is_six_per_parameter_plus_the_attention_term():
    assert flops_per_token(1_000, 2, 10, 5) == 6_000 + 12 * 2 * 10 * 5
    assert flops_per_token(1_000, 0, 0, 5) == 6_000  # no attention layers: the matmuls only


def test_the_peak_rate_is_the_longest_listed_name_in_the_gpu_name():
    cuda = torch.device("cuda")
    assert peak_flops(cuda, "NVIDIA H100 80GB HBM3") == 989e12
    assert peak_flops(cuda, "NVIDIA H100 PCIe") == 756e12  # not the SXM card's rate
    assert peak_flops(cuda, "NVIDIA L40S") == PEAK_BF16["L40S"] != PEAK_BF16["L4"]
    assert peak_flops(cuda, "NVIDIA A100-SXM4-80GB") == PEAK_BF16["A100"] != PEAK_BF16["A10"]
    assert peak_flops(cuda, "nvidia h200") == 989e12  # case does not matter
    assert peak_flops(cuda, "Tesla T4") is None  # unlisted: no MFU rather than a wrong one
    assert peak_flops(torch.device("cpu"), "") is None and peak_flops(torch.device("cpu"), "H100") is None


def test_embedding_weights_are_not_counted_even_when_tied():
    model = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Linear(4, 3))
    assert non_embedding_parameters(model) == 4 * 3 + 3
    head = torch.nn.Linear(4, 10, bias=False)
    tied = torch.nn.ModuleDict({"embed": torch.nn.Embedding(10, 4), "head": head})
    head.weight = tied["embed"].weight  # an output layer sharing the input embedding
    assert non_embedding_parameters(tied) == 0


def _base(device: str, layers: int = 2, hidden: int = 4):
    return SimpleNamespace(config=SimpleNamespace(num_hidden_layers=layers, hidden_size=hidden),
                           device=torch.device(device))


def test_throughput_counts_real_tokens_per_second_and_flops_on_padded_ones():
    model = torch.nn.Linear(4, 3)  # 15 parameters, none of them embeddings
    figures = throughput(model, _base("cpu"), tokens=100, padded_tokens=160, sequences=10, seconds=2.0)
    per_token = 6 * 15 + 12 * 2 * 4 * 16  # mean padded length 160 / 10
    assert figures["flops_per_token"] == per_token
    assert figures["tokens_per_second"] == 50 and figures["padded_tokens_per_second"] == 80
    assert figures["train_flops"] == per_token * 160
    assert figures["achieved_tflops"] == pytest.approx(per_token * 160 / 2 / 1e12)
    assert figures["mfu"] is None  # no known peak rate for a CPU


def test_mfu_is_the_achieved_rate_over_the_gpus_peak(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100 PCIe")
    figures = throughput(torch.nn.Linear(4, 3), _base("cuda"), tokens=100, padded_tokens=160, sequences=10,
                         seconds=2.0)
    assert figures["mfu"] == pytest.approx(figures["achieved_tflops"] * 1e12 / 756e12)


@pytest.mark.parametrize("tokens, sequences, seconds", [(0, 10, 2.0), (100, 0, 2.0), (100, 10, 0.0)])
def test_nothing_trained_or_no_time_measured_gives_no_figures(tokens, sequences, seconds):
    figures = throughput(torch.nn.Linear(4, 3), _base("cpu"), tokens, 160, sequences, seconds)
    assert figures == {"tokens_per_second": None, "mfu": None}
