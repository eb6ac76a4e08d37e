"""JSON round-trips without loss (R17).

The mock serves a product that is valid against the contract but awkward in
every way a client's models tend to trip over, and the client reports it
back re-serialized from its own models (the protocol requires that); then
the client creates a product with awkward values and reports what the server
stored. Both must equal what was sent, as the contract reads it: same keys
(snake_case), exact prices, the same instants with an offset, the same text.
Unknown fields may be dropped; a null description may come back absent.

Another API's read answer is made awkward from its document's own schema
(awkward.py): nulls where nullable, many decimals and integers for numbers,
unicode, a date-time with an offset, absent optional fields, an unknown field
where allowed. The client reports it back. Then, when the API has a create
role, the client is asked to create an item with the create operation's valid
body made awkward the same way; what reached the server is judged: the item
the journal says was created is read back from the mock's store (with a
session minted by the control API, not through the client) and compared with
what was asked, as the document reads it.
"""

from __future__ import annotations

from typing import Any

import httpx

from harness.conformance import awkward, binding
from harness.conformance.scenarios.base import CALL_S, Context, Op, evidence_of
from harness.conformance.verdicts import Evidence, Outcome, Rule, Verdict

R17 = Rule(
    "R17",
    "JSON round-trips without loss",
    "The seed's serialization section; RFC 8259 s6 (numbers), RFC 3339 (offsets)",
)
TEXT = 'Kaffeemühle «Grand Café» ☕ 𝄞 日本語 "quoted" \\ back\nslash'
AWKWARD_PRODUCT: dict[str, Any] = {
    "id": "prd_roundtrip",
    "name": TEXT,
    "price": 20,  # an integer where most prices have decimals
    "description": None,
    "image_urls": ["https://img.example/ä%20b.png?x=1&y=2"],
    "created_at": "2026-03-01T12:00:00.250+05:30",  # milliseconds: what every platform keeps
    "category": {"id": "home", "name": "Home & Küche", "x_since": "v2"},
    "variants": [
        {"id": "var_cent", "name": "0.1", "price": 0.1},
        {"id": "var_big", "name": "Big", "price": 1234567.89},
        {"id": "var_digits", "name": "Fifteen digits", "price": 3.14159265358979},
    ],
    "x_unknown": {"nested": [1, 2, {"deep": None}]},
    "legacyName": "ignored",
}
AWKWARD_INPUT: dict[str, Any] = {
    "name": TEXT,
    "price": 3.14159265358979,
    "description": None,
    "category_id": "home",
    "variants": [{"name": "Cent", "price": 0.1}, {"name": "Whole", "price": 7}],
}
OPTIONAL_NULLS = frozenset({"description"})

# The calls this module makes.
SERVED = Op("read", {"id": AWKWARD_PRODUCT["id"]})
CREATE = Op("create", {"product": AWKWARD_INPUT})


def json_round_trip(ctx: Context) -> Verdict:
    api = binding.current()
    if not api.demo:
        return _schema_round_trip(ctx, api)
    ctx.start_session()
    ctx.control.add_fault(
        SERVED.fault(
            {"type": "status", "status": 200, "body": AWKWARD_PRODUCT}, select={"times": 1}
        )
    )
    served = SERVED.call(ctx)
    created = CREATE.call(ctx)
    evidence = evidence_of(ctx.journal())
    losses = []
    if not served.ok:
        losses.append(
            f"the client rejected a product that is valid against the contract "
            f"({served.error_kind}: {served.error.get('message')})"
        )
    else:
        losses += differences(AWKWARD_PRODUCT, served.result, "product")
    if not created.ok:
        losses.append(
            f"creating a product with valid awkward values failed ({created.error_kind}: "
            f"{created.error.get('message')})"
        )
    else:
        expected_created = {k: v for k, v in AWKWARD_INPUT.items() if k != "category_id"}
        losses += differences(expected_created, created.result, "created product")
    if losses:
        return _lost(losses, evidence)
    return Verdict(
        R17,
        Outcome.PASS,
        "Unicode, integer and 15-digit prices, an offset date, null and unknown fields all "
        "came back as the contract reads them, on the way in and out.",
        evidence,
    )


def differences(sent: Any, reported: Any, where: str) -> list[str]:
    """What the client lost or changed, as the contract reads the values."""
    if isinstance(sent, dict):
        if not isinstance(reported, dict):
            return [f"{where} became {type(reported).__name__}"]
        losses = []
        for key, value in sent.items():
            if key.startswith("x_") or key == "legacyName":
                continue  # unknown to the contract: may be dropped
            if key not in reported:
                if not (value is None and key in OPTIONAL_NULLS):
                    losses.append(f"{where}.{key} is missing")
                continue
            losses += differences(value, reported[key], f"{where}.{key}")
        return losses
    if isinstance(sent, list):
        if not isinstance(reported, list) or len(reported) != len(sent):
            return [f"{where} has {_length(reported)} items, not {len(sent)}"]
        return [
            loss
            for i, (a, b) in enumerate(zip(sent, reported, strict=True))
            for loss in differences(a, b, f"{where}[{i}]")
        ]
    if isinstance(sent, int | float) and not isinstance(sent, bool):
        if not awkward.same_number(sent, reported):
            return [f"{where} was {sent!r}, reported {reported!r}"]
        return []
    if where.endswith("created_at"):
        return awkward.date_loss(str(sent), reported, where)
    if sent != reported:
        return [f"{where} was {sent!r}, reported {reported!r}"]
    return []


def _lost(losses: list[str], evidence: Evidence) -> Verdict:
    shown = "; ".join(losses[:6]) + (f"; and {len(losses) - 6} more" if len(losses) > 6 else "")
    return Verdict(
        R17,
        Outcome.FAIL,
        f"{len(losses)} values did not survive the round trip: {shown}.",
        evidence.with_lines(losses),
    )


def _length(value: Any) -> str:
    return str(len(value)) if isinstance(value, list) else "no"


def _schema_round_trip(ctx: Context, api: binding.ApiBinding) -> Verdict:
    made = api.awkward_answer("read")
    if made is None or not made[1]:
        return Verdict(
            R17,
            Outcome.NOT_APPLICABLE,
            "Not applicable: the read operation's answer has no JSON schema with values "
            "to make awkward.",
        )
    body, changed = made
    ctx.start_session()
    [item] = ctx.product_ids(1)
    read = Op("read", {"id": item})
    ctx.only_fault(read.fault({"type": "status", "status": 200, "body": body}, select={"times": 1}))
    served = read.call(ctx)
    evidence = evidence_of(ctx.journal(), "served").with_lines(
        [f"served, valid against the document: {', '.join(changed)}"]
    )
    if not served.ok:
        return Verdict(
            R17,
            Outcome.FAIL,
            f"The client rejected an answer that is valid against the document "
            f"({served.error_kind}: {served.error.get('message')}).",
            evidence,
        )
    losses = awkward.differences(body, served.result, "answer")
    sent = "Not sent: the API has no create role."
    if "create" in api.roles:
        created, sent, asked, entries = _created_half(ctx, api)
        losses += created
        creation = evidence_of(entries, "created").with_lines([asked])
        evidence = Evidence.of_parts([evidence, creation])
    if losses:
        return _lost(losses, evidence)
    return Verdict(
        R17,
        Outcome.PASS,
        f"An answer made awkward within the document's schema ({len(changed)} values: "
        "nulls, decimals, unicode, offsets, absent and unknown fields) came back as the "
        f"document reads it. {sent}",
        evidence,
    )


CREATE_ANY = Op("create")


def _created_half(
    ctx: Context, api: binding.ApiBinding
) -> tuple[list[str], str, str, list[dict[str, Any]]]:
    """What the client lost creating an item with awkward valid values, a sentence for
    the summary, a line saying what was asked, and the journal of the creation."""
    made = api.awkward_request("create")
    if made is None or not made[1]:
        none = "Not sent: the create operation takes no body with values to make awkward."
        return [], none, none, []
    body, changed = made
    ctx.control.clear_faults()
    ctx.control.clear_journal()
    op, args = CREATE_ANY.request()
    reply = ctx.adapter.call(op, {**args, "body": body}, timeout=CALL_S)
    entries = ctx.journal()
    # The engine names a creation's effect after its item (`book_created`).
    created = [
        e
        for e in CREATE_ANY.of(entries)
        if str((e.get("effect") or {}).get("kind", "")).endswith("_created")
    ]
    line = f"sent, valid against the document: {', '.join(changed)}"
    if not reply.ok:
        line += f"; the client reported {reply.error_kind}"
    if not created:
        why = "" if reply.ok else f" ({reply.error_kind}: {reply.error.get('message')})"
        return (
            [f"creating an item with valid awkward values created nothing{why}"],
            "",
            line,
            entries,
        )
    stored = _stored(ctx, api, str(created[-1]["effect"]["id"]))
    if stored is None:
        return ["the created item could not be read back from the mock"], "", line, entries
    sent, kept = _aligned(body, stored)
    judged = api.kept_fields("create", sent, kept)
    if judged is not None and isinstance(sent, dict):
        skipped = sorted(set(sent) - judged - {awkward.EXTRA})
        if skipped:
            line += (
                f"; not compared: {', '.join(skipped)} (the document's item holds them "
                "under another name or shape)"
            )
        sent = {k: v for k, v in sent.items() if k in judged}
    losses = [
        loss.replace(", reported ", ", stored ") for loss in awkward.differences(sent, kept, "sent")
    ]
    said = (
        f"An item created with {len(changed)} awkward values was stored as sent "
        f"({len(sent) if isinstance(sent, dict) else 'all'} fields compared)."
    )
    return losses, said, line, entries


def _stored(ctx: Context, api: binding.ApiBinding, item_id: str) -> Any:
    """The item as the mock stored it, read with a minted session (not the client's)."""
    token = ctx.control.mint_session().get("access_token")
    headers = {"Authorization": api.bearer(token)} if token else {}
    with httpx.Client(base_url=ctx.control.base_url, timeout=CALL_S) as http:
        answer = http.get(api.item_path(item_id), headers=headers)
    return answer.json() if answer.status_code == 200 else None


def _aligned(sent: Any, stored: Any) -> tuple[Any, Any]:
    """The request's values and the stored item's at the same depth: an envelope on one
    side only (`{"book": {...}}` sent, the bare item answered, or the reverse) is opened."""
    for _ in range(3):
        if not (isinstance(sent, dict) and isinstance(stored, dict)):
            break
        if len(sent) == 1 and list(sent) == list(stored):  # the same envelope on both sides
            inner, kept = next(iter(sent.values())), next(iter(stored.values()))
            if isinstance(inner, dict) and isinstance(kept, dict):
                sent, stored = inner, kept
                continue
        if len(sent) == 1 and next(iter(sent)) not in stored:
            inner = next(iter(sent.values()))
            if isinstance(inner, dict):
                sent = inner
                continue
        if len(stored) == 1 and next(iter(stored)) not in sent:
            inner = next(iter(stored.values()))
            if isinstance(inner, dict):
                stored = inner
                continue
        break
    return sent, stored
