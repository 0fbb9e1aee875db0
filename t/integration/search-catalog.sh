#!/bin/bash
# search-catalog.sh - the catalogue's write side behind nginx: hotels, room
# types and rooms created, replaced and deleted with a catalog-admin token
# (scope catalog:write), each change seen at once by the public reads
# (GET /search/hotels?city=, /search/hotels/{id}, /search/cities); the
# rooms read with catalog:read (not catalog:write alone); 401
# without a token or with one for another service, 403 without the
# scope; 400 problems naming the member for every bad body, never a 500;
# 404s; 409s for taken names and room numbers and for a currency change
# that does not re-price every room type; a write failing halfway
# leaves nothing; a deleted hotel disappears from every read.
. "$(dirname "$0")/../lib/harness.sh"

stack_up nginx || bail "the stack did not come up"

ADMIN=$(client_token catalog-admin) || bail "no catalog-admin token"
pass "a catalog-admin token is issued"

H=/search/hotels

# --------------------------------------------------------------- helpers

# send METHOD PATH TOKEN [JSON]: one request with TOKEN ("" for none) and
# a JSON body; the response stays in RESP_* for the expect_* helpers.
send() {
	local method=$1 path=$2 token=$3 body=${4-}
	local -a args=()
	[ -n "$token" ] && args+=(-H "Authorization: Bearer $token")
	[ $# -ge 4 ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
	http "$method" "$path" "${args[@]}"
}

# expect NAME STATUS METHOD PATH TOKEN [JSON]: send, one check on the status.
expect() {
	local name=$1 status=$2
	shift 2
	send "$@"
	if status_is "$status"; then
		pass "$name"
		return 0
	fi
	fail "$name" "expected status $status" "$(resp_summary)"
	return 1
}

# expect_bad NAME PARAM METHOD PATH JSON: an admin's write with a bad body
# is a 400 invalid-parameter problem naming PARAM.
expect_bad() {
	local name="$1: 400 naming $2" param=$2 method=$3 path=$4 body=$5 ctype
	http "$method" "$path" -H "Authorization: Bearer $ADMIN" \
		-H 'Content-Type: application/json' --data-binary "$body"
	ctype=$(resp_header Content-Type)
	if status_is 400 && [ "${ctype%%;*}" = application/problem+json ] &&
		jq -e --arg p "$param" '.type == "urn:bellhop:problem:invalid-parameter"
			and .status == 400 and .param == $p and (.detail | type) == "string"' \
			"$RESP_BODY_FILE" >/dev/null 2>&1; then
		pass "$name"
		return 0
	fi
	fail "$name" "expected a 400 invalid-parameter problem with \"param\": \"$param\"" \
		"$(resp_summary)"
	return 1
}

# get_json PATH: the body of a public GET, or "" (no check line).
get_json() {
	curl -sS -m "$BH_CURL_TIMEOUT" "$BASE_URL$1" 2>/dev/null
}

# city_count NAME: hotel_count of the city called NAME.
city_count() {
	get_json "/search/cities?prefix=$1" | jq --arg n "$1" '[.cities[] | select(.name == $n)][0].hotel_count'
}

city_id() {
	get_json "/search/cities?prefix=$1" | jq --arg n "$1" '[.cities[] | select(.name == $n)][0].id'
}

LISBON=$(city_id Lisbon)
PORTO=$(city_id Porto)
check "the demo cities Lisbon and Porto are there" test "$LISBON" -gt 0 -a "$PORTO" -gt 0
lisbon_hotels=$(city_count Lisbon)
porto_hotels=$(city_count Porto)
lisbon_total=$(get_json "$H?city=Lisbon" | jq .total)

# A hotel sorting first by name in Lisbon ("aaa" before any demo name),
# with the cheapest double in town.
HOTEL=$(jq -nc --argjson city "$LISBON" '{
	name: "Aaa Catalogue Test Hotel", city_id: $city, address: "Rua Augusta 1",
	email: "reservations@aaa-test.hotels.bellhop.test", stars: 4, rating: 8.5,
	description: "A test hotel.\nTwo lines.", currency: "EUR", lat: 38.7101, lon: -9.1366,
	room_types: [
		{ name: "Double", capacity: 2, nightly_rate: 1, room_numbers: ["101", "102"] },
		{ name: "Suite", capacity: 4, nightly_rate: 25000, currency: "EUR", room_numbers: ["201"] }
	] }')
base_hotel=$(jq -c 'del(.room_types)' <<<"$HOTEL")

# ----------------------------------------------------------------- access

expect_problem "POST /search/hotels without a token: 401" 401 unauthorized \
	POST $H -H 'Content-Type: application/json' --data-binary "$HOTEL"
expect_header "... with WWW-Authenticate: Bearer" WWW-Authenticate 'Bearer.*'
expect_problem "without a token, a bad body is still a 401 (access is checked first)" 401 unauthorized \
	POST $H -H 'Content-Type: application/json' --data-binary '{"stars": 9}'
for route in "PUT $H/1" "DELETE $H/1" "POST $H/1/room-types" "PUT $H/1/room-types/1" \
	"DELETE $H/1/room-types/1" "POST $H/1/room-types/1/rooms" "GET $H/1/rooms" \
	"GET $H/1/rooms/1" "DELETE $H/1/rooms/1"; do
	case $route in
	PUT* | POST*)
		expect_problem "$route without a token: 401" 401 unauthorized ${route% *} "${route#* }" \
			-H 'Content-Type: application/json' --data-binary '{}' ;;
	*)
		expect_problem "$route without a token: 401" 401 unauthorized ${route% *} "${route#* }" ;;
	esac
done
expect_problem "a malformed bearer token: 401" 401 unauthorized POST $H \
	-H 'Authorization: Bearer not.a.token' -H 'Content-Type: application/json' --data-binary "$HOTEL"
expect_header "... WWW-Authenticate says invalid_token" WWW-Authenticate 'Bearer.*error="invalid_token".*'

OTHER=$(client_token users) || bail "no token for client users"
expect_problem "a token of client users (audience notifications): 401" 401 unauthorized POST $H \
	-H "Authorization: Bearer $OTHER" -H 'Content-Type: application/json' --data-binary "$HOTEL"

# A client for this service's audience, without catalog:write.
reader_secret=$(service_run auth client add catalog-reader --scopes "catalog:read" \
	--audiences search 2>"$BH_SCRATCH/client-add.err")
check "a client catalog-reader (audience search, scope catalog:read) is added" \
	test -n "$reader_secret"
READER=$(curl -sS -m "$BH_CURL_TIMEOUT" -u "catalog-reader:$reader_secret" \
	-d grant_type=client_credentials "$BASE_URL/auth/oauth/token" | jq -r '.access_token // empty')
check "catalog-reader gets a token" test -n "$READER"
expect_problem "a search token without catalog:write: 403" 403 insufficient-scope POST $H \
	-H "Authorization: Bearer $READER" -H 'Content-Type: application/json' --data-binary "$HOTEL"
expect_header "... WWW-Authenticate says insufficient_scope" WWW-Authenticate \
	'Bearer.*error="insufficient_scope".*'
expect_problem "... and for DELETE /search/hotels/1: 403" 403 insufficient-scope DELETE $H/1 \
	-H "Authorization: Bearer $READER"
expect_status "the hotel pages stay public" 200 GET $H/1

# ------------------------------------------------------------ create

expect "POST /search/hotels with room types and rooms: 201" 201 POST $H "$ADMIN" "$HOTEL"
ID=$(jq -r '.id' "$RESP_BODY_FILE")
cp "$RESP_BODY_FILE" "$BH_SCRATCH/created.json"
expect_header "... Location: /search/hotels/ID" Location "/search/hotels/$ID"
expect_header "... not cacheable" Cache-Control 'no-store'
expect_jq "... the answer is the hotel with its room types" \
	'.name == "Aaa Catalogue Test Hotel" and .city == "Lisbon" and .country_code == "PT"
	 and .email == "reservations@aaa-test.hotels.bellhop.test" and .stars == 4 and .rating == 8.5
	 and .description == "A test hotel.\nTwo lines." and .lat == 38.7101
	 and ([.room_types[] | [.name, .capacity, .nightly_rate, .currency, .rooms]]
	      == [["Double", 2, 1, "EUR", 2], ["Suite", 4, 25000, "EUR", 1]])'
expect_status "GET /search/hotels/ID: 200" 200 GET "$H/$ID"
check "... gives the same hotel as the POST answered" \
	jq -e --slurpfile c "$BH_SCRATCH/created.json" '. == $c[0]' "$RESP_BODY_FILE"

expect_status "search Lisbon, by name: 200" 200 GET "$H?city=lisbon&sort=name&per_page=1"
expect_jq "... the new hotel comes first, at its double's rate" \
	'.hotels[0].id == $id and .hotels[0].lowest_rate == 1 and .hotels[0].currency == "EUR"' \
	--argjson id "$ID"
expect_jq "... and Lisbon has one hotel more" '.total == $t + 1' --argjson t "$lisbon_total"
expect_status "search Lisbon for 3 guests: 200" 200 GET "$H?city=Lisbon&guests=3&sort=name&per_page=1"
expect_jq "... the new hotel at its suite's rate" \
	'.hotels[0].id == $id and .hotels[0].lowest_rate == 25000' --argjson id "$ID"
check "GET /search/cities: Lisbon's hotel_count went up by one" \
	test "$(city_count Lisbon)" = $((lisbon_hotels + 1))

# ------------------------------------------------------ room types

expect "POST room type Family with rooms: 201" 201 POST "$H/$ID/room-types" "$ADMIN" \
	'{"name": "Family", "capacity": 6, "nightly_rate": 30000, "room_numbers": ["301", "302"]}'
FAMILY=$(jq -r '.id' "$RESP_BODY_FILE")
expect_header "... Location: /search/hotels/ID/room-types/TYPE" Location "/search/hotels/$ID/room-types/$FAMILY"
expect_jq "... the answer is the room type" \
	'.hotel_id == $h and .name == "Family" and .capacity == 6 and .nightly_rate == 30000
	 and .currency == "EUR" and .rooms == 2' --argjson h "$ID"
expect_status "GET the room type (public): 200" 200 GET "$H/$ID/room-types/$FAMILY"
expect_jq "... the same room type" '.id == $t and .rooms == 2' --argjson t "$FAMILY"
expect_status "search Lisbon for 5 guests" 200 GET "$H?city=Lisbon&guests=5&sort=name&per_page=1"
expect_jq "... finds the new hotel at the family rate" \
	'.hotels[0].id == $id and .hotels[0].lowest_rate == 30000' --argjson id "$ID"

expect "PUT the room type with a lower rate: 200" 200 PUT "$H/$ID/room-types/$FAMILY" "$ADMIN" \
	'{"name": "Family", "capacity": 6, "nightly_rate": 20000, "currency": "EUR"}'
expect_jq "... the answer has the new rate and its rooms" '.nightly_rate == 20000 and .rooms == 2'
expect_status "search Lisbon for 5 guests" 200 GET "$H?city=Lisbon&guests=5&sort=name&per_page=1"
expect_jq "... the lowest rate followed" '.hotels[0].id == $id and .hotels[0].lowest_rate == 20000' \
	--argjson id "$ID"

expect_problem "PUT the room type with another's name: 409" 409 conflict PUT "$H/$ID/room-types/$FAMILY" \
	-H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
	--data-binary '{"name": "Double", "capacity": 6, "nightly_rate": 20000}'
expect_jq "... naming name" '.param == "name"'
expect_problem "POST a room type named like another: 409" 409 conflict POST "$H/$ID/room-types" \
	-H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
	--data-binary '{"name": "Suite", "capacity": 2, "nightly_rate": 100}'
expect_bad "a room type in another currency" currency POST "$H/$ID/room-types" \
	'{"name": "Dollar", "capacity": 2, "nightly_rate": 100, "currency": "USD"}'

# A write failing halfway: the room type is inserted, then its second
# room number is found taken; nothing of it may stay.
expect_problem "POST room type Loft whose room 101 is taken: 409" 409 conflict POST "$H/$ID/room-types" \
	-H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
	--data-binary '{"name": "Loft", "capacity": 2, "nightly_rate": 500, "room_numbers": ["401", "101"]}'
expect_jq "... naming room_numbers[1]" '.param == "room_numbers[1]"'
expect_status "GET the hotel" 200 GET "$H/$ID"
expect_jq "... has no Loft: the failed write left nothing" '[.room_types[].name] | index("Loft") == null'
expect_status "GET its rooms (admin)" 200 GET "$H/$ID/rooms" -H "Authorization: Bearer $ADMIN"
expect_jq "... no room 401 either" '[.rooms[].number] | index("401") == null'
expect "POST room type Loft with room 401 alone: 201" 201 POST "$H/$ID/room-types" "$ADMIN" \
	'{"name": "Loft", "capacity": 2, "nightly_rate": 500, "room_numbers": ["401"]}'

# ----------------------------------------------------------------- rooms

DOUBLE=$(jq -r '.room_types[] | select(.name == "Double") | .id' "$BH_SCRATCH/created.json")
expect "POST room 103 to the doubles: 201" 201 POST "$H/$ID/room-types/$DOUBLE/rooms" "$ADMIN" \
	'{"number": "103"}'
ROOM=$(jq -r '.id' "$RESP_BODY_FILE")
expect_header "... Location: /search/hotels/ID/rooms/ROOM" Location "/search/hotels/$ID/rooms/$ROOM"
expect_jq "... the answer is the room" '.hotel_id == $h and .room_type_id == $t and .number == "103"' \
	--argjson h "$ID" --argjson t "$DOUBLE"
expect "GET the room (admin): 200" 200 GET "$H/$ID/rooms/$ROOM" "$ADMIN"
expect_jq "... the same room" '.id == $r and .number == "103"' --argjson r "$ROOM"
expect_problem "GET the room without a token: 401" 401 unauthorized GET "$H/$ID/rooms/$ROOM"
expect "GET the room with catalog:read alone (catalog-reader): 200" 200 GET "$H/$ID/rooms/$ROOM" "$READER"
expect_jq "... the same room" '.id == $r and .number == "103"' --argjson r "$ROOM"
expect "GET the hotel's rooms with catalog:read alone: 200" 200 GET "$H/$ID/rooms" "$READER"
WRITER=$(client_token catalog-admin catalog:write) || bail "no catalog-admin token for catalog:write alone"
expect_problem "GET the room with catalog:write alone: 403" 403 insufficient-scope \
	GET "$H/$ID/rooms/$ROOM" -H "Authorization: Bearer $WRITER"
expect_header "... WWW-Authenticate asks for catalog:read" WWW-Authenticate \
	'Bearer.*scope="catalog:read".*'
expect_problem "GET the hotel's rooms with catalog:write alone: 403" 403 insufficient-scope \
	GET "$H/$ID/rooms" -H "Authorization: Bearer $WRITER"
expect_problem "POST room 103 again: 409" 409 conflict POST "$H/$ID/room-types/$DOUBLE/rooms" \
	-H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' --data-binary '{"number": "103"}'
expect_jq "... naming number" '.param == "number"'
expect_problem "POST room 201 (a suite's number) to the doubles: 409" 409 conflict \
	POST "$H/$ID/room-types/$DOUBLE/rooms" -H "Authorization: Bearer $ADMIN" \
	-H 'Content-Type: application/json' --data-binary '{"number": "201"}'
expect "GET the hotel's rooms (admin): 200" 200 GET "$H/$ID/rooms" "$ADMIN"
expect_jq "... all 7, in order" \
	'[.rooms[].number] == ["101", "102", "103", "201", "301", "302", "401"]'
expect_status "GET the hotel" 200 GET "$H/$ID"
expect_jq "... the doubles now have 3 rooms" \
	'[.room_types[] | select(.name == "Double") | .rooms] == [3]'

# Five admins race for room 999: exactly one gets it.
for i in 1 2 3 4 5; do
	curl -sS -m "$BH_CURL_TIMEOUT" -o /dev/null -w '%{http_code}\n' -X POST \
		-H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
		--data-binary '{"number": "999"}' "$BASE_URL$H/$ID/room-types/$DOUBLE/rooms" \
		>"$BH_SCRATCH/race.$i" 2>&1 &
	track $!
done
wait
check "five concurrent POSTs of room 999: one 201, four 409" \
	test "$(cat "$BH_SCRATCH"/race.* | sort | tr '\n' ' ')" = "201 409 409 409 409 "

expect "DELETE the room: 204" 204 DELETE "$H/$ID/rooms/$ROOM" "$ADMIN"
check "... with no body" test ! -s "$RESP_BODY_FILE"
expect_problem "GET the deleted room: 404" 404 not-found GET "$H/$ID/rooms/$ROOM" \
	-H "Authorization: Bearer $ADMIN"
expect_problem "DELETE it again: 404" 404 not-found DELETE "$H/$ID/rooms/$ROOM" \
	-H "Authorization: Bearer $ADMIN"
expect "its number 103 can be given again: 201" 201 POST "$H/$ID/room-types/$DOUBLE/rooms" "$ADMIN" \
	'{"number": "103"}'
check "... to a new room (ids are never reused)" test "$(jq -r .id "$RESP_BODY_FILE")" != "$ROOM"

expect "DELETE room type Family: 204" 204 DELETE "$H/$ID/room-types/$FAMILY" "$ADMIN"
expect_problem "GET the deleted room type: 404" 404 not-found GET "$H/$ID/room-types/$FAMILY"
expect_status "GET the hotel" 200 GET "$H/$ID"
expect_jq "... no Family any more" '[.room_types[].name] | index("Family") == null'
expect "GET its rooms (admin)" 200 GET "$H/$ID/rooms" "$ADMIN"
expect_jq "... the family rooms went with their type" \
	'[.rooms[].number] | (index("301") == null and index("302") == null)'
expect_status "search Lisbon for 5 guests" 200 GET "$H?city=Lisbon&guests=5&sort=name&per_page=1"
expect_jq "... no longer finds the hotel (no room type sleeps 5)" '.hotels[0].id != $id' --argjson id "$ID"
expect "a room type Family can be created again: 201" 201 POST "$H/$ID/room-types" "$ADMIN" \
	'{"name": "Family", "capacity": 6, "nightly_rate": 31000, "room_numbers": ["301"]}'

# ------------------------------------------------------------- replace

REPLACED=$(jq -nc --argjson city "$PORTO" '{
	name: "Aaa Catalogue Test Hotel Porto", city_id: $city, address: "Rua das Flores 2",
	email: "porto@aaa-test.hotels.bellhop.test", stars: 5, currency: "EUR",
	lat: 41.1429, lon: -8.6125 }')
expect "PUT the hotel, moved to Porto: 200" 200 PUT "$H/$ID" "$ADMIN" "$REPLACED"
expect_jq "... the answer is the replaced hotel, room types kept" \
	'.id == $id and .name == "Aaa Catalogue Test Hotel Porto" and .city == "Porto"
	 and .stars == 5 and .email == "porto@aaa-test.hotels.bellhop.test"
	 and .rating == null and .description == "" and (.room_types | length) == 4' --argjson id "$ID"
expect_status "GET the hotel" 200 GET "$H/$ID"
expect_jq "... shows the replacement" '.city == "Porto" and .address == "Rua das Flores 2"'
check "Lisbon's hotel_count is back" test "$(city_count Lisbon)" = "$lisbon_hotels"
check "Porto's hotel_count went up by one" test "$(city_count Porto)" = $((porto_hotels + 1))
expect_status "search Porto by name" 200 GET "$H?city=Porto&sort=name&per_page=1"
expect_jq "... finds the hotel there" '.hotels[0].id == $id' --argjson id "$ID"
expect_bad "PUT with room_types (they have their own paths)" room_types PUT "$H/$ID" \
	"$(jq -c '. + {room_types: []}' <<<"$REPLACED")"
expect_bad "PUT without email" email PUT "$H/$ID" "$(jq -c 'del(.email)' <<<"$REPLACED")"
expect_bad "PUT to a city that does not exist" city_id PUT "$H/$ID" \
	"$(jq -c '.city_id = 2147483647' <<<"$REPLACED")"

# ------------------------------------------------------------- currency

# Rates are in the hotel's currency: changing it must re-price every room
# type in the same PUT (nightly_rates), never turn 62.00 EUR into 6200 JPY.
expect_status "GET the hotel before changing its currency" 200 GET "$H/$ID"
cp "$RESP_BODY_FILE" "$BH_SCRATCH/before-yen.json"
TYPES=$(jq -c '[.room_types[] | {id, nightly_rate}] | sort_by(.id)' "$RESP_BODY_FILE")
check "... it has 4 room types, in EUR" test "$(jq length <<<"$TYPES")" = 4
YEN=$(jq -c '.currency = "JPY"' <<<"$REPLACED")
# yen_with JQ-RATES: the hotel in JPY with nightly_rates JQ-RATES (of $TYPES)
yen_with() {
	jq -c --argjson t "$TYPES" ". + {nightly_rates: ($1)}" <<<"$YEN"
}
ALL_RATES='[$t[] | {room_type_id: .id, nightly_rate: (.nightly_rate * 100)}]'
DEMO_TYPE=$(get_json "$H/1" | jq '.room_types[0].id') # of demo hotel 1

expect_problem "PUT the hotel in JPY without nightly_rates: 409" 409 conflict PUT "$H/$ID" \
	-H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' --data-binary "$YEN"
expect_jq "... naming currency, saying how to re-price" \
	'.param == "currency" and (.detail | test("nightly_rates")) and (.detail | test("EUR"))'
expect_problem "PUT in JPY re-pricing 3 of the 4 room types: 409" 409 conflict PUT "$H/$ID" \
	-H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
	--data-binary "$(yen_with "$ALL_RATES | .[1:]")"
expect_jq "... naming nightly_rates and the room type left out" \
	'.param == "nightly_rates" and (.detail | test($id))' --arg id "$(jq -r '.[0].id' <<<"$TYPES")"
expect_problem "PUT in JPY re-pricing another hotel's room type too: 409" 409 conflict PUT "$H/$ID" \
	-H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
	--data-binary "$(yen_with "$ALL_RATES + [{room_type_id: $DEMO_TYPE, nightly_rate: 5}]")"
expect_jq "... naming nightly_rates[4].room_type_id" '.param == "nightly_rates[4].room_type_id"'
expect_status "GET the hotel" 200 GET "$H/$ID"
check "... the refused PUTs changed nothing (EUR, same rates)" \
	jq -e --slurpfile b "$BH_SCRATCH/before-yen.json" '. == $b[0]' "$RESP_BODY_FILE"

expect_bad "nightly_rates not an array" nightly_rates PUT "$H/$ID" "$(yen_with '{}')"
expect_bad "nightly_rates of numbers" 'nightly_rates[0]' PUT "$H/$ID" "$(yen_with '[1]')"
expect_bad "a rate without nightly_rate" 'nightly_rates[0].nightly_rate' PUT "$H/$ID" \
	"$(yen_with '[{room_type_id: $t[0].id}]')"
expect_bad "a rate of 0" 'nightly_rates[0].nightly_rate' PUT "$H/$ID" \
	"$(yen_with '[{room_type_id: $t[0].id, nightly_rate: 0}]')"
expect_bad "a rate with a room_type_id as text" 'nightly_rates[0].room_type_id' PUT "$H/$ID" \
	"$(yen_with '[{room_type_id: ($t[0].id | tostring), nightly_rate: 1}]')"
expect_bad "a rate with another member" 'nightly_rates[0].rate' PUT "$H/$ID" \
	"$(yen_with '[{room_type_id: $t[0].id, nightly_rate: 1, rate: 1}]')"
expect_bad "a room type re-priced twice" 'nightly_rates[1].room_type_id' PUT "$H/$ID" \
	"$(yen_with '[{room_type_id: $t[0].id, nightly_rate: 1}, {room_type_id: $t[0].id, nightly_rate: 2}]')"
expect_bad "nightly_rates in a POST (a new hotel has no room types yet)" nightly_rates POST $H \
	"$(jq -c '. + {nightly_rates: []}' <<<"$base_hotel")"

expect "PUT the hotel in JPY re-pricing every room type: 200" 200 PUT "$H/$ID" "$ADMIN" \
	"$(yen_with "$ALL_RATES")"
expect_jq "... the answer is in JPY at the new rates" \
	'.currency == "JPY" and ([.room_types[] | {id, nightly_rate}] | sort_by(.id))
	 == [$t[] | .nightly_rate *= 100] and all(.room_types[]; .currency == "JPY")' \
	--argjson t "$TYPES"
expect_status "GET the doubles (public)" 200 GET "$H/$ID/room-types/$DOUBLE"
expect_jq "... in JPY, at 100" '.currency == "JPY" and .nightly_rate == 100'
expect_status "search Porto for 3 guests by name" 200 GET "$H?city=Porto&guests=3&sort=name&per_page=1"
expect_jq "... the hotel at its suite's new rate, in JPY" \
	'.hotels[0].id == $id and .hotels[0].currency == "JPY" and .hotels[0].lowest_rate == 2500000' \
	--argjson id "$ID"
expect_problem "a room type PUT in EUR now: 400" 400 invalid-parameter PUT "$H/$ID/room-types/$DOUBLE" \
	-H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
	--data-binary '{"name": "Double", "capacity": 2, "nightly_rate": 100, "currency": "EUR"}'
expect_jq "... naming currency" '.param == "currency"'
expect "PUT the hotel again in JPY without nightly_rates: 200" 200 PUT "$H/$ID" "$ADMIN" "$YEN"
expect_jq "... its rates stay" '[.room_types[] | .nightly_rate] | sort == [100, 50000, 2500000, 3100000]'

# A hotel without room types changes currency freely.
expect "POST a hotel without room types: 201" 201 POST $H "$ADMIN" \
	"$(jq -c '.name = "Aaa Bare Hotel"' <<<"$base_hotel")"
BARE=$(jq -r .id "$RESP_BODY_FILE")
expect "PUT it in USD: 200" 200 PUT "$H/$BARE" "$ADMIN" \
	"$(jq -c '.name = "Aaa Bare Hotel" | .currency = "USD"' <<<"$base_hotel")"
expect_jq "... in USD" '.currency == "USD" and .room_types == []'
expect "DELETE it: 204" 204 DELETE "$H/$BARE" "$ADMIN"

# ------------------------------------------------ bad bodies (never a 500)

base=$(jq -c 'del(.room_types)' <<<"$HOTEL")
# bad_case PARAM JQ-EDIT: the base hotel edited by JQ-EDIT is refused,
# naming PARAM.
bad_case() {
	expect_bad "POST a hotel with $2" "$1" POST $H "$(jq -c "$2" <<<"$base")"
}
bad_case bogus '.bogus = 1'
bad_case name 'del(.name)'
bad_case name '.name = ""'
bad_case name '.name = " padded"'
bad_case name '.name = 42'
bad_case name '.name = "tab\there"'
bad_case name '.name = ("x" * 201)'
bad_case city_id '.city_id = "1"'
bad_case city_id '.city_id = 0'
bad_case city_id '.city_id = 1.5'
bad_case city_id '.city_id = 99999999999999999999999'
bad_case city_id '.city_id = 2147483647'
bad_case address 'del(.address)'
bad_case address '.address = ("x" * 301)'
bad_case email 'del(.email)'
bad_case email '.email = "no-at-sign"'
bad_case email '.email = "two@@example.com"'
bad_case email '.email = "a@localhost"'
bad_case email '.email = "a b@example.com"'
bad_case email '.email = "a@-example.com"'
bad_case stars '.stars = 0'
bad_case stars '.stars = 6'
bad_case stars '.stars = "4"'
bad_case stars '.stars = true'
bad_case rating '.rating = 10.5'
bad_case rating '.rating = -1'
bad_case rating '.rating = "8"'
bad_case description '.description = ("x" * 5001)'
bad_case description '.description = "bell\u0007"'
bad_case currency '.currency = "eur"'
bad_case currency '.currency = "EURO"'
bad_case currency '.currency = "E1R"'
bad_case currency 'del(.currency)'
bad_case lat '.lat = 90.5'
bad_case lat '.lat = "38.7"'
bad_case lon '.lon = -180.01'
bad_case lon 'del(.lon)'
bad_case room_types '.room_types = {}'
bad_case room_types '.room_types = [range(51) | {name: "T\(.)", capacity: 1, nightly_rate: 1}]'
bad_case 'room_types[0]' '.room_types = [1]'
bad_case 'room_types[0].capacity' '.room_types = [{name: "A", capacity: 0, nightly_rate: 1}]'
bad_case 'room_types[0].capacity' '.room_types = [{name: "A", capacity: 21, nightly_rate: 1}]'
bad_case 'room_types[0].nightly_rate' '.room_types = [{name: "A", capacity: 2, nightly_rate: 0}]'
bad_case 'room_types[0].nightly_rate' '.room_types = [{name: "A", capacity: 2, nightly_rate: 1000000001}]'
bad_case 'room_types[0].nightly_rate' '.room_types = [{name: "A", capacity: 2, nightly_rate: 12.5}]'
bad_case 'room_types[0].name' '.room_types = [{capacity: 2, nightly_rate: 1}]'
bad_case 'room_types[0].name' '.room_types = [{name: ("x" * 101), capacity: 2, nightly_rate: 1}]'
bad_case 'room_types[0].currency' '.room_types = [{name: "A", capacity: 2, nightly_rate: 1, currency: "USD"}]'
bad_case 'room_types[0].rate' '.room_types = [{name: "A", capacity: 2, rate: 1}]'
bad_case 'room_types[1].name' '.room_types = [{name: "A", capacity: 2, nightly_rate: 1}, {name: "A", capacity: 3, nightly_rate: 1}]'
bad_case 'room_types[0].room_numbers' '.room_types = [{name: "A", capacity: 2, nightly_rate: 1, room_numbers: "101"}]'
bad_case 'room_types[0].room_numbers[0]' '.room_types = [{name: "A", capacity: 2, nightly_rate: 1, room_numbers: [101]}]'
bad_case 'room_types[0].room_numbers[0]' '.room_types = [{name: "A", capacity: 2, nightly_rate: 1, room_numbers: [("1" * 17)]}]'
bad_case 'room_types[0].room_numbers' '.room_types = [{name: "A", capacity: 2, nightly_rate: 1, room_numbers: [range(501) | tostring]}]'
bad_case 'room_types[1].room_numbers[1]' '.room_types = [{name: "A", capacity: 2, nightly_rate: 1, room_numbers: ["1"]}, {name: "B", capacity: 2, nightly_rate: 1, room_numbers: ["2", "1"]}]'

# A batch with a bad member in its second room type creates nothing.
expect_bad "a hotel whose second room type has capacity 30" 'room_types[1].capacity' POST $H \
	"$(jq -c '.name = "Aaa Half Written" | .room_types[1].capacity = 30' <<<"$HOTEL")"
expect_status "search Lisbon by name" 200 GET "$H?city=Lisbon&sort=name&per_page=3"
expect_jq "... the refused hotel is nowhere" '[.hotels[].name] | index("Aaa Half Written") == null'
check "Lisbon's hotel_count did not change" test "$(city_count Lisbon)" = "$lisbon_hotels"

expect_problem "a form body: 415" 415 unsupported-media-type POST $H \
	-H "Authorization: Bearer $ADMIN" --data 'name=x&stars=3'
expect_problem "no body: 415" 415 unsupported-media-type POST $H -H "Authorization: Bearer $ADMIN"
expect_problem "a JSON array: 400" 400 bad-request POST $H -H "Authorization: Bearer $ADMIN" \
	-H 'Content-Type: application/json' --data-binary '[1, 2]'
expect_problem "JSON null: 400" 400 bad-request POST $H -H "Authorization: Bearer $ADMIN" \
	-H 'Content-Type: application/json' --data-binary 'null'
expect_problem "truncated JSON: 400" 400 'malformed-body|bad-request' POST $H \
	-H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' --data-binary '{"name": "x'
printf '{"name": "bad \xff utf-8", "stars": 3}' >"$BH_SCRATCH/bad-utf8.json"
expect_problem "a string of invalid UTF-8: 400" 400 'malformed-body|invalid-parameter' POST $H \
	-H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
	--data-binary "@$BH_SCRATCH/bad-utf8.json"
expect_problem "an escaped NUL in a name: 400" 400 'malformed-body|invalid-parameter' POST $H \
	-H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
	--data-binary "$(jq -c '.name = "a"' <<<"$base" | sed 's/"a"/"a\\u0000b"/')"
expect_problem "a member name of control characters: 400" 400 invalid-parameter POST $H \
	-H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
	--data-binary "$(jq -c '. + {"\u0001\u0002": 1}' <<<"$base")"
expect_problem "JSON nested 100 deep: 400" 400 'malformed-body|bad-request|invalid-parameter' POST $H \
	-H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
	--data-binary "$(printf '{"a":%.0s' {1..100})1$(printf '}%.0s' {1..100})"
expect_bad "a room with no number" number POST "$H/$ID/room-types/$DOUBLE/rooms" '{}'
expect_bad "a room with a numeric number" number POST "$H/$ID/room-types/$DOUBLE/rooms" '{"number": 104}'
expect_bad "a room with another member" floor POST "$H/$ID/room-types/$DOUBLE/rooms" \
	'{"number": "104", "floor": 1}'
expect_bad "a room type PUT with room_numbers" room_numbers PUT "$H/$ID/room-types/$DOUBLE" \
	'{"name": "Double", "capacity": 2, "nightly_rate": 1, "room_numbers": ["105"]}'
for path in "$H/0" "$H/abc" "$H/99999999999" "$H/-1"; do
	expect_problem "PUT $path: 400 naming id" 400 invalid-parameter PUT "$path" \
		-H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' --data-binary "$REPLACED"
done
expect_problem "DELETE $H/1/room-types/0: 400 naming type_id" 400 invalid-parameter \
	DELETE "$H/1/room-types/0" -H "Authorization: Bearer $ADMIN"
expect_problem "DELETE $H/1/rooms/x: 400 naming room_id" 400 invalid-parameter \
	DELETE "$H/1/rooms/x" -H "Authorization: Bearer $ADMIN"

# ------------------------------------------------------------------ 404s

for route in "PUT $H/2147483647" "DELETE $H/2147483647" "POST $H/2147483647/room-types" \
	"PUT $H/$ID/room-types/2147483647" "DELETE $H/$ID/room-types/2147483647" \
	"POST $H/$ID/room-types/2147483647/rooms" "DELETE $H/$ID/rooms/2147483647" \
	"GET $H/$ID/rooms/2147483647" "GET $H/2147483647/rooms"; do
	case $route in
	PUT*/room-types/*) body='{"name": "X", "capacity": 2, "nightly_rate": 1}' ;;
	PUT*) body=$REPLACED ;;
	POST*/room-types) body='{"name": "X", "capacity": 2, "nightly_rate": 1}' ;;
	POST*) body='{"number": "X1"}' ;;
	*) body='' ;;
	esac
	if [ -n "$body" ]; then
		expect_problem "$route: 404" 404 not-found ${route% *} "${route#* }" \
			-H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' --data-binary "$body"
	else
		expect_problem "$route: 404" 404 not-found ${route% *} "${route#* }" \
			-H "Authorization: Bearer $ADMIN"
	fi
done
expect_problem "GET $H/$ID/room-types/2147483647: 404" 404 not-found GET "$H/$ID/room-types/2147483647"
# a room type of demo hotel 1 is not one of this hotel's
other_type=$(get_json "$H/1" | jq '.room_types[0].id')
expect_problem "another hotel's room type under this hotel: 404" 404 not-found \
	GET "$H/$ID/room-types/$other_type"
expect_problem "... nor can rooms be added to it: 404" 404 not-found \
	POST "$H/$ID/room-types/$other_type/rooms" -H "Authorization: Bearer $ADMIN" \
	-H 'Content-Type: application/json' --data-binary '{"number": "X2"}'

# ---------------------------------------------------------------- delete

porto_total=$(get_json "$H?city=Porto" | jq .total)
expect "DELETE the hotel: 204" 204 DELETE "$H/$ID" "$ADMIN"
expect_problem "GET the deleted hotel: 404" 404 not-found GET "$H/$ID"
expect_status "search Porto by name" 200 GET "$H?city=Porto&sort=name&per_page=1"
expect_jq "... no longer lists it" '.hotels[0].id != $id and .total == $t - 1' \
	--argjson id "$ID" --argjson t "$porto_total"
check "Porto's hotel_count is back" test "$(city_count Porto)" = "$porto_hotels"
expect_problem "DELETE it again: 404" 404 not-found DELETE "$H/$ID" -H "Authorization: Bearer $ADMIN"
expect_problem "PUT the deleted hotel: 404" 404 not-found PUT "$H/$ID" \
	-H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' --data-binary "$REPLACED"
expect_problem "POST a room type to it: 404" 404 not-found POST "$H/$ID/room-types" \
	-H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
	--data-binary '{"name": "X", "capacity": 2, "nightly_rate": 1}'
expect_problem "GET one of its room types: 404" 404 not-found GET "$H/$ID/room-types/$DOUBLE"
expect_problem "GET its rooms: 404" 404 not-found GET "$H/$ID/rooms" -H "Authorization: Bearer $ADMIN"
expect_problem "POST a room to it: 404" 404 not-found POST "$H/$ID/room-types/$DOUBLE/rooms" \
	-H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' --data-binary '{"number": "X3"}'

check "not one 5xx answer in the search log" \
	bash -c "! grep -E '\"msg\":\"request\".*\"status\":5[0-9][0-9]' '$VAR/log/search.log'"

finish
