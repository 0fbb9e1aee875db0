#!/bin/bash
# reports.sh - the reports service behind nginx: the receipt and the
# invoice render as PDFs that pdfinfo opens cleanly and whose text
# (pdftotext, with no error or warning but libharu's known CMap one)
# holds every name, date, night and amount, in UTF-8
# ("Zürich", "São Paulo", "Kraków", "Ελληνικό", "Åre"), amounts per
# currency (EUR 2 decimals, JPY 0, BHD 3), long names wrapped with nothing
# cut, a long stay over several pages with the table's header repeated;
# bad data (missing field, wrong type, bad UTF-8, malformed JSON, an
# oversized body, another media type) is a 4xx problem naming the field;
# unknown templates 404 and "../etc/passwd" style names are refused;
# tokens: none, forged, another audience (401), another scope (403);
# concurrent renders; a broken template stops the program at start,
# saying which file and what.
. "$(dirname "$0")/../lib/harness.sh"

# Reports needs only auth for its tokens: a lean stack.
export BH_STACK_SERVICES="auth reports"

bearer() {
	printf 'Authorization: Bearer %s' "$1"
}

# The one message poppler prints for every PDF libharu 2.3.0 makes with a
# TrueType font (its ToUnicode CMap; the text comes out right all the
# same: docs/reports.md).  Any other line on pdftotext's stderr fails.
KNOWN_POPPLER_WARNING="Syntax Warning: Invalid 'begincidrange' operator in ToUnicode CMap"

# pdftotext_clean NAME: what pdftotext printed on stderr for NAME.pdf
# ($BH_SCRATCH/NAME.pdftotext.err) is nothing but the known warning;
# prints the rest otherwise.
pdftotext_clean() {
	local rest
	rest=$(grep -vxF -- "$KNOWN_POPPLER_WARNING" "$BH_SCRATCH/$1.pdftotext.err")
	[ -z "$rest" ] || { printf '%s\n' "$rest" | head -n 5; return 1; }
}

# render NAME TEMPLATE JSON-FILE: POST the data, expect a PDF; keeps it in
# $BH_SCRATCH/NAME.pdf and its text in $BH_SCRATCH/NAME.txt (-layout) and
# NAME.raw (-raw); pdftotext must not complain (pdftotext_clean).
render() {
	local name=$1 template=$2 data=$3 err=$BH_SCRATCH/$1.pdftotext.err
	expect_status "$name: 200" 200 POST "/reports/$template" \
		-H "$(bearer "$TOKEN")" -H 'Content-Type: application/json' \
		--data-binary "@$data" || return 1
	cp "$RESP_BODY_FILE" "$BH_SCRATCH/$name.pdf"
	expect_content_type "$name: application/pdf" application/pdf
	pdftotext -layout "$BH_SCRATCH/$name.pdf" "$BH_SCRATCH/$name.txt" 2>"$err"
	pdftotext -raw "$BH_SCRATCH/$name.pdf" "$BH_SCRATCH/$name.raw" 2>>"$err"
	check "$name: pdftotext reads it without an error or a warning (but libharu's known one)" \
		pdftotext_clean "$name"
}

# pdf_opens NAME: pdfinfo reads the PDF without an error or a warning.
pdf_opens() {
	local f=$BH_SCRATCH/$1.pdf
	pdfinfo "$f" >"$BH_SCRATCH/$1.info" 2>"$BH_SCRATCH/$1.info.err" &&
		[ ! -s "$BH_SCRATCH/$1.info.err" ] &&
		grep -q '^Pages: ' "$BH_SCRATCH/$1.info" &&
		[ "$(head -c 5 "$f")" = "%PDF-" ]
}

# pdf_pages NAME: the page count pdfinfo gives.
pdf_pages() {
	sed -n 's/^Pages: *//p' "$BH_SCRATCH/$1.info"
}

# text_has NAME STRING...: each STRING is in the PDF's text (fixed
# strings, any line).
text_has() {
	local name=$1 s
	shift
	for s in "$@"; do
		grep -qF -- "$s" "$BH_SCRATCH/$name.txt" || {
			echo "not in the text of $name.pdf: '$s'"
			return 1
		}
	done
}

# text_lacks NAME STRING: STRING is nowhere in the PDF's text.
text_lacks() {
	! grep -qF -- "$2" "$BH_SCRATCH/$1.txt"
}

# receipt_data FILE NIGHTS CURRENCY RATE [GUEST] [HOTEL] [CITY]: the data
# reservations sends for a stay of NIGHTS nights from 2027-01-10.
receipt_data() {
	local file=$1 nights=$2 currency=$3 rate=$4
	local guest=${5:-Zoë Åberg} hotel=${6:-Hotel Ελληνικό Zürich} city=${7:-São Paulo}
	jq -n --argjson nights "$nights" --arg currency "$currency" \
		--argjson rate "$rate" --arg guest "$guest" --arg hotel "$hotel" \
		--arg city "$city" '
		def day($n): (1799539200 + $n * 86400) | strftime("%Y-%m-%d");
		{number: "3f1c7a52-4b1e-4c8e-9d2a-0b6f1e2d3c4b",
		 issued_at: "2027-01-02T10:00:00Z",
		 guest: {name: $guest, email: "zoe@example.com"},
		 hotel: {name: $hotel, address: "Rynek Główny 1, Kraków",
		         city: $city, country: "Åre, Sweden"},
		 stay: {checkin: day(0), checkout: day($nights), nights: $nights,
		        room_type: "Double", guests: 2},
		 lines: [range(0; $nights) | {date: day(.),
		         description: ("Double, night of " + day(.)), amount: $rate}],
		 currency: $currency, total: ($rate * $nights),
		 payment: {brand: "visa", last4: "4242",
		           paid_at: "2027-01-02T09:59:58Z", reference: "ch_3Nx8aF"}}' >"$file"
}

stack_up nginx || bail "the stack did not come up"
TOKEN=$(client_token reservations reports:render) || bail "no token for reservations"
JSON=(-H "$(bearer "$TOKEN")" -H 'Content-Type: application/json')

expect_status "reports: /reports/health is 200" 200 GET /reports/health

# ------------------------------------------------------------- the receipt

receipt_data "$BH_SCRATCH/r3.json" 3 EUR 11700
render receipt-eur receipt "$BH_SCRATCH/r3.json"
expect_header "receipt: Content-Disposition names the file" Content-Disposition \
	'inline; filename="receipt.pdf"'
check "receipt: pdfinfo opens it cleanly, 1 page" \
	eval 'pdf_opens receipt-eur && [ "$(pdf_pages receipt-eur)" = 1 ]'
check "receipt: guest, hotel, city and country in UTF-8" \
	text_has receipt-eur "Zoë Åberg" "Hotel Ελληνικό Zürich" "São Paulo" \
	"Rynek Główny 1, Kraków" "Åre, Sweden" "zoe@example.com"
check "receipt: the dates of the stay" \
	text_has receipt-eur "2027-01-10" "2027-01-13" "Issued 2027-01-02 10:00 UTC"
check "receipt: each night, its date and amount" \
	text_has receipt-eur "Double, night of 2027-01-10" \
	"Double, night of 2027-01-11" "Double, night of 2027-01-12" "117.00 EUR"
check "receipt: the number of nights and the total" \
	text_has receipt-eur "Total (3 nights)" "351.00 EUR"
check "receipt: the card brand and its last four digits" \
	text_has receipt-eur "VISA ending in 4242" "ch_3Nx8aF"
check "receipt: the reservation number" \
	text_has receipt-eur "3f1c7a52-4b1e-4c8e-9d2a-0b6f1e2d3c4b"
check "receipt: no card number" text_lacks receipt-eur "4242424242424242"

# the same data twice: the same bytes
http POST /reports/receipt "${JSON[@]}" --data-binary "@$BH_SCRATCH/r3.json"
check "receipt: the same data gives the same document" \
	cmp -s "$RESP_BODY_FILE" "$BH_SCRATCH/receipt-eur.pdf"

# amounts per currency
receipt_data "$BH_SCRATCH/jpy.json" 3 JPY 15000
render receipt-jpy receipt "$BH_SCRATCH/jpy.json"
check "receipt in JPY: no decimals" \
	text_has receipt-jpy "15,000 JPY" "45,000 JPY"
receipt_data "$BH_SCRATCH/bhd.json" 2 BHD 45250
render receipt-bhd receipt "$BH_SCRATCH/bhd.json"
check "receipt in BHD: three decimals" \
	text_has receipt-bhd "45.250 BHD" "90.500 BHD"
receipt_data "$BH_SCRATCH/big.json" 2 EUR 123456789
render receipt-big receipt "$BH_SCRATCH/big.json"
check "receipt: thousands grouped" \
	text_has receipt-big "1,234,567.89 EUR" "2,469,135.78 EUR"

# a long stay: every night listed, over several pages, the header repeated
receipt_data "$BH_SCRATCH/long.json" 90 EUR 9900
render receipt-long receipt "$BH_SCRATCH/long.json"
check "long stay: pdfinfo opens it, more than one page" \
	eval 'pdf_opens receipt-long && [ "$(pdf_pages receipt-long)" -ge 2 ]'
missing=0
for i in $(seq 0 89); do
	d=$(date -u -d "@$((1799539200 + i * 86400))" +%F)
	grep -qF "Double, night of $d" "$BH_SCRATCH/receipt-long.txt" || missing=$((missing + 1))
done
check "long stay: all 90 nights listed ($missing missing)" test "$missing" = 0
check "long stay: the total" text_has receipt-long "Total (90 nights)" "8,910.00 EUR"
check "long stay: the table's header on page 2 too" eval \
	'pdftotext -f 2 -l 2 "$BH_SCRATCH/receipt-long.pdf" - 2>/dev/null | grep -q "^Description"'

# long names wrap: every word there, on more than one line
long_hotel="Grand Hotel Ελληνικό Riviera Palace and Conference Centre of the Old Town of Kraków by the River Vistula with Views of Wawel Castle"
long_guest="Maria Åsa Zürcher-São Paulo de la Kraków y Ελληνικό"
long_word=$(printf 'Z%.0s' $(seq 1 120))
receipt_data "$BH_SCRATCH/wrap.json" 1 EUR 10000 "$long_guest $long_word" "$long_hotel"
render receipt-wrap receipt "$BH_SCRATCH/wrap.json"
check "long names: pdfinfo opens it" pdf_opens receipt-wrap
words_missing=
for w in $long_hotel $long_guest; do
	grep -qF -- "$w" "$BH_SCRATCH/receipt-wrap.raw" || words_missing+=" $w"
done
check "long names: every word is there (missing:${words_missing:- none})" test -z "$words_missing"
check "long names: the hotel's name is wrapped" \
	eval '! grep -qF "$long_hotel" "$BH_SCRATCH/receipt-wrap.raw"'
check "long names: a word longer than a line is cut, not lost" eval \
	'[ "$(tr -cd Z <"$BH_SCRATCH/receipt-wrap.raw" | wc -c)" -ge 120 ]'

# ------------------------------------------------------------- the invoice

jq -n '{number: "INV-2027-0042", issued_on: "2027-02-01", due_on: "2027-03-03",
	seller: {name: "Hôtel Åre Fjällby", address: "Storlienvägen 1",
	         city: "Åre", country: "Sweden", vat_id: "SE556677889901"},
	buyer: {name: "Ελληνικό Travel S.A.", address: "Leoforos Posidonos 5, Ελληνικό",
	        email: "billing@example.gr"},
	lines: [{description: "Conference room, 2 days", quantity: 2, unit_amount: 150000, amount: 300000},
	        {description: "Coffee breaks", quantity: 40, unit_amount: 450, amount: 18000}],
	currency: "EUR", subtotal: 318000, tax: {label: "VAT 12%", amount: 38160},
	total: 356160, notes: "Payable within 30 days to IBAN SE00 0000 0000."}' >"$BH_SCRATCH/invoice.json"
render invoice invoice "$BH_SCRATCH/invoice.json"
check "invoice: pdfinfo opens it cleanly" pdf_opens invoice
check "invoice: seller, buyer, lines and totals" \
	text_has invoice "Hôtel Åre Fjällby" "Ελληνικό Travel S.A." "INV-2027-0042" \
	"1 February 2027" "3 March 2027" "SE556677889901" "Conference room, 2 days" \
	"1,500.00 EUR" "3,000.00 EUR" "4.50 EUR" "VAT 12%" "381.60 EUR" \
	"3,180.00 EUR" "3,561.60 EUR" "Payable within 30 days"
jq 'del(.tax, .due_on, .notes, .seller.vat_id)' "$BH_SCRATCH/invoice.json" >"$BH_SCRATCH/invoice2.json"
render invoice-bare invoice "$BH_SCRATCH/invoice2.json"
check "invoice without the optional parts: no VAT line, no due date" \
	eval 'pdf_opens invoice-bare && text_lacks invoice-bare "VAT" && text_lacks invoice-bare "Due "'

# ----------------------------------------------------------------- bad data

# bad NAME PARAM JQ-EDIT: the receipt's data edited is a 400 naming PARAM.
bad() {
	local name=$1 param=$2 edit=$3
	jq "$edit" "$BH_SCRATCH/r3.json" >"$BH_SCRATCH/bad.json"
	expect_problem "bad data: $name is a 400" 400 invalid-parameter \
		POST /reports/receipt "${JSON[@]}" --data-binary "@$BH_SCRATCH/bad.json"
	expect_jq "bad data: $name names $param" '.param == $p' --arg p "$param"
}
bad "a missing guest name" guest.name 'del(.guest.name)'
bad "a missing total" total 'del(.total)'
bad "a missing object" payment 'del(.payment)'
bad "nights as a string" stay.nights '.stay.nights = "3"'
bad "nights as a fraction" stay.nights '.stay.nights = 2.5'
bad "a guest as a string" guest '.guest = "Zoë"'
bad "an amount as a string" 'lines[1].amount' '.lines[1].amount = "117.00"'
bad "a line that is not an object" 'lines[2]' '.lines[2] = 7'
bad "no lines" lines '.lines = []'
bad "an impossible date" stay.checkin '.stay.checkin = "2027-02-30"'
bad "a time without its zone" issued_at '.issued_at = "2027-01-02T10:00:00"'
bad "an unknown currency" currency '.currency = "XXQ"'
bad "a control character" guest.name '.guest.name = "Zo\u0007e"'
bad "a name too long" guest.name ".guest.name = \"$(printf 'a%.0s' $(seq 1 201))\""
bad "last4 of 5 digits" payment.last4 '.payment.last4 = "42424"'
jq '.guest.nickname = "Z" | .extra = [1, {"a": null}]' "$BH_SCRATCH/r3.json" >"$BH_SCRATCH/extra.json"
expect_status "extra members are ignored" 200 POST /reports/receipt "${JSON[@]}" \
	--data-binary "@$BH_SCRATCH/extra.json"

printf '{"number": "\xff\xfe"}' >"$BH_SCRATCH/latin1.json"
expect_problem "bad UTF-8 is a 400" 400 'malformed-body|bad-request|invalid-parameter' \
	POST /reports/receipt "${JSON[@]}" --data-binary "@$BH_SCRATCH/latin1.json"
expect_problem "malformed JSON is a 400" 400 'malformed-body|bad-request' \
	POST /reports/receipt "${JSON[@]}" --data-binary '{"number": "x",'
expect_problem "a JSON array is a 400" 400 bad-request \
	POST /reports/receipt "${JSON[@]}" --data-binary '[1, 2]'
expect_problem "an empty body is a 400" 400 bad-request \
	POST /reports/receipt "${JSON[@]}" --data-binary ''
expect_problem "JSON null is a 400" 400 bad-request \
	POST /reports/receipt "${JSON[@]}" --data-binary 'null'
expect_problem "another media type is a 415" 415 unsupported-media-type \
	POST /reports/receipt -H "$(bearer "$TOKEN")" -H 'Content-Type: text/plain' \
	--data-binary "@$BH_SCRATCH/r3.json"
head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >"$BH_SCRATCH/huge.json"
expect_problem "an oversized body is a 413" 413 payload-too-large \
	POST /reports/receipt "${JSON[@]}" --data-binary "@$BH_SCRATCH/huge.json"
jq -n '{lines: [range(0; 5000) | {date: "2027-01-10", description: "x", amount: 1}]}' \
	>"$BH_SCRATCH/many.json"
expect_problem "too many lines is a 400" 400 invalid-parameter \
	POST /reports/receipt "${JSON[@]}" --data-binary "@$BH_SCRATCH/many.json"

# ---------------------------------------------------------------- templates

expect_problem "an unknown template is a 404" 404 not-found \
	POST /reports/nosuchtemplate "${JSON[@]}" --data-binary '{}'
expect_problem "a name with a capital is a 400" 400 invalid-parameter \
	POST /reports/Receipt "${JSON[@]}" --data-binary '{}'
expect_problem "a name with a dot is a 400" 400 invalid-parameter \
	POST /reports/receipt.json "${JSON[@]}" --data-binary '{}'
# (nginx itself may refuse an encoded slash going up, with its own 400)
expect_status "an encoded ../etc/passwd is refused" '400|404' \
	POST '/reports/..%2F..%2Fetc%2Fpasswd' "${JSON[@]}" --data-binary '{}'
check "... with no file in the answer" eval '! grep -q "root:" "$RESP_BODY_FILE"'
expect_problem "a name with dots is a 400" 400 invalid-parameter \
	POST '/reports/..receipt' "${JSON[@]}" --data-binary '{}'
http POST '/reports/../../etc/passwd' --path-as-is "${JSON[@]}" --data-binary '{}'
check "a raw ../../etc/passwd is refused (status $RESP_STATUS)" eval \
	'[[ $RESP_STATUS =~ ^4 ]] && ! grep -q "root:" "$RESP_BODY_FILE"'
expect_problem "GET on a template is a 405" 405 method-not-allowed \
	GET /reports/receipt -H "$(bearer "$TOKEN")"

# ---------------------------------------------------------------- tokens

expect_problem "no token is a 401" 401 unauthorized \
	POST /reports/receipt -H 'Content-Type: application/json' --data-binary "@$BH_SCRATCH/r3.json"
expect_header "no token: WWW-Authenticate Bearer" WWW-Authenticate 'Bearer.*'
expect_problem "a forged token is a 401" 401 unauthorized \
	POST /reports/receipt -H "$(bearer "${TOKEN%?????}AAAAA")" \
	-H 'Content-Type: application/json' --data-binary "@$BH_SCRATCH/r3.json"
OTHER=$(client_token search) || bail "no token for search"
expect_problem "a token for another audience is a 401" 401 unauthorized \
	POST /reports/receipt -H "$(bearer "$OTHER")" \
	-H 'Content-Type: application/json' --data-binary "@$BH_SCRATCH/r3.json"
NARROW=$(client_token reservations users:read) || bail "no narrow token"
expect_problem "a token without reports:render is a 403" 403 insufficient-scope \
	POST /reports/receipt -H "$(bearer "$NARROW")" \
	-H 'Content-Type: application/json' --data-binary "@$BH_SCRATCH/r3.json"

# ------------------------------------------------------------ concurrency

cfg=$BH_SCRATCH/burst.cfg
: >"$cfg"
for i in $(seq 1 24); do
	printf 'url = "%s/reports/receipt"\noutput = "%s/burst-%s.pdf"\n' \
		"$BASE_URL" "$BH_SCRATCH" "$i" >>"$cfg"
done
timeout -k 2 120 curl -sS -m 60 -Z --parallel-max 8 -K "$cfg" -w '%{http_code}\n' \
	"${JSON[@]}" --data-binary "@$BH_SCRATCH/r3.json" >"$BH_SCRATCH/burst.codes" 2>"$BH_SCRATCH/burst.err"
check "24 concurrent receipts: all 200" eval \
	'[ "$(grep -c "^200$" "$BH_SCRATCH/burst.codes")" = 24 ]'
same=0
for i in $(seq 1 24); do
	cmp -s "$BH_SCRATCH/burst-$i.pdf" "$BH_SCRATCH/receipt-eur.pdf" && same=$((same + 1))
done
check "24 concurrent receipts: each the same document ($same/24)" test "$same" = 24

# ----------------------------------------------------- a broken template

mkdir -p "$BH_SCRATCH/templates"
cp "$BH_SRCDIR"/handlers/reports/templates/*.json "$BH_SCRATCH/templates/"
sed -e 's/{{guest.name}}/{{guest.nmae}}/' "$BH_SRCDIR/handlers/reports/templates/receipt.json" \
	>"$BH_SCRATCH/templates/receipt.json"
BH_REPORTS_TEMPLATE_DIR=$BH_SCRATCH/templates timeout 20 \
	"$BH_BUILDDIR/handlers/reports/bellhop-reports" --listen "127.0.0.1:$(pick_port)" \
	>"$BH_SCRATCH/broken.out" 2>&1
rc=$?
check "a broken template stops the program (exit $rc)" test "$rc" = 2
check "... saying which file and what" \
	grep -q 'receipt.json: layout\[[0-9]*\].*unknown field guest.nmae' "$BH_SCRATCH/broken.out"
BH_REPORTS_FONT=/nonexistent/font.ttf BH_REPORTS_TEMPLATE_DIR=$BH_SRCDIR/handlers/reports/templates \
	timeout 20 \
	"$BH_BUILDDIR/handlers/reports/bellhop-reports" --listen "127.0.0.1:$(pick_port)" \
	>"$BH_SCRATCH/nofont.out" 2>&1
rc=$?
check "a missing font stops the program (exit $rc)" test "$rc" = 2
check "... naming the font" grep -q /nonexistent/font.ttf "$BH_SCRATCH/nofont.out"

check "no 500 in the service's log" eval \
	'! grep -q "\"status\":5[0-9][0-9]" "$VAR/log/reports.log"'

finish
