"""Keypoint names: raw dataset names -> readable language prompts, and left/right flip pairs.

CLAMP feeds each keypoint name to the CLIP text encoder, so names must be words
("leftear" -> "left ear", "L_F_Paw" -> "left front paw"). The 17 AP-10K keypoints map exactly
onto the class names the official weights were trained with
(:data:`wildpose.keypoints.AP10K`).
"""

from __future__ import annotations

import re
from functools import lru_cache

# Whole-name aliases applied after splitting: AP-10K's "Root of tail" is prompted "tail root".
_ALIASES = {"root of tail": "tail root"}

# Abbreviations: always expanded, or expanded only when another word follows ("L_F_Paw").
_ABBREVIATIONS = {
    "l": "left",
    "r": "right",
    "lf": "left front",
    "rf": "right front",
    "lb": "left back",
    "rb": "right back",
    "lh": "left hind",
    "rh": "right hind",
    "fl": "front left",
    "fr": "front right",
    "bl": "back left",
    "br": "back right",
    "hl": "hind left",
    "hr": "hind right",
}
_PREFIX_ABBREVIATIONS = {"f": "front", "b": "back", "h": "hind"}

# Body-part words used to split names glued together in lower case ("tailbase", "leftear").
_VOCABULARY = frozenset(
    """left right front back hind fore upper lower mid middle center centre top bottom inner outer
    tail base tip root end start ear eye nose snout head neck throat chin jaw mouth lip cheek
    forehead muzzle beak bill crown nape withers shoulder elbow wrist hand paw foot hoof claw
    toe finger knee hip ankle hock leg arm spine body chest belly rump torso pelvis thorax
    abdomen wing fin antenna horn antler trunk whisker eyebrow brow tongue""".split()
)

_SEPARATORS = re.compile(r"[\s_\-./:]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_DIGITS = re.compile(r"(?<=[A-Za-z])(?=[0-9])|(?<=[0-9])(?=[A-Za-z])")


@lru_cache(maxsize=1024)
def _segment(word: str) -> tuple[str, ...]:
    """Split a lower-case word into the fewest vocabulary words, or return it unchanged."""
    n = len(word)
    best: list[tuple[str, ...] | None] = [None] * (n + 1)
    best[0] = ()
    for end in range(1, n + 1):
        for start in range(end):
            prefix = best[start]
            piece = word[start:end]
            if prefix is not None and piece in _VOCABULARY:
                candidate = (*prefix, piece)
                if best[end] is None or len(candidate) < len(best[end]):
                    best[end] = candidate
    return best[n] if best[n] else (word,)


def _expand(tokens: list[str]) -> list[str]:
    out: list[str] = []
    for i, token in enumerate(tokens):
        has_next = i + 1 < len(tokens)
        if token in _ABBREVIATIONS:
            out.extend(_ABBREVIATIONS[token].split())
        elif token in _PREFIX_ABBREVIATIONS and has_next:
            out.append(_PREFIX_ABBREVIATIONS[token])
        elif token.isalpha():
            out.extend(_segment(token))
        else:
            out.append(token)
    return out


def readable_name(raw: str) -> str:
    """A keypoint name as lower-case words for a language prompt.

    Splits snake_case, kebab-case, camelCase and letter/digit boundaries, expands the usual
    abbreviations (``L``/``R`` -> left/right, ``F``/``B``/``H`` before another word -> front/
    back/hind, ``LF``, ``RH`` ...), splits lower-case words glued together when they are made of
    body-part words ("tailbase" -> "tail base"), and maps AP-10K's "Root of tail" to the
    official prompt "tail root". Unknown words are kept as they are.
    """
    text = _DIGITS.sub(" ", _CAMEL.sub(" ", _SEPARATORS.sub(" ", raw.strip())))
    tokens = [t.lower() for t in text.split()]
    name = " ".join(_expand(tokens))
    return _ALIASES.get(name, name)


def infer_flip_pairs(names: list[str] | tuple[str, ...]) -> list[tuple[int, int]]:
    """Left/right keypoint pairs (i, j), i < j, sorted, found from the names.

    Names are made readable first, so ``left_ear``/``rightear``/``L_Ear``/``R_Ear`` all pair.
    A name pairs with the name that has "right" in place of its "left" (as a word, anywhere).
    For AP-10K this gives the official flip pairs.
    """
    readable = [readable_name(n) for n in names]
    index = {name: i for i, name in reversed(list(enumerate(readable)))}
    pairs: set[tuple[int, int]] = set()
    for i, name in enumerate(readable):
        words = name.split()
        if "left" not in words:
            continue
        mirrored = " ".join("right" if w == "left" else w for w in words)
        j = index.get(mirrored)
        if j is not None and j != i:
            pairs.add((min(i, j), max(i, j)))
    return sorted(pairs)
