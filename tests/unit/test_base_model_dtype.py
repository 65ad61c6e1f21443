"""The voice model's weight precision (`dtype` in the brand's voice.yml)."""

from __future__ import annotations

import pytest
import torch

from adapters.base_model import BaseModelError, torch_dtype


def test_auto_is_float32_on_a_cpu_and_bfloat16_on_a_gpu():
    assert torch_dtype("auto", "cpu") is torch.float32
    assert torch_dtype("auto", "cuda:0") is torch.bfloat16
    assert torch_dtype("bfloat16", "cpu") is torch.bfloat16


def test_an_unknown_dtype_names_the_choices():
    with pytest.raises(BaseModelError, match="auto, float32, bfloat16"):
        torch_dtype("int4", "cpu")
