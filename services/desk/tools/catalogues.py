"""Regenerates locale/{it,en}/LC_MESSAGES/desk.po from the msgids in templates and code (run from services/desk)."""

import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po
from it import IT

src = pathlib.Path("src/lgnet_desk")
ids = []
pat = re.compile(r"""(?:\b_|gettext)\(\s*(["'])((?:(?!\1).)+)\1\s*\)""")
for f in sorted(list(src.rglob("*.html")) + list(src.rglob("*.py"))):
    for m in pat.finditer(f.read_text()):
        if m.group(2) not in ids:
            ids.append(m.group(2))
for extra in [
    "staff",
    "partner",
    "dpo",
    "case_work",
    "case_review",
    "subject_access",
    "shown",
    "denied",
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
missing = [i for i in ids if i not in IT]
print("missing", missing)
for lang in ("it", "en"):
    cat = Catalog(locale=lang, domain="desk", project="lgnet-desk")
    for i in ids:
        cat.add(i, IT.get(i, "") if lang == "it" else (i.replace("_", " ") if "_" in i else ""))
    out = src / f"locale/{lang}/LC_MESSAGES/desk.po"
    with out.open("wb") as fh:
        write_po(fh, cat, width=120)
print(len(ids))
