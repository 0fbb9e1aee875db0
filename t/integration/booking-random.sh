#!/bin/bash
# booking-random.sh - a few thousand random hold, pay and cancel
# operations from 8 parallel clients (4 guests, two clients each, sharing
# their reservations, so that one pays what the other cancels) over a
# small hotel (2 room types, 3 rooms, stays in a 20-day window), behind
# nginx, with holds short enough (BH_HOLD_SECONDS=20) to expire during the
# run.  Every answer must be one the contract allows (no 5xx, no 202: the
# bank answers at once).  Then: no two live reservations of a room
# overlap; no reservation is left payment_pending; the bank's charges
# minus refunds equal the payments recorded (succeeded payments minus
# succeeded refunds in bellhop_payments) and equal the confirmed
# reservations' totals.  The stays start two months ahead, so that every
# cancellation refunds all (docs/reservations.md: free until
# BH_CANCEL_FREE_HOURS before check-in): no fee is kept.
# BH_RANDOM_OPS (default 2400) and BH_RANDOM_SEED make a run repeatable
# in its choices (not in its timing).
. "$(dirname "$0")/../lib/harness.sh"
# shellcheck source=../lib/booking.sh
. "$BH_SRCDIR/t/lib/booking.sh"

OPS=${BH_RANDOM_OPS:-2400}
SEED=${BH_RANDOM_SEED:-$RANDOM}
CLIENTS=8
WINDOW_START=60
WINDOW_DAYS=20

export BH_ACCESS_TOKEN_TTL=3600
export BH_HOLD_SECONDS=20
export BH_CANCEL_FREE_HOURS=48
stack_up nginx --workers 4 || bail "the stack did not come up"

booking_guests g0 g1 g2 g3 || bail "no guests: nothing else can be checked"
booking_hotel "Random Hotel" '[
	{"name": "Double", "capacity": 2, "nightly_rate": 10100, "room_numbers": ["1", "2"]},
	{"name": "Suite", "capacity": 3, "nightly_rate": 25300, "room_numbers": ["3"]}
]' || bail "no hotel: nothing else can be checked"

note "seed $SEED, $OPS operations, $CLIENTS clients"

cat >"$BH_SCRATCH/driver.py" <<'EOF'
"""Random hold/pay/cancel operations against reservations (stdlib only)."""
import datetime
import http.client
import json
import random
import sys
import threading
import time

cfg = json.load(sys.stdin)
host, port = cfg["host"], cfg["port"]
deadline = time.monotonic() + cfg["seconds"]
start = datetime.date.today() + datetime.timedelta(days=cfg["window_start"])
year = datetime.date.today().year + 3

# The statuses the contract allows for each operation.
ALLOWED = {
    "hold": {201, 409},
    "pay": {200, 402, 409},
    "cancel": {200, 409},
    "get": {200},
}

lock = threading.Lock()
counts = {}        # "op status" -> n
unexpected = []    # first few answers the contract does not allow
reservations = {g: {} for g in range(len(cfg["tokens"]))}  # guest -> id -> status
done = [0]
budget = [cfg["ops"]]


def take_op():
    with lock:
        if budget[0] <= 0:
            return False
        budget[0] -= 1
        return True


class Client:
    def __init__(self, guest, seed):
        self.guest = guest
        self.rng = random.Random(seed)
        self.token = cfg["tokens"][guest]
        self.conn = None

    def request(self, method, path, body=None):
        headers = {"Authorization": "Bearer " + self.token}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(host, port, timeout=60)
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                try:
                    doc = json.loads(raw) if raw else None
                except ValueError:
                    doc = None
                return resp.status, doc, raw
            except (OSError, http.client.HTTPException) as e:
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                # a kept-alive connection the server closed: once more,
                # only for a request that cannot have been processed
                if attempt == 0 and isinstance(e, (http.client.RemoteDisconnected,
                                                   BrokenPipeError, ConnectionResetError)) \
                        and method == "GET":
                    continue
                return 0, None, repr(e).encode()
        return 0, None, b"no answer"

    def record(self, op, status, raw, detail):
        key = "%s %d" % (op, status)
        with lock:
            counts[key] = counts.get(key, 0) + 1
            done[0] += 1
            if status not in ALLOWED[op] and len(unexpected) < 30:
                unexpected.append({"op": op, "status": status, "detail": detail,
                                   "body": raw[:400].decode("utf-8", "replace")})

    def mine(self, wanted):
        with lock:
            ids = [i for i, s in reservations[self.guest].items() if s in wanted]
        return self.rng.choice(ids) if ids else None

    def note(self, rid, status):
        if rid and status:
            with lock:
                reservations[self.guest][rid] = status

    def hold(self):
        rng = self.rng
        rt = rng.choice(cfg["room_types"])
        nights = rng.randint(1, 3)
        first = rng.randint(0, cfg["window_days"] - nights)
        checkin = start + datetime.timedelta(days=first)
        checkout = checkin + datetime.timedelta(days=nights)
        body = {"hotel_id": cfg["hotel_id"], "room_type_id": rt["id"],
                "checkin": checkin.isoformat(), "checkout": checkout.isoformat(),
                "guests": rng.randint(1, rt["capacity"])}
        if rng.random() < 0.2:
            # a client-sent price and status are ignored
            body.update({"total": 1, "nightly_rate": 1, "status": "confirmed"})
        status, doc, raw = self.request("POST", "/reservations/reservations", body)
        self.record("hold", status, raw, body)
        if status == 201 and isinstance(doc, dict):
            self.note(doc.get("id"), doc.get("status"))
            want = rt["rate"] * nights
            if doc.get("total") != want or doc.get("status") != "held":
                with lock:
                    if len(unexpected) < 30:
                        unexpected.append({"op": "hold", "status": status,
                                           "detail": "total %s, not %d" % (doc.get("total"), want),
                                           "body": raw[:400].decode("utf-8", "replace")})

    def pay(self):
        rng = self.rng
        rid = self.mine({"held"}) if rng.random() < 0.85 else self.mine(
            {"held", "confirmed", "cancelled", "expired"})
        if rid is None:
            return self.hold()
        r = rng.random()
        number = cfg["card_declined"] if r < 0.12 else (
            cfg["card_mastercard"] if r < 0.2 else cfg["card_ok"])
        card = {"number": number, "exp_month": 12, "exp_year": year,
                "cvc": "123", "holder": "Random Guest"}
        status, doc, raw = self.request("POST", "/reservations/reservations/%s/payment" % rid, {"card": card})
        self.record("pay", status, raw, rid)
        if status == 200 and isinstance(doc, dict):
            self.note(rid, doc.get("status"))
        elif status == 409:
            self.refresh(rid)

    def cancel(self):
        rid = self.mine({"held", "confirmed"})
        if rid is None:
            return self.hold()
        status, doc, raw = self.request("POST", "/reservations/reservations/%s/cancel" % rid)
        self.record("cancel", status, raw, rid)
        if status == 200 and isinstance(doc, dict):
            self.note(rid, doc.get("status"))

    def refresh(self, rid):
        status, doc, raw = self.request("GET", "/reservations/reservations/%s" % rid)
        self.record("get", status, raw, rid)
        if status == 200 and isinstance(doc, dict):
            self.note(rid, doc.get("status"))

    def run(self):
        while time.monotonic() < deadline and take_op():
            r = self.rng.random()
            if r < 0.42:
                self.hold()
            elif r < 0.77:
                self.pay()
            elif r < 0.95:
                self.cancel()
            else:
                rid = self.mine({"held", "confirmed", "cancelled", "expired"})
                if rid:
                    self.refresh(rid)
                else:
                    self.hold()


def all_reservations(client):
    """Every reservation of the client's guest, through GET /reservations."""
    out, page = [], 1
    while page < 1000:
        status, doc, raw = client.request("GET", "/reservations/reservations?page=%d&per_page=50" % page)
        if status != 200 or not isinstance(doc, dict):
            raise SystemExit("GET /reservations page %d: %d %r" % (page, status, raw[:300]))
        batch = doc.get("reservations") or []
        out.extend(batch)
        if not batch or len(out) >= doc.get("total", 0):
            break
        page += 1
    return out


began = time.monotonic()
clients = [Client(i % len(cfg["tokens"]), cfg["seed"] * 100 + i) for i in range(cfg["clients"])]
threads = [threading.Thread(target=c.run) for c in clients]
for t in threads:
    t.start()
for t in threads:
    t.join()
elapsed = time.monotonic() - began

listed = []
for g in range(len(cfg["tokens"])):
    listed.extend(all_reservations(clients[g]))
known = set()
for g in reservations.values():
    known.update(g)

by_status = {}
for r in listed:
    by_status[r["status"]] = by_status.get(r["status"], 0) + 1
print(json.dumps({
    "ops": done[0],
    "elapsed": round(elapsed, 1),
    "counts": dict(sorted(counts.items())),
    "unexpected": unexpected,
    "listed": len(listed),
    "known_missing": len(known - {r["id"] for r in listed}),
    "by_status": by_status,
    "confirmed_total": sum(r["total"] for r in listed if r["status"] == "confirmed"),
    "cancelled_paid": [r for r in listed if r["status"] == "cancelled" and r.get("payment")],
    "kept_fees": sum(r["total"] - (r.get("refund") or {}).get("amount", 0)
                     for r in listed if r["status"] == "cancelled" and r.get("payment")),
}))
EOF

CFG=$(jq -nc --arg host 127.0.0.1 --argjson port "$PORT" --argjson hotel "$HOTEL_ID" \
	--argjson double "${ROOM_TYPE[Double]}" --argjson suite "${ROOM_TYPE[Suite]}" \
	--argjson ops "$OPS" --argjson seed "$SEED" --argjson clients "$CLIENTS" \
	--argjson ws "$WINDOW_START" --argjson wd "$WINDOW_DAYS" \
	--arg ok "$CARD_OK" --arg mc "$CARD_MASTERCARD" --arg dec "$CARD_DECLINED" \
	--arg t0 "${GUEST_TOKEN[g0]}" --arg t1 "${GUEST_TOKEN[g1]}" \
	--arg t2 "${GUEST_TOKEN[g2]}" --arg t3 "${GUEST_TOKEN[g3]}" '{
	host: $host, port: $port, hotel_id: $hotel, ops: $ops, seed: $seed, clients: $clients,
	seconds: 150, window_start: $ws, window_days: $wd,
	room_types: [{id: $double, capacity: 2, rate: 10100}, {id: $suite, capacity: 3, rate: 25300}],
	card_ok: $ok, card_mastercard: $mc, card_declined: $dec,
	tokens: [$t0, $t1, $t2, $t3] }')

timeout -k 5 200 /usr/bin/python3 "$BH_SCRATCH/driver.py" <<<"$CFG" \
	>"$BH_SCRATCH/summary.json" 2>"$BH_SCRATCH/driver.err"
rc=$?
S=$BH_SCRATCH/summary.json
check "the driver ran to its end (exit $rc)" bash -c \
	'[ "$1" = 0 ] && jq -e .ops "$2" >/dev/null || { head -c 2000 "$3"; exit 1; }' _ \
	"$rc" "$S" "$BH_SCRATCH/driver.err"
[ $rc = 0 ] || bail "no summary: nothing else can be checked"
note "$(jq -c '{ops, elapsed, counts, by_status}' "$S")"
check "at least 2000 operations ran ($(jq .ops "$S") in $(jq .elapsed "$S") s)" \
	jq -e '.ops >= 2000' "$S"
check "every answer is one the contract allows (no 5xx, no 202)" \
	jq -e '.unexpected == []' "$S"
check "... holds won and lost, payments made and declined, cancels made" jq -e \
	'.counts["hold 201"] > 0 and .counts["hold 409"] > 0 and .counts["pay 200"] > 0
	 and .counts["pay 402"] > 0 and .counts["cancel 200"] > 0' "$S"
check "GET /reservations lists every reservation the clients made" \
	jq -e '.known_missing == 0 and .listed > 0' "$S"
check "no reservation is left payment_pending" jq -e '.by_status.payment_pending // 0 | . == 0' "$S"
check "no two live reservations of a room overlap" no_overlaps
check "the reservations database agrees: no live pair overlaps, counted in SQL" test \
	"$(res_psql -c "SELECT count(*) FROM reservations a JOIN reservations b
		ON a.room_id = b.room_id AND a.id < b.id AND a.stay && b.stay
		AND a.status IN ($LIVE_STATUSES) AND b.status IN ($LIVE_STATUSES)")" = 0
check "every paid cancellation refunded the whole total (no fee kept)" jq -e '.kept_fees == 0' "$S"

# The money, three ways.
read -r charges charged refunds refunded <<<"$(bank_counts)"
BANK_NET=$((charged - refunded))
PAID=$(pay_psql -c "SELECT coalesce(sum(amount), 0) FROM payments WHERE status = 'succeeded'")
REFUNDED=$(pay_psql -c "SELECT coalesce(sum(amount), 0) FROM refunds WHERE status = 'succeeded'")
PAY_NET=$((PAID - REFUNDED))
CONFIRMED=$(jq .confirmed_total "$S")
note "bank: $charges charges ($charged), $refunds refunds ($refunded); payments: paid $PAID, refunded $REFUNDED; confirmed totals $CONFIRMED"
check "bank charges minus refunds = payments' recorded net ($BANK_NET = $PAY_NET)" \
	test "$BANK_NET" = "$PAY_NET"
check "... = the confirmed reservations' totals ($PAY_NET = $CONFIRMED)" \
	test "$PAY_NET" = "$CONFIRMED"
check "... and the reservations database says the same" test "$CONFIRMED" = \
	"$(res_psql -c "SELECT coalesce(sum(total), 0) FROM reservations WHERE status = 'confirmed'")"
check "one bank charge per payment recorded" test "$charges" = \
	"$(pay_psql -c "SELECT count(*) FROM payments WHERE status = 'succeeded'")"
check "no payment is left pending" test \
	"$(pay_psql -c "SELECT count(*) FROM payments WHERE status = 'pending'")" = 0
finish
