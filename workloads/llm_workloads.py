"""LLM workload entries: the presets of ``builtin.yaml`` and decoder specs typed by a user.

Pure parsing: YAML data or a spec string in, ``DecoderEntry`` out (the registry turns an entry
into a Workload). A spec names a preset and overrides fields, e.g.
``decoder:preset=llama_125m,layers=4,precision=int4,prompt=128,gen=32``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from npubench.errors import ConfigError, WorkloadError
from npubench.workloads.llm_config import (
    DEFAULT_GEN_TOKENS,
    DEFAULT_PROMPT_TOKENS,
    LLM_PRECISIONS,
    DecoderConfig,
)

SPEC_PREFIX = "decoder:"
_PRESET_FIELDS = {"description", "config", "prompt_tokens", "gen_tokens", "seed", "precisions",
                  "reference", "published_params"}
_SPEC_ALIASES = {"prompt": "prompt_tokens", "gen": "gen_tokens", "kv": "kv_heads",
                 "ffn": "intermediate"}


@dataclass(frozen=True)
class DecoderEntry:
    name: str
    preset: str | None
    description: str
    config: DecoderConfig
    precision: str
    prompt_tokens: int = DEFAULT_PROMPT_TOKENS
    gen_tokens: int = DEFAULT_GEN_TOKENS
    seed: int = 0
    reference: str = ""
    """Where the preset's shape comes from (the published config it copies)."""


def parse_presets(presets: Any, precisions: Any, where: str) -> dict[str, dict[str, Any]]:
    """``llm_presets`` and ``llm_precisions`` of a registry document, validated: preset name ->
    {config: DecoderConfig, description, prompt_tokens, gen_tokens, seed, precisions,
    reference, published_params}. A preset's own ``precisions`` list replaces
    ``llm_precisions`` for it (a 13B has no fp16 form that fits a phone or this host);
    ``published_params`` is the parameter count its source publishes, for the tests."""
    if presets is None:
        return {}
    if not isinstance(presets, dict):
        raise ConfigError(f"{where}: 'llm_presets' must map preset names to mappings")
    precisions = _precisions(precisions or LLM_PRECISIONS, f"{where}: llm_precisions")
    out: dict[str, dict[str, Any]] = {}
    for name, value in presets.items():
        at = f"{where}: llm_presets.{name}"
        if not isinstance(value, dict) or "config" not in value:
            raise ConfigError(f"{at}: expected a mapping with 'config'")
        extra = set(value) - _PRESET_FIELDS
        if extra:
            raise ConfigError(f"{at}: unknown field(s) {', '.join(sorted(extra))}")
        try:
            config = DecoderConfig.from_mapping(dict(value["config"] or {}), at)
        except WorkloadError as exc:
            raise ConfigError(str(exc), hint=exc.hint) from None
        out[name] = {"config": config, "description": str(value.get("description", "")),
                     "prompt_tokens": _positive(value, "prompt_tokens", DEFAULT_PROMPT_TOKENS, at),
                     "gen_tokens": _positive(value, "gen_tokens", DEFAULT_GEN_TOKENS, at),
                     "seed": int(value.get("seed", 0)),
                     "precisions": _precisions(value["precisions"], f"{at}.precisions")
                     if "precisions" in value else precisions,
                     "reference": str(value.get("reference", "")),
                     "published_params": value.get("published_params")}
    return out


def _precisions(values: Any, where: str) -> list[str]:
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{where}: expected a list of precisions",
                          hint="valid: " + ", ".join(LLM_PRECISIONS))
    unknown = [p for p in values if p not in LLM_PRECISIONS]
    if unknown:
        raise ConfigError(f"{where}: unknown LLM precision(s) {', '.join(map(str, unknown))}",
                          hint="valid: " + ", ".join(LLM_PRECISIONS))
    return list(values)


def preset_entries(presets: Mapping[str, dict[str, Any]]) -> list[DecoderEntry]:
    """One entry per (preset, precision), named ``PRESET_PRECISION``."""
    return [DecoderEntry(f"{name}_{precision}", name, p["description"], p["config"], precision,
                         p["prompt_tokens"], p["gen_tokens"], p["seed"], p["reference"])
            for name, p in presets.items() for precision in p["precisions"]]


def is_decoder_spec(text: str) -> bool:
    return text.startswith(SPEC_PREFIX)


def parse_decoder_spec(text: str, presets: Mapping[str, dict[str, Any]]) -> DecoderEntry:
    """``decoder:preset=NAME,FIELD=VALUE,...``: a preset (default the smallest) with fields
    overridden. A configuration that cannot be built is a WorkloadError saying which rule it
    breaks."""
    body = text[len(SPEC_PREFIX):]
    values: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in body.split(","))):
        key, sep, value = part.partition("=")
        key = _SPEC_ALIASES.get(key.strip(), key.strip())
        if not sep or not key:
            raise WorkloadError(f"{text!r}: {part!r} is not KEY=VALUE",
                                hint="e.g. decoder:preset=llama_125m,layers=4,precision=int4")
        values[key] = value.strip()
    preset_name = values.pop("preset", None) or (min(presets, key=lambda n: presets[n][
        "config"].param_count()) if presets else None)
    if preset_name not in presets:
        raise WorkloadError(f"{text!r}: unknown preset {preset_name!r}",
                            hint="presets: " + ", ".join(presets))
    preset = presets[preset_name]
    precision = values.pop("precision", "fp32")
    if precision not in LLM_PRECISIONS:
        raise WorkloadError(f"{text!r}: unknown precision {precision!r}",
                            hint="valid: " + ", ".join(LLM_PRECISIONS))
    tokens = {k: _int(values.pop(k), k, text) for k in ("prompt_tokens", "gen_tokens", "seed")
              if k in values}
    config_fields = {f.name for f in fields(DecoderConfig)}
    unknown = set(values) - config_fields
    if unknown:
        raise WorkloadError(f"{text!r}: unknown field(s) {', '.join(sorted(unknown))}",
                            hint="fields: preset, precision, prompt, gen, seed, "
                                 + ", ".join(sorted(config_fields)))
    data = {f: getattr(preset["config"], f) for f in config_fields}
    for key, value in values.items():
        data[key] = float(value) if key in ("rope_theta", "norm_eps") else _int(value, key, text)
    config = DecoderConfig.from_mapping(data, text)
    name = "decoder_" + "_".join(f"{k}{v}" for k, v in sorted(values.items())) \
        if values else preset_name
    return DecoderEntry(
        f"{name}_{precision}".replace(".", "p"), preset_name,
        f"{preset_name} with {', '.join(f'{k}={v}' for k, v in values.items()) or 'no change'}",
        config, precision, tokens.get("prompt_tokens", preset["prompt_tokens"]),
        tokens.get("gen_tokens", preset["gen_tokens"]), tokens.get("seed", preset["seed"]),
        preset["reference"] if not (set(values) & config_fields) else "")


def _positive(value: dict, key: str, default: int, where: str) -> int:
    number = value.get(key, default)
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise ConfigError(f"{where}: {key} must be a positive whole number, not {number!r}")
    return number


def _int(value: str, key: str, text: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise WorkloadError(f"{text!r}: {key}={value!r} is not a whole number") from None
