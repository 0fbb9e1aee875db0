#!/usr/bin/python3
"""t/fakes/bank.py - a fake card-payments bank for development and tests.

    /usr/bin/python3 t/fakes/bank.py --listen 127.0.0.1:PORT --dir DIR \\
        --secret-file FILE [--slow-ms 1500] [--hang-seconds 30]

A card API in the style of the well-known payment providers, with the
Python standard library only.  State lives in DIR/bank.sqlite3 and survives
restarts.  JSON in and out.  Every /v1 call wants the header
"Authorization: Bearer <secret>", the secret being the first line of
--secret-file; else 401 {"error": {"type": "authentication_error"}}.

  POST /v1/charges        {"amount": int > 0, "currency": "EUR",
                           "card": {"number", "exp_month", "exp_year", "cvc",
                                    "name" (optional)}
                           or "source": "tok_..." (see POST /v1/tokens),
                           "reference": str (optional),
                           "description": str (optional)}
      201 charge; 402 {"error": {"type": "card_error", "code":
      "card_declined", "decline_code", "charge": "ch_...", "message"}} (the
      declined charge is stored too, status "failed"); 400 bad body.
  GET  /v1/charges/{id}
  GET  /v1/charges?idempotency_key=K | ?reference=R [&limit=N]
      {"object": "list", "data": [charges, newest first], "has_more"}
  POST /v1/refunds        {"charge": "ch_...", "amount": int (optional: all
                           that is left), "reason": str (optional)}
      201 refund; 400 when the charge did not succeed or the amount is more
      than what is left (code "amount_too_large", "charge_already_refunded").
  GET  /v1/refunds/{id}, GET /v1/refunds?charge=ch_...
  POST /v1/tokens         {"card": {...}} -> 201 {"id": "tok_...", "object":
      "token", "card": {"brand", "last4", ...}}: a stored card (its cvc
      checked, never stored), usable as "source" in any number of charges.  Ready-made tokens: tok_visa,
      tok_mastercard, tok_amex, tok_chargeDeclined,
      tok_chargeDeclinedInsufficientFunds, tok_chargeDeclinedExpiredCard,
      tok_chargeDeclinedIncorrectCvc, tok_chargeDeclinedProcessingError.

Idempotency (POST /v1/*, header Idempotency-Key, 1-255 printable ASCII):
the key is stored with the request's method, path and parameters and with
the response, in the same transaction as the charge or refund.  The same key
and parameters get the stored response again, byte for byte, with the header
"Idempotent-Replayed: true"; the same key with other parameters (or another
endpoint) gets 400 code "idempotency_key_reused"; the same key while the
first request is still being processed gets 409 {"error": {"type":
"idempotency_error"}}.  As with the real ones, only requests that were
processed are stored: a 400 for a bad body, a 401 or a 503 is not, and the
same key may be used again after fixing the request.

Test cards (any future expiry; cvc 3 digits, 4 for amex):
  4242424242424242 visa, 5555555555554444 mastercard, 378282246310005 amex
  and any other Luhn-valid number: succeed
  4000000000000002 card_declined, 4000000000009995 insufficient_funds,
  4000000000000069 expired_card, 4000000000000127 incorrect_cvc,
  4000000000000119 processing_error: 402, charge stored as "failed"
  4000000000007718 succeeds after --slow-ms milliseconds
  4000000000008880 charges (stored, idempotency key included), then holds
  the connection for --hang-seconds without answering and closes it: the
  outcome is unknown to the client, the charge exists.
An expiry in the past is declined as expired_card; a number that fails the
Luhn check, a cvc of the wrong length and such are 400 invalid_request_error
with "param" ("card.number").

Admin, no authentication (for tests and whoever operates the fake):
  POST /admin/outage {"unavailable": true|false}: while on, every /v1 call
      answers 503 {"error": {"type": "api_error", "code":
      "service_unavailable"}} and does nothing.
  GET  /admin/stats   {"charges": {"count", "amount"}, "refunds": {"count",
      "amount"}, "by_currency": {"EUR": {"charges": {...}, "refunds":
      {...}}}, "declined": {"count"}} counting succeeded charges and refunds.
  GET  /health        {"status": "ok", "unavailable": bool}

One log line per request on stderr (never a card number or the secret).
Prints "listening on HOST:PORT" on stdout once ready; SIGTERM or SIGINT
stops it (requests being answered get a moment to finish).
"""

import argparse
import datetime
import hmac
import http.server
import json
import os
import re
import secrets
import signal
import sqlite3
import sys
import threading
import time
import urllib.parse

MAX_BODY = 64 * 1024
MAX_AMOUNT = 99_999_999_999
MAX_TEXT = 1000
IDLE_TIMEOUT = 120  # seconds a kept-alive connection may stay idle

DECLINES = {
    "4000000000000002": "card_declined",
    "4000000000009995": "insufficient_funds",
    "4000000000000069": "expired_card",
    "4000000000000127": "incorrect_cvc",
    "4000000000000119": "processing_error",
}
DECLINE_MESSAGES = {
    "card_declined": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "expired_card": "Your card has expired.",
    "incorrect_cvc": "Your card's security code is incorrect.",
    "processing_error": "An error occurred while processing your card.",
}
SLOW_CARD = "4000000000007718"
HANG_CARD = "4000000000008880"

# Ready-made tokens, as the well-known providers offer for tests.
BUILTIN_TOKENS = {
    "tok_visa": "4242424242424242",
    "tok_mastercard": "5555555555554444",
    "tok_amex": "378282246310005",
    "tok_chargeDeclined": "4000000000000002",
    "tok_chargeDeclinedInsufficientFunds": "4000000000009995",
    "tok_chargeDeclinedExpiredCard": "4000000000000069",
    "tok_chargeDeclinedIncorrectCvc": "4000000000000127",
    "tok_chargeDeclinedProcessingError": "4000000000000119",
}

KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
ID_RE = re.compile(r"^[A-Za-z0-9_]{1,100}$")
CURRENCY_RE = re.compile(r"^[A-Za-z]{3}$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS charges (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    reference TEXT,
    description TEXT,
    brand TEXT NOT NULL,
    last4 TEXT NOT NULL,
    exp_month INTEGER NOT NULL,
    exp_year INTEGER NOT NULL,
    card_name TEXT,
    failure_code TEXT,
    decline_code TEXT,
    refunded_amount INTEGER NOT NULL DEFAULT 0,
    idempotency_key TEXT,
    created INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS charges_key ON charges (idempotency_key);
CREATE INDEX IF NOT EXISTS charges_reference ON charges (reference);
CREATE TABLE IF NOT EXISTS refunds (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    charge TEXT NOT NULL REFERENCES charges (id),
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    reason TEXT,
    idempotency_key TEXT,
    created INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS refunds_charge ON refunds (charge);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    number TEXT NOT NULL,
    exp_month INTEGER NOT NULL,
    exp_year INTEGER NOT NULL,
    card_name TEXT,
    created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    body BLOB NOT NULL,
    created INTEGER NOT NULL
);
"""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def now():
    return int(time.time())


def new_id(prefix):
    return prefix + secrets.token_hex(12)


def encode(obj):
    return (json.dumps(obj, indent=2) + "\n").encode()


class ApiError(Exception):
    """An error answer: status and the "error" object."""

    def __init__(self, status, type_, message, **extra):
        super().__init__(message)
        self.status = status
        self.error = {"type": type_, "message": message}
        self.error.update(extra)
        self.headers = {}


def invalid(message, param=None, code=None):
    extra = {}
    if param is not None:
        extra["param"] = param
    if code is not None:
        extra["code"] = code
    return ApiError(400, "invalid_request_error", message, **extra)


def luhn_valid(number):
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def card_brand(number):
    two, four = int(number[:2]), int(number[:4])
    if number[0] == "4":
        return "visa"
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return "mastercard"
    if two in (34, 37):
        return "amex"
    if number.startswith("6011") or two == 65 or 644 <= int(number[:3]) <= 649:
        return "discover"
    if two in (36, 38) or 300 <= int(number[:3]) <= 305:
        return "diners"
    if 3528 <= four <= 3589:
        return "jcb"
    if two == 62:
        return "unionpay"
    return "unknown"


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def text_param(body, name, required=False):
    value = body.get(name)
    if value is None:
        if required:
            raise invalid("Missing required param: %s." % name, name,
                          "parameter_missing")
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise invalid("Invalid %s: a string of at most %d characters."
                      % (name, MAX_TEXT), name, "parameter_invalid_string")
    return value


def no_unknown(body, allowed, prefix=""):
    for name in body:
        if name not in allowed:
            raise invalid("Received unknown parameter: %s%s."
                          % (prefix, name), prefix + name,
                          "parameter_unknown")


def parse_card(card):
    """The validated card: a dict with number, exp_month, exp_year, cvc,
    name, brand.  Raises ApiError (400) for what no bank would look at."""
    if not isinstance(card, dict):
        raise invalid("card must be an object.", "card")
    no_unknown(card, ("number", "exp_month", "exp_year", "cvc", "name"),
               "card.")
    number = card.get("number")
    if not isinstance(number, str) or not re.fullmatch(r"[0-9]{12,19}",
                                                       number):
        raise invalid("Your card number is invalid: 12 to 19 digits.",
                      "card.number", "invalid_number")
    if not luhn_valid(number):
        raise invalid("Your card number is incorrect.", "card.number",
                      "incorrect_number")
    month, year = card.get("exp_month"), card.get("exp_year")
    if not is_int(month) or not 1 <= month <= 12:
        raise invalid("Your card's expiration month is invalid.",
                      "card.exp_month", "invalid_expiry_month")
    if not is_int(year) or not 2000 <= year <= 2100:
        raise invalid("Your card's expiration year is invalid.",
                      "card.exp_year", "invalid_expiry_year")
    brand = card_brand(number)
    cvc = card.get("cvc")
    want = 4 if brand == "amex" else 3
    if not isinstance(cvc, str) or not re.fullmatch("[0-9]{%d}" % want, cvc):
        raise invalid("Your card's security code is invalid: %d digits."
                      % want, "card.cvc", "invalid_cvc")
    name = card.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > 200):
        raise invalid("card.name must be a string of at most 200 characters.",
                      "card.name")
    return {"number": number, "exp_month": month, "exp_year": year,
            "cvc": cvc, "name": name, "brand": brand}


def expired(card):
    today = datetime.datetime.now(datetime.timezone.utc).date()
    return (card["exp_year"], card["exp_month"]) < (today.year, today.month)


def parse_json(raw):
    def no_duplicates(pairs):
        obj = {}
        for k, v in pairs:
            if k in obj:
                raise ValueError("duplicate member %r" % k)
            obj[k] = v
        return obj

    def no_constant(name):
        raise ValueError("%s is not JSON" % name)

    try:
        body = json.loads(raw.decode("utf-8"), object_pairs_hook=no_duplicates,
                          parse_constant=no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise invalid("The body is not valid JSON: %s." % e)
    if not isinstance(body, dict):
        raise invalid("The body must be a JSON object.")
    return body


class Bank:
    """The state: one SQLite connection behind one lock (the fake needs
    correctness more than parallel writes), and the idempotency keys whose
    first request is being processed."""

    def __init__(self, directory, slow_ms, hang_seconds):
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, "bank.sqlite3")
        self.db = sqlite3.connect(path, check_same_thread=False,
                                  isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self.db.executescript(SCHEMA)
        self.lock = threading.Lock()
        self.in_flight = set()
        self.unavailable = False
        self.slow = slow_ms / 1000.0
        self.hang = hang_seconds
        self.stopping = threading.Event()
        self.active = 0  # requests being answered, for a clean stop

    def enter(self):
        with self.lock:
            self.active += 1

    def leave(self):
        with self.lock:
            self.active -= 1

    def close(self):
        with self.lock:
            self.db.close()

    # ------------------------------------------------------------ rows

    @staticmethod
    def charge_object(row):
        return {
            "id": row["id"],
            "object": "charge",
            "amount": row["amount"],
            "currency": row["currency"],
            "status": row["status"],
            "reference": row["reference"],
            "description": row["description"],
            "card": {"brand": row["brand"], "last4": row["last4"],
                     "exp_month": row["exp_month"],
                     "exp_year": row["exp_year"], "name": row["card_name"]},
            "failure_code": row["failure_code"],
            "decline_code": row["decline_code"],
            "refunded_amount": row["refunded_amount"],
            "refunded": row["status"] == "succeeded"
            and row["refunded_amount"] == row["amount"],
            "idempotency_key": row["idempotency_key"],
            "created": row["created"],
        }

    @staticmethod
    def refund_object(row):
        return {
            "id": row["id"],
            "object": "refund",
            "charge": row["charge"],
            "amount": row["amount"],
            "currency": row["currency"],
            "status": "succeeded",
            "reason": row["reason"],
            "idempotency_key": row["idempotency_key"],
            "created": row["created"],
        }

    def query(self, sql, args=()):
        with self.lock:
            return self.db.execute(sql, args).fetchall()

    # ------------------------------------------------------- idempotency

    def begin_idempotent(self, key, fingerprint):
        """None when the request may go on (the key is then in flight), or
        the stored (status, body) to replay.  Raises ApiError for a key
        reused with other parameters or still in flight."""
        with self.lock:
            row = self.db.execute(
                "SELECT fingerprint, status, body FROM idempotency "
                "WHERE key = ?", (key,)).fetchone()
            if row is not None:
                if row["fingerprint"] != fingerprint:
                    raise invalid(
                        "Keys for idempotent requests can only be used with "
                        "the same parameters they were first used with.",
                        code="idempotency_key_reused")
                return row["status"], bytes(row["body"])
            if key in self.in_flight:
                raise ApiError(409, "idempotency_error",
                               "There is currently another in-progress "
                               "request using this Idempotency-Key; try "
                               "again later.")
            self.in_flight.add(key)
            return None

    def end_idempotent(self, key):
        with self.lock:
            self.in_flight.discard(key)

    def store_idempotent(self, key, fingerprint, status, body):
        """Inside a transaction (the lock held)."""
        if key is not None:
            self.db.execute(
                "INSERT INTO idempotency (key, fingerprint, status, body, "
                "created) VALUES (?, ?, ?, ?, ?)",
                (key, fingerprint, status, body, now()))

    # ------------------------------------------------------------ charges

    @staticmethod
    def card_of(number, exp_month, exp_year, name=None):
        """A stored card as parse_card gives it: the cvc was checked when
        the token was made and is kept nowhere (as a real vault does)."""
        return parse_card({"number": number, "exp_month": exp_month,
                           "exp_year": exp_year, "name": name,
                           "cvc": "0000" if card_brand(number) == "amex"
                           else "000"})

    def card_from_token(self, token):
        if token in BUILTIN_TOKENS:
            return self.card_of(BUILTIN_TOKENS[token], 12, 2099)
        if not isinstance(token, str) or not ID_RE.fullmatch(token):
            raise invalid("No such token.", "source", "resource_missing")
        rows = self.query("SELECT * FROM tokens WHERE id = ?", (token,))
        if not rows:
            raise invalid("No such token: '%s'." % token, "source",
                          "resource_missing")
        r = rows[0]
        return self.card_of(r["number"], r["exp_month"], r["exp_year"],
                            r["card_name"])

    def validate_charge(self, body):
        no_unknown(body, ("amount", "currency", "card", "source", "reference",
                          "description"))
        amount = body.get("amount")
        if not is_int(amount) or not 0 < amount <= MAX_AMOUNT:
            raise invalid("Invalid amount: a positive integer in the "
                          "currency's minor unit.", "amount",
                          "parameter_invalid_integer")
        currency = body.get("currency")
        if not isinstance(currency, str) or not CURRENCY_RE.fullmatch(
                currency):
            raise invalid("Invalid currency: a three-letter ISO code.",
                          "currency", "invalid_currency")
        text_param(body, "reference")
        text_param(body, "description")
        if ("card" in body) == ("source" in body):
            raise invalid("Give exactly one of card and source.", "card",
                          "parameter_missing")
        if "card" in body:
            return parse_card(body["card"])
        return self.card_from_token(body["source"])

    def create_charge(self, body, key, fingerprint, conn):
        """Returns (status, body bytes).  conn is the request handler, for
        the hang card."""
        card = self.validate_charge(body)
        number = card["number"]
        decline = DECLINES.get(number)
        if decline is None and expired(card):
            decline = "expired_card"
        if number == SLOW_CARD:
            self.stopping.wait(self.slow)
        charge_id = new_id("ch_")
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.execute(
                    "INSERT INTO charges (id, amount, currency, status, "
                    "reference, description, brand, last4, exp_month, "
                    "exp_year, card_name, failure_code, decline_code, "
                    "idempotency_key, created) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (charge_id, body["amount"], body["currency"].upper(),
                     "failed" if decline else "succeeded",
                     body.get("reference"), body.get("description"),
                     card["brand"], number[-4:], card["exp_month"],
                     card["exp_year"], card["name"],
                     "card_declined" if decline else None, decline, key,
                     now()))
                row = self.db.execute("SELECT * FROM charges WHERE id = ?",
                                      (charge_id,)).fetchone()
                if decline:
                    status = 402
                    answer = encode({"error": {
                        "type": "card_error", "code": "card_declined",
                        "decline_code": decline, "charge": charge_id,
                        "message": DECLINE_MESSAGES[decline]}})
                else:
                    status = 201
                    answer = encode(self.charge_object(row))
                self.store_idempotent(key, fingerprint, status, answer)
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        conn.note = "%s %s/%s%s" % (charge_id, card["brand"], number[-4:],
                                    " " + decline if decline else "")
        if number == HANG_CARD:
            conn.hang = True
        return status, answer

    def get_charge(self, charge_id):
        rows = self.query("SELECT * FROM charges WHERE id = ?", (charge_id,))
        if not rows:
            raise ApiError(404, "invalid_request_error",
                           "No such charge: '%s'." % charge_id, param="id",
                           code="resource_missing")
        return 200, encode(self.charge_object(rows[0]))

    def list_charges(self, params):
        limit = list_limit(params)
        if "idempotency_key" in params:
            rows = self.query("SELECT * FROM charges WHERE idempotency_key = ?"
                              " ORDER BY seq DESC LIMIT ?",
                              (params["idempotency_key"], limit + 1))
        elif "reference" in params:
            rows = self.query("SELECT * FROM charges WHERE reference = ? "
                              "ORDER BY seq DESC LIMIT ?",
                              (params["reference"], limit + 1))
        else:
            rows = self.query("SELECT * FROM charges ORDER BY seq DESC "
                              "LIMIT ?", (limit + 1,))
        return 200, encode({"object": "list", "url": "/v1/charges",
                            "has_more": len(rows) > limit,
                            "data": [self.charge_object(r)
                                     for r in rows[:limit]]})

    # ------------------------------------------------------------ refunds

    def create_refund(self, body, key, fingerprint, conn):
        no_unknown(body, ("charge", "amount", "reason"))
        charge_id = text_param(body, "charge", required=True)
        amount = body.get("amount")
        if amount is not None and (not is_int(amount) or not 0 < amount
                                   <= MAX_AMOUNT):
            raise invalid("Invalid amount: a positive integer.", "amount",
                          "parameter_invalid_integer")
        text_param(body, "reason")
        refund_id = new_id("re_")
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                charge = self.db.execute(
                    "SELECT * FROM charges WHERE id = ?",
                    (charge_id,)).fetchone()
                if charge is None:
                    raise invalid("No such charge: '%s'." % charge_id,
                                  "charge", "resource_missing")
                if charge["status"] != "succeeded":
                    raise invalid("Charge %s did not succeed: nothing to "
                                  "refund." % charge_id, "charge",
                                  "charge_not_refundable")
                left = charge["amount"] - charge["refunded_amount"]
                if left == 0:
                    raise invalid("Charge %s has already been refunded."
                                  % charge_id, "charge",
                                  "charge_already_refunded")
                if amount is None:
                    amount = left
                if amount > left:
                    raise invalid("Refund amount (%d) is greater than the "
                                  "unrefunded amount on the charge (%d)."
                                  % (amount, left), "amount",
                                  "amount_too_large")
                self.db.execute(
                    "INSERT INTO refunds (id, charge, amount, currency, "
                    "reason, idempotency_key, created) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?)",
                    (refund_id, charge_id, amount, charge["currency"],
                     body.get("reason"), key, now()))
                self.db.execute("UPDATE charges SET refunded_amount = "
                                "refunded_amount + ? WHERE id = ?",
                                (amount, charge_id))
                row = self.db.execute("SELECT * FROM refunds WHERE id = ?",
                                      (refund_id,)).fetchone()
                answer = encode(self.refund_object(row))
                self.store_idempotent(key, fingerprint, 201, answer)
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        conn.note = "%s of %s %d" % (refund_id, charge_id, amount)
        return 201, answer

    def get_refund(self, refund_id):
        rows = self.query("SELECT * FROM refunds WHERE id = ?", (refund_id,))
        if not rows:
            raise ApiError(404, "invalid_request_error",
                           "No such refund: '%s'." % refund_id, param="id",
                           code="resource_missing")
        return 200, encode(self.refund_object(rows[0]))

    def list_refunds(self, params):
        limit = list_limit(params)
        if "charge" in params:
            rows = self.query("SELECT * FROM refunds WHERE charge = ? "
                              "ORDER BY seq DESC LIMIT ?",
                              (params["charge"], limit + 1))
        else:
            rows = self.query("SELECT * FROM refunds ORDER BY seq DESC "
                              "LIMIT ?", (limit + 1,))
        return 200, encode({"object": "list", "url": "/v1/refunds",
                            "has_more": len(rows) > limit,
                            "data": [self.refund_object(r)
                                     for r in rows[:limit]]})

    # ------------------------------------------------------------- tokens

    def create_token(self, body, key, fingerprint, conn):
        no_unknown(body, ("card",))
        if "card" not in body:
            raise invalid("Missing required param: card.", "card",
                          "parameter_missing")
        card = parse_card(body["card"])
        token_id = new_id("tok_")
        answer = encode({"id": token_id, "object": "token",
                         "card": {"brand": card["brand"],
                                  "last4": card["number"][-4:],
                                  "exp_month": card["exp_month"],
                                  "exp_year": card["exp_year"],
                                  "name": card["name"]},
                         "created": now()})
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.execute(
                    "INSERT INTO tokens (id, number, exp_month, exp_year, "
                    "card_name, created) VALUES (?, ?, ?, ?, ?, ?)",
                    (token_id, card["number"], card["exp_month"],
                     card["exp_year"], card["name"], now()))
                self.store_idempotent(key, fingerprint, 201, answer)
                self.db.execute("COMMIT")
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
        conn.note = "%s %s/%s" % (token_id, card["brand"], card["number"][-4:])
        return 201, answer

    # -------------------------------------------------------------- admin

    def stats(self):
        out = {"charges": {"count": 0, "amount": 0},
               "refunds": {"count": 0, "amount": 0},
               "by_currency": {}, "declined": {"count": 0}}
        with self.lock:
            charges = self.db.execute(
                "SELECT currency, count(*) AS n, sum(amount) AS total "
                "FROM charges WHERE status = 'succeeded' GROUP BY currency"
            ).fetchall()
            refunds = self.db.execute(
                "SELECT currency, count(*) AS n, sum(amount) AS total "
                "FROM refunds GROUP BY currency").fetchall()
            declined = self.db.execute(
                "SELECT count(*) FROM charges WHERE status = 'failed'"
            ).fetchone()[0]
        out["declined"]["count"] = declined
        for kind, rows in (("charges", charges), ("refunds", refunds)):
            for r in rows:
                out[kind]["count"] += r["n"]
                out[kind]["amount"] += r["total"]
                cur = out["by_currency"].setdefault(
                    r["currency"], {"charges": {"count": 0, "amount": 0},
                                    "refunds": {"count": 0, "amount": 0}})
                cur[kind] = {"count": r["n"], "amount": r["total"]}
        return out


def list_limit(params):
    value = params.get("limit", "10")
    if not value.isdigit() or not 1 <= int(value) <= 100:
        raise invalid("limit must be an integer from 1 to 100.", "limit")
    return int(value)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT

    bank = None  # set by main

    def version_string(self):
        return "bellhop-fake-bank/1"

    # http.server's own lines would go to stderr unasked: ours instead
    def log_message(self, format, *args):
        pass

    def log_request(self, code="-", size="-"):
        pass

    def do_GET(self):
        self.serve("GET")

    def do_HEAD(self):
        self.serve("HEAD")

    def do_POST(self):
        self.serve("POST")

    def do_PUT(self):
        self.serve("PUT")

    def do_DELETE(self):
        self.serve("DELETE")

    def do_PATCH(self):
        self.serve("PATCH")

    def serve(self, method):
        self.bank.enter()
        try:
            self.answer(method)
        finally:
            self.bank.leave()

    def answer(self, method):
        started = time.monotonic()
        self.note = ""
        self.hang = False
        self.replayed = False
        extra_headers = {}
        try:
            status, body = self.route("GET" if method == "HEAD" else method)
        except ApiError as e:
            status, body = e.status, encode({"error": e.error})
            extra_headers = e.headers
        except Exception as e:  # a bug in the fake: say so, keep serving
            log("bank.py: internal error on %s %s: %r"
                % (method, self.path_only(), e))
            status = 500
            body = encode({"error": {"type": "api_error",
                                     "message": "internal error"}})
        if self.hang:
            self.log_line(method, "hang", started)
            self.close_connection = True
            self.bank.stopping.wait(self.bank.hang)
            self.log_line(method, "hang-closed", started)
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Request-Id", new_id("req_"))
        if self.replayed:
            self.send_header("Idempotent-Replayed", "true")
        for name, value in extra_headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        # logged first: a client gone before the answer still leaves the
        # charge it asked for in the log
        self.log_line(method, status, started)
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(body)

    def path_only(self):
        return urllib.parse.urlsplit(self.path).path

    def log_line(self, method, status, started):
        ms = (time.monotonic() - started) * 1000
        log("%s %s %s %s %.1fms%s%s" % (
            datetime.datetime.now(datetime.timezone.utc)
            .strftime("%Y-%m-%dT%H:%M:%SZ"), method, self.path_only(), status,
            ms, " replayed" if self.replayed else "",
            " " + self.note if self.note else ""))

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self.read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        if not length.isdigit():
            self.close_connection = True
            raise invalid("Bad Content-Length.")
        length = int(length)
        if length > MAX_BODY:
            self.close_connection = True
            raise ApiError(413, "invalid_request_error",
                           "The body is larger than %d bytes." % MAX_BODY)
        return self.rfile.read(length)

    def read_chunked(self):
        data = b""
        while True:
            line = self.rfile.readline(100).split(b";")[0].strip()
            try:
                size = int(line, 16)
            except ValueError:
                self.close_connection = True
                raise invalid("Bad chunked body.")
            if size == 0:
                while self.rfile.readline(1000).strip():
                    pass
                return data
            if len(data) + size > MAX_BODY:
                self.close_connection = True
                raise ApiError(413, "invalid_request_error",
                               "The body is larger than %d bytes."
                               % MAX_BODY)
            data += self.rfile.read(size)
            self.rfile.readline(10)

    def authorized(self):
        value = self.headers.get("Authorization", "")
        scheme, _, given = value.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), self.server.secret.encode())

    def route(self, method):
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        try:
            params = dict(urllib.parse.parse_qsl(url.query,
                                                 keep_blank_values=True,
                                                 strict_parsing=False))
        except ValueError:
            params = {}
        raw = self.read_body() if method in ("POST", "PUT", "PATCH") else b""
        bank = self.bank

        if path == "/health":
            return self.only(method, "GET", lambda: (200, encode(
                {"status": "ok", "unavailable": bank.unavailable})))
        if path == "/admin/stats":
            return self.only(method, "GET",
                             lambda: (200, encode(bank.stats())))
        if path == "/admin/outage":
            return self.only(method, "POST", lambda: self.outage(raw))
        if not path.startswith("/v1/"):
            raise ApiError(404, "invalid_request_error",
                           "Unrecognized request URL (%s %s)."
                           % (method, path), code="unrecognized_request_url")

        if bank.unavailable:
            e = ApiError(503, "api_error", "The bank is unavailable; try "
                         "again later.", code="service_unavailable")
            e.headers["Retry-After"] = "1"
            raise e
        if not self.authorized():
            e = ApiError(401, "authentication_error",
                         "Invalid API key: give 'Authorization: Bearer "
                         "<secret key>'.")
            e.headers["WWW-Authenticate"] = 'Bearer realm="bank"'
            raise e

        parts = path[4:].split("/")
        if len(parts) == 1 and parts[0] in ("charges", "refunds", "tokens"):
            if method == "POST":
                create = {"charges": bank.create_charge,
                          "refunds": bank.create_refund,
                          "tokens": bank.create_token}[parts[0]]
                return self.idempotent(path, raw, create)
            if method == "GET" and parts[0] != "tokens":
                lister = {"charges": bank.list_charges,
                          "refunds": bank.list_refunds}[parts[0]]
                return lister(params)
            raise self.not_allowed(method, path)
        if (len(parts) == 2 and parts[0] in ("charges", "refunds")
                and ID_RE.fullmatch(parts[1])):
            if method != "GET":
                raise self.not_allowed(method, path)
            if parts[0] == "charges":
                return bank.get_charge(parts[1])
            return bank.get_refund(parts[1])
        raise ApiError(404, "invalid_request_error",
                       "Unrecognized request URL (%s %s)." % (method, path),
                       code="unrecognized_request_url")

    def only(self, method, allowed, action):
        if method != allowed:
            raise self.not_allowed(method, self.path_only())
        return action()

    @staticmethod
    def not_allowed(method, path):
        return ApiError(405, "invalid_request_error",
                        "%s is not allowed on %s." % (method, path),
                        code="method_not_allowed")

    def outage(self, raw):
        body = parse_json(raw)
        value = body.get("unavailable")
        if not isinstance(value, bool):
            raise invalid("unavailable must be true or false.", "unavailable")
        self.bank.unavailable = value
        log("outage %s" % ("on" if value else "off"))
        return 200, encode({"unavailable": value})

    def idempotent(self, path, raw, create):
        body = parse_json(raw)
        key = self.headers.get("Idempotency-Key")
        if key is None:
            return create(body, None, None, self)
        if not KEY_RE.fullmatch(key):
            raise invalid("Idempotency-Key must be 1 to 255 printable ASCII "
                          "characters.", code="idempotency_key_invalid")
        fingerprint = "POST %s %s" % (path, json.dumps(body, sort_keys=True,
                                                      separators=(",", ":")))
        stored = self.bank.begin_idempotent(key, fingerprint)
        if stored is not None:
            self.replayed = True
            return stored
        try:
            return create(body, key, fingerprint, self)
        finally:
            self.bank.end_idempotent(key)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # main waits for active requests itself
    request_queue_size = 256

    def handle_error(self, request, client_address):
        # a client gone before its answer is the client's business: one
        # line, not socketserver's traceback
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            log("client %s:%d gone: %s" % (client_address[0],
                                           client_address[1],
                                           type(exc).__name__))
            return
        log("bank.py: error serving %s:%d: %r" % (client_address[0],
                                                  client_address[1], exc))


def parse_listen(value):
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % value)
    return host.strip("[]"), int(port)


def read_secret(path):
    with open(path, encoding="utf-8") as f:
        secret = f.readline().strip()
    if not secret:
        raise ValueError("%s holds no secret on its first line" % path)
    return secret


def main():
    parser = argparse.ArgumentParser(description="bellhop's fake bank")
    parser.add_argument("--listen", type=parse_listen,
                        default=("127.0.0.1", 8402), help="HOST:PORT")
    parser.add_argument("--dir", required=True,
                        help="where the state (bank.sqlite3) is kept")
    parser.add_argument("--secret-file", required=True,
                        help="file whose first line is the secret key")
    parser.add_argument("--slow-ms", type=int, default=1500,
                        help="how long the slow card takes (ms)")
    parser.add_argument("--hang-seconds", type=float, default=30,
                        help="how long the hang card holds the connection")
    args = parser.parse_args()
    if args.slow_ms < 0 or args.hang_seconds < 0:
        parser.error("--slow-ms and --hang-seconds must not be negative")
    try:
        secret = read_secret(args.secret_file)
        bank = Bank(args.dir, args.slow_ms, args.hang_seconds)
        server = Server(args.listen, Handler)
    except (OSError, ValueError, sqlite3.Error) as e:
        log("bank.py: %s" % e)
        return 1
    server.secret = secret
    Handler.bank = bank

    def stop(signum, frame):
        # shutdown() waits for serve_forever, which runs in this thread
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host, port = server.server_address[:2]
    print("listening on %s:%d" % (host, port), flush=True)
    log("listening on %s:%d" % (host, port))
    server.serve_forever(poll_interval=0.2)
    log("stopping")
    bank.stopping.set()  # a hang or a slow card ends now
    server.server_close()
    # requests being answered finish (a hang or slow card ends at once)
    deadline = time.monotonic() + 2
    while bank.active > 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    bank.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
