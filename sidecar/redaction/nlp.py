"""spaCy pipeline for Presidio's NER, loaded from an installed package with only its `ner` step (pure).

Presidio's ``SpacyNlpEngine.load()`` calls ``spacy.cli.download`` when a model is missing and loads every
pipe; we never call it: the engine is handed a pipeline we loaded ourselves.
"""

from __future__ import annotations

from typing import Any

import spacy
from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine

NER_ENTITIES = ("PERSON", "LOCATION")

# spaCy label -> Presidio entity; every other label (ORG, DATE, CARDINAL, NORP, …) is ignored so that
# dates, numbers and organisations are not redacted.
_LABELS = {"PERSON": "PERSON", "PER": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION"}
_IGNORED = (
    "ORG", "NORP", "FAC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE", "DATE", "TIME", "PERCENT",
    "MONEY", "QUANTITY", "ORDINAL", "CARDINAL", "MISC",
)  # fmt: skip


def load_ner_pipeline(package: str) -> Any:
    """Load an installed spaCy package keeping `ner` (and the embedding layer only if `ner` listens to it)."""
    meta = spacy.util.get_model_meta(spacy.util.get_package_path(package))
    names = {*meta.get("pipeline", ()), *meta.get("components", ())}
    shared = {"tok2vec", "transformer"}
    nlp = spacy.load(package, exclude=[n for n in names if n != "ner" and n not in shared])
    if "ner" not in nlp.pipe_names:
        raise ValueError(f"spaCy package {package} has no ner component")
    for name in [n for n in nlp.pipe_names if n in shared]:
        if "ner" not in getattr(nlp.get_pipe(name), "listening_components", ()):
            nlp.remove_pipe(name)
    return nlp


class PreloadedSpacyEngine(SpacyNlpEngine):
    """Presidio's spaCy engine over an already loaded pipeline: ``load()`` never downloads."""

    def __init__(self, nlp: Any, model_name: str) -> None:
        config = NerModelConfiguration(model_to_presidio_entity_mapping=dict(_LABELS), labels_to_ignore=list(_IGNORED))
        super().__init__(models=[{"lang_code": "en", "model_name": model_name}], ner_model_configuration=config)
        self._pipeline = nlp

    def load(self) -> None:
        self.nlp = {"en": self._pipeline}  # type: ignore[assignment]  # Presidio declares it as None
