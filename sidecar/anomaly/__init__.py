"""Anomalous and adversarial input detection (pure: no I/O, synchronous, deterministic).

- ``TabularScorer``: per-row score of feature records against a reference ``Profile``.
- ``scan_prompt`` / ``scan_response`` / ``extract_system_prompts``: LLM text checks.
- ``ClientTracker``: per-client behaviour (bursts, probing, sweeps, label poisoning).
- ``InlineGate``: the cheap checks the enforce mode may run before forwarding.
- ``Reason``: the closed set of reason values (metric attribute values).
"""

from .behaviour import ClientTracker
from .inline import INLINE_REASONS, InlineGate
from .reasons import ALL_REASONS, Reason
from .tabular import TabularScorer, Verdict
from .text import extract_system_prompts, scan_prompt, scan_response

__all__ = [
    "ALL_REASONS",
    "INLINE_REASONS",
    "ClientTracker",
    "InlineGate",
    "Reason",
    "TabularScorer",
    "Verdict",
    "extract_system_prompts",
    "scan_prompt",
    "scan_response",
]
