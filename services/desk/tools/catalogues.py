"""Regenerates locale/{it,en}/LC_MESSAGES/desk.po from the msgids in templates and code (run from services/desk)."""

import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po
from it import IT, IT_CONTEXTS, IT_PLURALS

src = pathlib.Path("src/lgnet_desk")
ids = []
pat = re.compile(r"""(?:\b_|gettext)\(\s*(["'])((?:(?!\1).)+)\1\s*\)""")
# a count with its noun: ngettext("<singular>", "<plural>", n), its two ids kept as a pair
plural = re.compile(r"""ngettext\(\s*(["'])((?:(?!\1).)+)\1\s*,\s*(["'])((?:(?!\3).)+)\3""")
plurals: list[tuple[str, str]] = []
for f in sorted(list(src.rglob("*.html")) + list(src.rglob("*.py"))):
    text = f.read_text()
    for m in pat.finditer(text):
        if m.group(2) not in ids:
            ids.append(m.group(2))
    for m in plural.finditer(text):
        if (m.group(2), m.group(4)) not in plurals:
            plurals.append((m.group(2), m.group(4)))
for extra in [
    "staff",
    "partner",
    "dpo",
    "case_work",
    "case_review",
    "subject_access",
    "payments_office",
    "shown",
    "denied",
    "erasure_request",  # domain/erasure.py: the access log's purpose and outcomes of an erasure
    "erased",
    "refused",
    "open",
    "in_progress",
    "achieved",
    "dropped",
    "requested",
    "approved",
    "rejected",
    "paid",
    "failed",
    "batched",
    "proposed",
    "accepted",
    "declined",
    "placement_started",
    "lease_signed",
    "placement_ended",
    "placed",
    "cancelled",
    "ended",
    "intake",  # the services, when one does not answer
    "housing",
    "payments",
]:
    if extra not in ids:
        ids.append(extra)
for _context, msgid in IT_CONTEXTS:  # said by `pgettext(sex, msgid)`, else `_(msgid)`: both ids
    if msgid not in ids:
        ids.append(msgid)
missing = [i for i in ids if i not in IT] + [p for p in plurals if p not in IT_PLURALS]
print("missing", missing)
for lang in ("it", "en"):
    cat = Catalog(locale=lang, domain="desk", project="lgnet-desk")
    # Italian as GNU gettext has it: one form for 1, the other for the rest (0 included); Babel's CLDR rule adds a
    # third form for millions that no message here needs.
    cat.mime_headers = [("Plural-Forms", "nplurals=2; plural=(n != 1);")]
    for i in ids:
        cat.add(i, IT.get(i, "") if lang == "it" else (i.replace("_", " ") if "_" in i else ""))
    for p in plurals:
        cat.add(p, IT_PLURALS.get(p, ("", "")) if lang == "it" else ("", ""))
    for (context, msgid), italian in IT_CONTEXTS.items():
        cat.add(msgid, italian if lang == "it" else "", context=context)
    out = src / f"locale/{lang}/LC_MESSAGES/desk.po"
    with out.open("wb") as fh:
        write_po(fh, cat, width=120)
print(len(ids), len(plurals))
