"""The payments office at the desk: the approved requests waiting for a batch, the city's batches and where their
payments stand, a batch made, its SEPA file downloaded, the bank's result file taken in. Before, all of it was
payments' HTTP API only: the office worked with curl. Payments' rules stay payments' (staff only, what is batched,
what a bank file may change); the desk calls them with the operator's token and says their answers in Italian."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_desk_pages import GIULIA, LUCA, RPD, Desk, desk, text_of

pytestmark = pytest.mark.integration
__all__ = ["desk"]  # a fixture, used by name

BATCH = {"batch_id": "b-7c1e", "city": "torino", "message_id": "LGNET-TORINO-0001", "total_cents": 95000,
         "execution_date": "2026-12-07", "created_by": "desk.giulia", "created_on": "2026-12-05",
         "payments": 2, "sent": 0, "paid": 1, "failed": 1}  # fmt: skip
APPROVED = [{"request_id": f"r-{n}", "case_id": "c-1", "household_id": "h-1", "kind": "rent", "amount_cents": cents,
             "status": "approved"} for n, cents in ((1, 45000), (2, 50000))]  # fmt: skip
VIEW = {k: v for k, v in BATCH.items() if k not in ("payments", "sent", "paid", "failed")} | {
    "file": None,
    "payments": [
        {"payment_id": "pay-1", "request_id": "r-1", "amount_cents": 45000, "status": "paid", "reason": None,
         "settled_on": "2026-12-08"},
        {"payment_id": "pay-2", "request_id": "r-2", "amount_cents": 50000, "status": "failed", "reason": "ac04",
         "settled_on": "2026-12-08"},
    ],
}  # fmt: skip


LINES = [
    {"budget_line_id": f"bl-{line}", "city": "torino", "line": line, "allocated_cents": allocated,
     "available_cents": available, "balances": {}}
    for line, allocated, available in (("rent", 1_000_000, 905_000), ("voucher_babysitting", 50_000, 50_000))
]  # fmt: skip


POLICY = {"city": "torino", "second_approval_threshold_cents": 200_000, "lease_activation_months": 2,
          "lease_activation_cap_cents": 150_000, "deposit_cap_cents": 0, "debtor_name": None, "debtor_iban": None,
          "debtor_bic": None, "pain_version": "pain.001.001.03", "version": 4}  # fmt: skip


def serve_payments(d: Desk) -> None:
    sepa = {"content-type": "application/xml", "content-disposition": 'attachment; filename="pain.001-b-7c1e.xml"'}
    d.services.answers |= {
        ("payments", "GET", "/contribution-requests"): lambda r: (
            APPROVED if r.url.params.get("status") == "approved" else []
        ),
        ("payments", "GET", "/batches"): [BATCH],
        ("payments", "GET", "/budget-lines"): LINES,
        ("payments", "GET", "/policies/torino"): POLICY,
        ("payments", "GET", "/batches/b-7c1e"): VIEW,
        ("payments", "POST", "/batches"): httpx.Response(201, json={**BATCH, "file": {}}),
        ("payments", "GET", "/batches/b-7c1e/pain.001"): httpx.Response(200, content=b"<Document/>", headers=sepa),
        ("payments", "POST", "/reconciliations"): httpx.Response(201, json={"paid": 1, "failed": 1, "unchanged": 0}),
    }


def form_key(html: str) -> str:
    return html.split('name="form_key" value="', 1)[1].split('"', 1)[0]


async def test_the_payments_office_sees_what_waits_and_the_citys_batches(desk: Desk) -> None:
    serve_payments(desk)
    await desk.as_operator(GIULIA)
    home = (await desk.client.get("/")).text
    assert 'href="/payments"' in home
    page = await desk.client.get("/payments")
    shown = text_of(page.text)
    assert page.status_code == 200 and "Pagamenti" in shown, shown
    assert "2 richieste approvate" in shown and "950,00 €" in shown, shown
    # the batch: when made, when the bank executes it, its payments and where they stand, a link to it
    assert "5 dic 2026" in shown and "7 dic 2026" in shown and "1 pagati" not in shown, shown
    assert "Pagati: 1" in shown and "Non riusciti: 1" in shown and "In attesa dell'esito: 0" in shown, shown
    assert 'href="/payments/batches/b-7c1e"' in page.text
    # the city's budget lines: what is left to commit on each
    assert "Linee di bilancio" in shown and "Canone di affitto 10.000,00 € 950,00 € 9.050,00 €" in shown, shown
    assert "Buono: Babysitting 500,00 € 0,00 € 500,00 €" in shown, shown

    await desk.as_operator(LUCA)  # a cooperative's operator: not the payments office
    assert (await desk.client.get("/payments")).status_code == 403
    assert 'href="/payments"' not in (await desk.client.get("/")).text


async def test_a_batch_is_made_and_its_sepa_file_downloaded(desk: Desk) -> None:
    serve_payments(desk)
    await desk.as_operator(GIULIA)
    key = form_key((await desk.client.get("/payments")).text)
    made = await desk.client.post(
        "/payments/batches", data={"csrf": "csrf-giulia", "form_key": key, "execution_date": "2026-12-07"}
    )
    assert made.status_code == 303 and made.headers["location"] == "/payments/batches/b-7c1e?made=1", made.text
    [sent] = [q for q in desk.services.requests if q.method == "POST" and q.url.path == "/batches"]
    assert json.loads(sent.content) == {"execution_date": "2026-12-07"}
    assert sent.headers["Idempotency-Key"] == f"desk:{key}:batch"

    page = await desk.client.get("/payments/batches/b-7c1e?made=1")
    shown = text_of(page.text)
    assert "Distinta preparata" in shown and "LGNET-TORINO-0001" in shown, shown
    assert "pagato" in shown and "non riuscito: conto chiuso" in shown, shown
    assert 'href="/payments/batches/b-7c1e/pain.001"' in page.text
    file = await desk.client.get("/payments/batches/b-7c1e/pain.001")
    assert file.status_code == 200 and file.content == b"<Document/>"
    assert file.headers["content-disposition"] == 'attachment; filename="pain.001-b-7c1e.xml"'

    # nothing to batch: payments' refusal said in Italian on the page, nothing lost
    nothing = {"status": 409, "field": "", "reason": "no approved request with bank data is waiting for payment"}
    desk.services.answers[("payments", "POST", "/batches")] = httpx.Response(409, json=nothing)
    r = await desk.client.post("/payments/batches", data={"csrf": "csrf-giulia", "execution_date": ""})
    assert r.status_code == 409 and "Nessuna richiesta approvata" in text_of(r.text), text_of(r.text)
    [*_, empty] = [q for q in desk.services.requests if q.method == "POST" and q.url.path == "/batches"]
    assert json.loads(empty.content) == {}  # no date: payments' default (tomorrow)


async def test_the_banks_result_file_is_taken_in(desk: Desk) -> None:
    serve_payments(desk)
    await desk.as_operator(GIULIA)
    key = form_key((await desk.client.get("/payments")).text)
    camt = b'<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"/>'
    files = {"bank_file": ("esito.xml", camt, "text/xml")}
    r = await desk.client.post("/payments/reconciliations", data={"csrf": "csrf-giulia", "form_key": key}, files=files)
    shown = text_of(r.text)
    assert r.status_code == 200 and "Esito della banca registrato" in shown, shown
    assert "pagati: 1" in shown and "non riusciti: 1" in shown and "già registrati: 0" in shown, shown
    [sent] = [q for q in desk.services.requests if q.url.path == "/reconciliations"]
    assert sent.content == camt and sent.headers["content-type"] == "application/xml", sent.headers
    assert sent.headers["Idempotency-Key"] == f"desk:{key}:reconciliation"

    # no file chosen: said at the field, nothing sent; a file payments refuses: its reason, in Italian where known
    r = await desk.client.post(
        "/payments/reconciliations", data={"csrf": "csrf-giulia"}, files={"bank_file": ("", b"", "text/xml")}
    )
    assert r.status_code == 422 and "scelga un file" in text_of(r.text), text_of(r.text)
    bad: dict[str, Any] = {"status": 422, "field": "file", "reason": "not a camt.054 or camt.053 document (root x)"}
    desk.services.answers[("payments", "POST", "/reconciliations")] = httpx.Response(422, json=bad)
    r = await desk.client.post(
        "/payments/reconciliations", data={"csrf": "csrf-giulia"}, files={"bank_file": ("x.csv", b"a,b", "text/csv")}
    )
    assert r.status_code == 422 and "non è un file camt.054 o camt.053" in text_of(r.text), text_of(r.text)
    [*_, csv_sent] = [q for q in desk.services.requests if q.url.path == "/reconciliations"]
    assert csv_sent.headers["content-type"] == "text/csv"


async def test_the_citys_paying_account_is_set_at_the_desk(desk: Desk) -> None:
    """A batch needs the account the city pays from, and the payments page said "Il Comune non ha ancora indicato il
    conto da cui pagare" with nowhere to give it: `PUT /policies/{city}` was API only. The page shows the account
    and sets it; the policy's other settings (thresholds, the lease's months, the file's version) are kept as they
    are, since a PUT sets the whole policy."""
    serve_payments(desk)
    desk.services.answers[("payments", "PUT", "/policies/torino")] = lambda r: {
        "city": "torino",
        **json.loads(r.content),
    }
    await desk.as_operator(GIULIA)
    page = await desk.client.get("/payments")
    shown = text_of(page.text)
    assert "Conto di pagamento del Comune" in shown and "non ancora indicato" in shown, shown
    key = form_key(page.text)
    account = {"debtor_name": "Comune di Torino", "debtor_iban": "IT60 X054 2811 1010 0000 0123 456", "debtor_bic": ""}
    r = await desk.client.post("/payments/account", data={"csrf": "csrf-giulia", "form_key": key, **account})
    assert r.status_code == 303 and r.headers["location"] == "/payments?account=1", r.text
    [sent] = [q for q in desk.services.requests if q.method == "PUT" and q.url.path == "/policies/torino"]
    kept = {k: v for k, v in POLICY.items() if k not in ("city", "version")}  # thresholds, months, caps, the file's
    assert json.loads(sent.content) == kept | {k: v or None for k, v in account.items()}
    assert sent.headers["Idempotency-Key"] == f"desk:{key}:policy"
    assert sent.headers["If-Match"] == '"4"'  # the version the page showed: no one else's change is undone

    set_ = POLICY | {"debtor_name": "Comune di Torino", "debtor_iban": "IT60X0542811101000000123456"}
    desk.services.answers[("payments", "GET", "/policies/torino")] = set_
    shown = text_of((await desk.client.get("/payments?account=1")).text)
    assert "Conto di pagamento registrato" in shown and "IT60X0542811101000000123456" in shown, shown

    # a refusal is said at its field, in Italian, with what was typed kept
    bad = {"status": 422, "field": "debtor_iban", "reason": "not a valid IBAN: invalid checksum"}
    desk.services.answers[("payments", "PUT", "/policies/torino")] = httpx.Response(422, json=bad)
    r = await desk.client.post("/payments/account", data={"csrf": "csrf-giulia", **account, "debtor_iban": "IT00 1234"})
    shown = text_of(r.text)
    assert r.status_code == 422 and "non è un IBAN valido" in shown, shown
    assert 'value="IT00 1234"' in r.text and 'aria-invalid="true"' in r.text

    # Someone else saved the policy after this page was shown: said, what was typed kept, the page's version the new
    changed = {"status": 412, "field": "headers.if-match", "reason": "the policy was changed since it was read"
               " (version 5 now, 4 read): read it again and send what should be kept"}  # fmt: skip
    desk.services.answers[("payments", "PUT", "/policies/torino")] = httpx.Response(412, json=changed)
    desk.services.answers[("payments", "GET", "/policies/torino")] = set_ | {"version": 5}
    typed = account | {"debtor_iban": "IT60X0542811101000000654321", "policy_version": "4"}
    r = await desk.client.post("/payments/account", data={"csrf": "csrf-giulia", **typed})
    shown = text_of(r.text)
    assert r.status_code == 412 and "altra persona ha cambiato le impostazioni dei pagamenti" in shown, shown
    assert 'value="IT60X0542811101000000654321"' in r.text and 'name="policy_version" value="5"' in r.text
    [*_, late] = [q for q in desk.services.requests if q.method == "PUT" and q.url.path == "/policies/torino"]
    assert late.headers["If-Match"] == '"4"'
    await desk.as_operator(LUCA)  # a cooperative's operator: not the payments office
    assert (await desk.client.post("/payments/account", data={"csrf": "csrf-luca", **account})).status_code == 403


PROVIDERS = [
    {"provider_id": "prv-bici", "name": "Bici Rossi di Anna Rossi", "city": "torino", "kinds": ["public_transport"],
     "registered_by": "desk.giulia", "iban_masked": "••••3000", "bic": None, "bank_data_version": 1,
     "bank_data_changed_by": "desk.giulia", "bank_data_changed_on": "2026-12-01",
     "bank_data_changed_since_approval": False, "bank_data_approved_by": "desk.maria",
     "approved_iban_masked": "••••3000"},
    {"provider_id": "prv-gtt", "name": "GTT", "city": "torino", "kinds": ["public_transport", "babysitting"],
     "registered_by": "desk.giulia", "iban_masked": "••••5555", "bic": None, "bank_data_version": 2,
     "bank_data_changed_by": "desk.maria", "bank_data_changed_on": "2026-12-04",
     "bank_data_changed_since_approval": True, "bank_data_approved_by": "desk.giulia",
     "approved_iban_masked": "••••3000"},
]  # fmt: skip
RUNS = [{"run_id": "run-1", "message_id": "LGNET-R1A2B", "made_on": "2026-12-02", "transfers": 1,
         "total_cents": 1500, "sent": 0, "paid": 1, "failed": 0}]  # fmt: skip
RUN = {"run_id": "run-1", "file": None, "reimbursements": [
    {"batch_id": "rb-1", "provider_id": "prv-bici", "city": "torino", "amount_cents": 1500, "status": "paid",
     "reason": None, "end_to_end_id": "E2E-1", "on_date": "2026-12-02", "settled_on": "2026-12-03"}]}  # fmt: skip


async def test_the_payments_office_keeps_the_voucher_providers_and_reimburses_them(desk: Desk) -> None:
    """Voucher providers (who redeem the autonomy vouchers) and their reimbursements were payments' HTTP API only:
    a provider registered, its bank data set and approved by a second person, a run made and its SEPA file, all
    with curl. The page lists the city's providers (by name, IBAN masked, whether their bank data wait for
    approval: the approve button for anyone but whoever set them) and its runs, and does each of those."""
    serve_payments(desk)
    sepa = {"content-type": "application/xml", "content-disposition": 'attachment; filename="pain.001-run-1.xml"'}
    desk.services.answers |= {
        ("payments", "GET", "/providers"): PROVIDERS,
        ("payments", "GET", "/reimbursement-runs"): RUNS,
        ("payments", "GET", "/reimbursement-runs/run-1"): RUN,
        ("payments", "GET", "/reimbursement-runs/run-1/pain.001"): httpx.Response(
            200, content=b"<Document/>", headers=sepa
        ),
        ("payments", "POST", "/providers"): httpx.Response(201, json=PROVIDERS[0]),
        ("payments", "POST", "/providers/prv-gtt/bank-data/approval"): PROVIDERS[1],
        ("payments", "PUT", "/providers/prv-bici/bank-data"): PROVIDERS[0],
    }
    await desk.as_operator(GIULIA)
    page = await desk.client.get("/payments")
    assert 'href="/payments/providers"' in page.text
    page = await desk.client.get("/payments/providers")
    shown = text_of(page.text)
    assert page.status_code == 200 and "Fornitori dei buoni e rimborsi" in shown, shown
    assert "Bici Rossi di Anna Rossi" in shown and "approvate da" in shown and "LGNET-R1A2B" in shown, shown
    assert "indicate da" in shown and "attendono l'approvazione di un'altra persona" in shown, shown
    assert page.text.count('action="/payments/providers/prv-gtt/approval"') == 1  # set by Maria: Giulia approves
    # the version shown goes with the approval: payments refuses it if the IBAN changed since (409 bank_data_version)
    assert '<input type="hidden" name="bank_data_version" value="2">' in page.text.split("prv-gtt/approval", 1)[1]
    assert 'action="/payments/providers/prv-bici/approval"' not in page.text  # nothing waits
    key = form_key(page.text)

    # registered: its id made from the form's key, the kinds ticked, the IBAN given
    new = {"csrf": "csrf-giulia", "form_key": key, "name": "Pulizie Aurora", "iban": "IT60X0542811101000000123456"}
    r = await desk.client.post("/payments/providers", data={**new, "kinds": ["cleaning", "babysitting"]})
    assert r.status_code == 303 and r.headers["location"] == "/payments/providers?done=registered", r.text
    [sent] = [q for q in desk.services.requests if q.method == "POST" and q.url.path == "/providers"]
    body = json.loads(sent.content)
    assert body["provider_id"].startswith("prv-") and body["kinds"] == ["cleaning", "babysitting"], body
    assert (body["name"], body["iban"], "bic" in body) == ("Pulizie Aurora", new["iban"], False)  # blank: not sent
    assert sent.headers["Idempotency-Key"] == f"desk:{key}:provider"
    assert "Fornitore registrato" in text_of((await desk.client.get("/payments/providers?done=registered")).text)
    bad = {"status": 422, "field": "iban", "reason": "not a valid IBAN: invalid checksum"}
    desk.services.answers[("payments", "POST", "/providers")] = httpx.Response(422, json=bad)
    r = await desk.client.post("/payments/providers", data={**new, "iban": "IT00 1", "kinds": ["cleaning"]})
    assert r.status_code == 422 and "Non è un IBAN valido" in text_of(r.text), text_of(r.text)
    assert 'value="Pulizie Aurora"' in r.text and 'value="cleaning" checked' in r.text  # what was typed, kept

    # approved by someone else than whoever set them; payments' refusal said
    r = await desk.client.post("/payments/providers/prv-gtt/approval", data={"csrf": "csrf-giulia"})
    assert r.status_code == 303 and r.headers["location"] == "/payments/providers?done=approved"
    mine = {"status": 403, "field": "approved_by",
            "reason": "whoever set or changed the bank data cannot approve it: another person must"}  # fmt: skip
    desk.services.answers[("payments", "POST", "/providers/prv-gtt/bank-data/approval")] = httpx.Response(
        403, json=mine
    )
    r = await desk.client.post("/payments/providers/prv-gtt/approval", data={"csrf": "csrf-giulia"})
    said = text_of(r.text)
    assert r.status_code == 403 and "non può approvarle: deve farlo un'altra persona" in said, said
    # new bank data for a provider: sent as payments' PUT, then waiting for approval
    r = await desk.client.post(
        "/payments/providers/prv-bici/bank-data",
        data={"csrf": "csrf-giulia", "iban": "GB33BUKB20201555555555", "bic": ""},
    )
    assert r.status_code == 303 and r.headers["location"] == "/payments/providers?done=bank-data"
    [put] = [q for q in desk.services.requests if q.method == "PUT" and q.url.path == "/providers/prv-bici/bank-data"]
    assert json.loads(put.content) == {"iban": "GB33BUKB20201555555555"}

    # a run with nothing to reimburse says why; a run made opens on its page, its file there
    held = {"reimbursements": [], "held": [{"provider_id": "prv-gtt", "reason": "bank data awaiting approval"}],
            "run_id": None, "file": None}  # fmt: skip
    desk.services.answers[("payments", "POST", "/provider-reimbursements")] = httpx.Response(201, json=held)
    r = await desk.client.post("/payments/reimbursements", data={"csrf": "csrf-giulia"})
    shown = text_of(r.text)
    assert r.status_code == 200 and "Nessun rimborso effettuato" in shown, shown
    assert "GTT non rimborsato: le coordinate bancarie attendono l'approvazione di un'altra persona" in shown, shown
    made = {"reimbursements": [], "held": [], "run_id": "run-1", "file": {"message_id": "LGNET-R1A2B"}}
    desk.services.answers[("payments", "POST", "/provider-reimbursements")] = httpx.Response(201, json=made)
    r = await desk.client.post("/payments/reimbursements", data={"csrf": "csrf-giulia"})
    assert r.status_code == 303 and r.headers["location"] == "/payments/reimbursement-runs/run-1?made=1"
    run = await desk.client.get(r.headers["location"])
    shown = text_of(run.text)
    assert "Rimborsi preparati" in shown and "Bici Rossi di Anna Rossi" in shown and "150,00" not in shown, shown
    assert "15,00 €" in shown and "pagato" in shown, shown
    file = await desk.client.get("/payments/reimbursement-runs/run-1/pain.001")
    assert file.content == b"<Document/>" and file.headers["content-disposition"].endswith('pain.001-run-1.xml"')

    await desk.as_operator(LUCA)  # a cooperative's operator: not the payments office
    assert (await desk.client.get("/payments/providers")).status_code == 403
    assert (await desk.client.post("/payments/reimbursements", data={"csrf": "csrf-luca"})).status_code == 403


async def test_a_sepa_file_downloaded_at_the_desk_is_in_the_dpos_access_log(desk: Desk) -> None:
    """A pain.001 holds every payee's name and IBAN in clear: payments logs its downloads for the batch's view, which
    the city's data-protection officer cannot read (she has no identity on payments). A download through the desk
    is now in her access log too, with who, when and which file (no person: a batch names households' payees)."""
    serve_payments(desk)
    await desk.as_operator(GIULIA)
    assert (await desk.client.get("/payments/batches/b-7c1e/pain.001")).status_code == 200
    desk.services.answers[("payments", "GET", "/batches/b-gone/pain.001")] = httpx.Response(
        404, json={"status": 404, "field": "batch_id", "reason": "no batch b-gone"}
    )
    assert (await desk.client.get("/payments/batches/b-gone/pain.001")).status_code == 404
    await desk.as_operator(RPD)
    log = text_of((await desk.client.get("/access-log?source=desk")).text)
    assert log.count("File SEPA dei pagamenti (nomi e IBAN dei beneficiari)") == 2, log
    assert "b-7c1e" in log and "b-gone" in log and "Giulia Verdi" in log, log
    shown, denied = log.index("b-7c1e"), log.index("b-gone")
    assert "mostrato" in log[shown : shown + 80] and "negato" in log[denied : denied + 80], log


async def test_a_kept_form_of_the_payments_office_comes_back_in_its_own_form(desk: Desk) -> None:
    """A form kept when its session had ended comes back on its page: the paying account's (shown as recorded, not as
    typed, until then), a provider's registration and a provider's new bank data (forms chosen by a row)."""
    serve_payments(desk)
    desk.services.answers |= {
        ("payments", "GET", "/providers"): PROVIDERS,
        ("payments", "GET", "/reimbursement-runs"): RUNS,
    }
    await desk.as_operator(GIULIA)
    old = {"csrf": "csrf-of-an-old-session"}

    async def back(action: str, page: str, typed: dict[str, Any]) -> str:
        r = await desk.client.post(action, data={**old, **typed}, headers={"Referer": f"http://desk.test{page}"})
        assert r.status_code == 303 and r.headers["location"].startswith(f"{page}?restored=1"), r.text
        return (await desk.client.get(r.headers["location"])).text

    account = await back(
        "/payments/account",
        "/payments",
        {"debtor_name": "Comune di Torino", "debtor_iban": "IT60X0542811101000000123456"},
    )
    assert 'id="debtor_iban" name="debtor_iban"' in account and 'value="IT60X0542811101000000123456"' in account
    new = await back("/payments/providers", "/payments/providers", {"name": "Pulizie Aurora", "kinds": "cleaning"})
    assert 'value="Pulizie Aurora"' in new and 'value="cleaning" checked' in new
    bank = await back(
        "/payments/providers/prv-gtt/bank-data", "/payments/providers", {"iban": "GB33BUKB20201555555555"}
    )
    gtt = bank.split('action="/payments/providers/prv-gtt/bank-data"', 1)[1].split("</form>", 1)[0]
    assert 'value="GB33BUKB20201555555555"' in gtt and "<details open>" in bank.split("prv-gtt/bank-data", 1)[0][-600:]
