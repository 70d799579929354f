"""The Rasa NLU component: screening facts with clinical context, as Rasa entities.

Each mention becomes an entity named after its fact (docs/screening-policy.md, "Facts"),
valued with what it contributes; a denied mention ("no acne") carries the role `denied`. A
red flag the person
has now overrides the intent with `report_red_flag`, so that the urgent-care path cannot
depend on a statistical classifier's guess.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from needlecheck.config import Settings
from needlecheck.nlu.extractor import DEFAULT_CONTEXT_RULES, DEFAULT_LEXICON, Extractor, Mention
from needlecheck.text import valid_text

logger = logging.getLogger(__name__)

DENIED_ROLE = "denied"
_UNPLACED = frozenset({"out_of_scope", "nlu_fallback"})
_OFF_TOPIC = "out_of_scope"
_INFORM = "inform"
_GREETING = re.compile(r"\s*(?:hi|hello|hey|hiya|heya|good (?:morning|afternoon|evening))\b", re.I)
POSSIBLE_ROLE = "possible"
PAST_ROLE = "past"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class ScreeningFactExtractor(GraphComponent, EntityExtractorMixin):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            # Paths relative to the project root; None means the files shipped in the package.
            "lexicon": None,
            "context_rules": None,
            "red_flag_intent": "report_red_flag",
            "unconfirmed_red_flag_intent": "start_screening",
        }

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = config
        self._extractor = Extractor(
            Path(config["lexicon"]) if config.get("lexicon") else DEFAULT_LEXICON,
            Path(config["context_rules"]) if config.get("context_rules") else DEFAULT_CONTEXT_RULES,
        )
        # Built when the model loads, so the first person does not wait for it.
        self._extractor.nlp  # noqa: B018
        # Dates are relative to the clinic's calendar day, as the engine's are.
        self._settings = Settings.from_environment()

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> ScreeningFactExtractor:
        return cls(config)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        today = self._settings.today()
        for message in messages:
            text = message.get(TEXT)
            if not text or text.startswith("/"):
                continue
            mentions = self._extractor.extract(valid_text(text), today)
            entities = self.add_extractor_name(_entities(mentions))
            message.set(ENTITIES, message.get(ENTITIES, []) + entities, add_to_output=True)
            if any(m.fact == "red_flags" and not m.denied for m in mentions):
                self._raise_red_flag(message)
                continue
            if (message.get(INTENT) or {}).get("name") == self._config["red_flag_intent"]:
                self._lower_red_flag(message)
            purpose = self._extractor.purpose_said_outright(text)
            if (
                purpose is None
                and (message.get(INTENT) or {}).get("name") in _UNPLACED
                and _GREETING.match(text)
            ):
                # "hi, hope this is the right place": a greeting, however it goes on.
                purpose = "greet"
            if (
                purpose is None
                and (message.get(INTENT) or {}).get("name") == _OFF_TOPIC
                and any(not m.denied and m.fact != "course" for m in mentions)
            ):
                # "wanna get rid of the big pores on my nose lol" is about the person's
                # skin, however unusual its words: it tells, and the questions start.
                purpose = _INFORM
            if purpose is not None:
                # "forget it", "how much does it cost": the words say it, whatever the
                # classifier guessed; the dialogue's rules follow this intent.
                self._set_intent(message, purpose)
        return messages

    def _raise_red_flag(self, message: Message) -> None:
        self._set_intent(message, self._config["red_flag_intent"])

    def _set_intent(self, message: Message, name: str) -> None:
        intent = {"name": name, "confidence": 1.0}
        ranking = [intent] + [
            i for i in message.get(INTENT_RANKING_KEY) or [] if i.get("name") != name
        ]
        message.set(INTENT, intent, add_to_output=True)
        message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)

    def _lower_red_flag(self, message: Message) -> None:
        # The urgent path follows the lexicon's red flags only, never the classifier's
        # guess: a message it thinks urgent with no red flag in it starts the screening,
        # whose first question is about the red flags.
        intent = dict(message.get(INTENT))
        intent["name"] = self._config["unconfirmed_red_flag_intent"]
        message.set(INTENT, intent, add_to_output=True)


def _entities(mentions: list[Mention]) -> list[dict[str, Any]]:
    seen: set[tuple[str, str, tuple[bool, bool, bool], int, int]] = set()
    entities = []
    for mention in mentions:
        key = (
            mention.fact,
            json.dumps(mention.value, sort_keys=True),
            (mention.denied, mention.possible, mention.past),
            mention.start,
            mention.end,
        )
        if key in seen:
            continue
        seen.add(key)
        entity: dict[str, Any] = {
            "entity": mention.fact,
            "value": mention.value,
            "start": mention.start,
            "end": mention.end,
            "confidence_entity": 1.0,
        }
        if mention.denied:
            entity["role"] = DENIED_ROLE
        elif mention.possible:
            entity["role"] = POSSIBLE_ROLE
        elif mention.past:
            entity["role"] = PAST_ROLE
        entities.append(entity)
    return entities
