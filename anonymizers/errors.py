"""One exception tree for the anonymizers package.

Messages name operators, parameters and entity types only; they must never carry a
cell value, because error text ends up in logs and API responses.
"""

from __future__ import annotations


class AnonymizerError(ValueError):
    """Base of every error the anonymizers raise on purpose."""


class UnknownOperator(AnonymizerError):
    """The policy named an operator this package does not implement."""


class BadOperatorParams(AnonymizerError):
    """Unknown parameter, wrong parameter type, or an operator level that does not fit
    the column (e.g. ``generalize to=district`` on a number)."""


class DetectorUnavailable(AnonymizerError):
    """The configured PII detector (e.g. its NER model) cannot be loaded: free text
    must not be released (fail closed)."""
