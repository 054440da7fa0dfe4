"""What the sources' licences allow for a set (and weights) made from all of them: the strictest term wins.

A set merged from one non-commercial source is non-commercial as a whole, and so is every release
pretrained on it. The terms are read from each source's licence text (recipe or task card) by the
phrases licences use; the datasheet and the release's model card state the result plainly.
"""

from __future__ import annotations

from typing import Any

# term → phrases (lower case) that impose it; a licence may impose several
TERMS: dict[str, tuple[str, ...]] = {
    "non-commercial": ("non-commercial", "noncommercial", "by-nc", "cc-by-nc"),
    "research use only": ("research use", "research only", "research and educational", "for research",
                          "ai researchers"),
    "no formal licence": ("no formal licen", "licence not stated", "license not stated", "unknown"),
}
SAY = {
    "non-commercial": "NON-COMMERCIAL: at least one source forbids commercial use, so this set and any weights "
                      "trained on it may not be used commercially",
    "research use only": "RESEARCH USE ONLY: at least one source grants use for research only",
    "no formal licence": "NO FORMAL LICENCE for at least one source: its owners' stated terms apply; check them "
                         "before any use beyond research",
}


def use_terms(sources: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Each restricting term → the sources whose licence imposes it (empty: no source restricts use)."""
    found: dict[str, list[str]] = {}
    for source in sources:
        text = f" {str(source.get('license') or 'licence not stated').lower()} "
        for term, phrases in TERMS.items():
            if any(phrase in text for phrase in phrases):
                found.setdefault(term, []).append(str(source.get("name")))
    return found


def use_statement(sources: list[dict[str, Any]]) -> list[str]:
    """Markdown lines saying what use the merged sources allow, strictest first."""
    terms = use_terms(sources)
    if not terms:
        return ["No source's licence restricts commercial or non-research use; each source's attribution "
                "(citation) terms still apply."]
    return [f"- **{SAY[term]}** (source{'s' if len(names) > 1 else ''}: {', '.join(names)})."
            for term, names in sorted(terms.items(), key=lambda item: list(TERMS).index(item[0]))]
