"""`TaskKind`: what a task predicts, as a type that answers the questions code used to ask of a string.

Code asks the kind (`kind.segmentation`, `kind.multilabel`, `kind.single_label`) instead of comparing
text, so the set of kinds and what each means live here once. A `str` enum: cards, records and JSON
hold the plain text (`"multiclass"`), and a kind compares equal to it.
"""

from __future__ import annotations

from enum import Enum


class TaskKind(str, Enum):
    BINARY = "binary"  # two classes, softmax over 2 outputs
    MULTICLASS = "multiclass"  # one class id per image
    MULTILABEL = "multilabel"  # 0/1 per label, sigmoid per output
    SEGMENTATION = "segmentation"  # a class-index mask per image

    __str__ = str.__str__  # "multiclass", in messages and f-strings alike
    __format__ = str.__format__

    @property
    def segmentation(self) -> bool:
        return self is TaskKind.SEGMENTATION

    @property
    def multilabel(self) -> bool:
        return self is TaskKind.MULTILABEL

    @property
    def single_label(self) -> bool:
        """One class id per image (binary or multiclass): per-class recall, bootstraps, class folders."""
        return self in (TaskKind.BINARY, TaskKind.MULTICLASS)

    @property
    def classification(self) -> bool:
        return not self.segmentation


KINDS = tuple(kind.value for kind in TaskKind)
CLASSIFICATION_KINDS = tuple(kind for kind in TaskKind if kind.classification)
SINGLE_LABEL_KINDS = tuple(kind for kind in TaskKind if kind.single_label)
