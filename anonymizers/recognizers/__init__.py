"""Chinese PII recognizers (Presidio), one entity per module.

Entity names are a contract: ``PERSON``, ``LOCATION``, ``ID_CARD``, ``PHONE_NUMBER``,
``USCC``, ``BANK_CARD``, ``EMAIL_ADDRESS``, ``LICENSE_PLATE``, ``PASSPORT``,
``IP_ADDRESS``.
"""

from __future__ import annotations

from presidio_analyzer import EntityRecognizer

from anonymizers.ner import NerBackend

from ._base import CnPatternRecognizer
from ._context import ClauseContextEnhancer
from ._lexicon import common_words
from .bank_card import BankCardRecognizer
from .email import EmailRecognizer
from .id_card import IdCardRecognizer
from .ip_address import IpAddressRecognizer
from .license_plate import LicensePlateRecognizer
from .location import LocationRecognizer
from .passport import PassportRecognizer
from .person import PersonRecognizer
from .phone import PhoneRecognizer
from .uscc import UsccRecognizer

ENTITIES = (
    "PERSON", "LOCATION", "ID_CARD", "PHONE_NUMBER", "USCC", "BANK_CARD", "EMAIL_ADDRESS",
    "LICENSE_PLATE", "PASSPORT", "IP_ADDRESS",
)
IDENTIFIER_RECOGNIZERS: tuple[type[CnPatternRecognizer], ...] = (
    IdCardRecognizer, UsccRecognizer, BankCardRecognizer, PhoneRecognizer, EmailRecognizer,
    LicensePlateRecognizer, PassportRecognizer, IpAddressRecognizer,
)


def build_recognizers(backend: NerBackend | None) -> list[EntityRecognizer]:
    """One instance of every recognizer; PERSON/LOCATION only when a backend is given."""
    recognizers: list[EntityRecognizer] = [cls() for cls in IDENTIFIER_RECOGNIZERS]
    if backend is not None:
        common_words()  # load the word list now: fail at start-up, not on first text
        recognizers += [PersonRecognizer(backend), LocationRecognizer(backend)]
    return recognizers


__all__ = [
    "ENTITIES", "BankCardRecognizer", "ClauseContextEnhancer", "CnPatternRecognizer",
    "EmailRecognizer", "IdCardRecognizer", "IpAddressRecognizer", "LicensePlateRecognizer",
    "LocationRecognizer", "PassportRecognizer", "PersonRecognizer", "PhoneRecognizer",
    "UsccRecognizer", "build_recognizers",
]
