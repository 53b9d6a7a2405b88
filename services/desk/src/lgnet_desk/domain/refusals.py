"""The services' refusals (problem+json `reason`, in English) said in Italian at the desk. Pure: a table of the
reasons the desk's forms meet, as patterns; a reason not in the table is shown as the service wrote it (never
hidden), so a new rule in a service is still readable before its translation lands here."""

from __future__ import annotations

import re

ITALIAN: list[tuple[str, str]] = [
    (r"the requester cannot approve their own request", "chi ha chiesto il contributo non può approvarlo"),
    (r"above (\d+) cents a second, different approver is needed", "sopra {0} centesimi serve un secondo approvatore"),
    (
        r"over budget: (\d+) cents asked, (\d+) available on the line",
        "fondi insufficienti: richiesti {0} centesimi, disponibili {1} sulla linea di bilancio",
    ),
    (r"no (\w+) budget line in (\w+)", "nessuna linea di bilancio per questo tipo di contributo a {1}"),
    (
        r"is not a valid Italian fiscal code \(format or check character\)",
        "non è un codice fiscale valido (formato o carattere di controllo)",
    ),
    (
        r"must be 16 characters: 6 letters, 2 digits, a month letter.*",
        "non è un codice fiscale valido: servono 16 caratteri (6 lettere, 2 cifre, la lettera del mese, 2 cifre,"
        " il codice del luogo di nascita e il carattere di controllo)",
    ),
    (r"wrong check character.*", "non è un codice fiscale valido: carattere di controllo errato"),
    (
        r"birthplace code is not an Italian municipality or foreign country.*",
        "non è un codice fiscale valido: il codice del luogo di nascita non è un comune italiano né uno stato estero"
        " in vigore alla data di nascita",
    ),
    (
        r"is not a valid Italian fiscal code \(the birth date it encodes is impossible\)",
        "non è un codice fiscale valido: la data di nascita che contiene è impossibile",
    ),
    (r"does not match birth_date", "non corrisponde alla data di nascita"),
    (r"does not match sex", "non corrisponde al sesso"),
    (r"is in the future", "è nel futuro"),
    (r"is more than 120 years ago", "è di oltre 120 anni fa"),
    (r"is before the case was opened", "è precedente all'apertura della pratica"),
    (r"'(\w+)' is not an ISO 3166-1 alpha-2 country code", "«{0}» non è un codice di paese ISO 3166-1 (es. NG, MA)"),
    (
        r"the person has not consented to sharing data with partners",
        "la persona non ha dato il consenso alla condivisione dei dati con gli enti partner",
    ),
    (
        r"the household has not consented to sharing data with partners",
        "il nucleo non ha dato il consenso alla condivisione dei dati con gli enti partner",
    ),
    (
        r"no case of this person is assigned to this partner",
        "nessuna pratica di questa persona è assegnata al suo ente",
    ),
    (
        r"no case of this household is assigned to this partner",
        "nessuna pratica di questo nucleo è assegnata al suo ente",
    ),
    (r"the case is assigned to another partner", "la pratica è assegnata a un altro ente partner"),
    (r"(staff|partner) of (\w+) cannot (act in|read) (\w+)", "chi opera per {1} non può accedere ai dati di {3}"),
    (r"staff must name the partner the case is assigned to", "indichi l'ente partner a cui assegnare la pratica"),
    (r"a partner can only open cases assigned to itself", "un ente partner apre solo pratiche assegnate a sé"),
    (r"the case is already assigned to this partner", "la pratica è già assegnata a questo ente partner"),
    (r"already has open case (\S+) in (\w+)", "ha già una pratica aperta ({0}) in quest'area di intervento"),
    (r"is empty", "è vuoto"),
    (r"is not a (\S+) file \(its first bytes say otherwise\)", "il file non è del tipo dichiarato ({0})"),
    (r"only .* are accepted", "sono accettati solo file PDF, JPEG o PNG"),
    (r"is larger than (\d+) MB", "supera {0} MB"),
    (r"larger than 10 MB", "supera 10 MB"),
    (r"empty file", "il file è vuoto"),
    (r"choose a file", "scelga un file"),
    (r"required", "campo obbligatorio"),
    (r"Field required", "campo obbligatorio"),
    (r"List should have at least 1 item.*", "scelga almeno una voce"),
    (r"Input should be a valid date.*", "non è una data valida"),
    (r"Input should be a valid integer.*", "non è un importo valido (es. 450,00)"),
    (r"Input should be greater than 0", "deve essere maggiore di zero"),
    (r"give a name, a fiscal code or a case number", "indichi un nome, un codice fiscale o un numero di pratica"),
    (r"no identity on this service", "il suo profilo non opera su questo servizio"),
    (r"case is closed since (\S+)", "la pratica è chiusa dal {0}"),
]
_COMPILED = [(re.compile(rf"^{pattern}$"), text) for pattern, text in ITALIAN]


def say(reason: str, lang: str) -> str:
    """The reason in the operator's language (Italian table; English is the services' own)."""
    if lang != "it":
        return reason
    for pattern, text in _COMPILED:
        if m := pattern.match(reason.strip()):
            return text.format(*m.groups())
    return reason
