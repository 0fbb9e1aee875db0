#!/bin/bash
# search-cases.sh BASE_URL - every search-endpoint check against a running
# stack with the demo catalogue (sql/demo/search.sql) loaded: the happy
# paths of /search/hotels, /search/hotels/{id} and /search/cities (fuzzy
# and accent-free city matching, sorts, filters on every row, pagination),
# the headers, and a 400 problem naming the parameter for each bad input.
# One line per check, then "N passed, N failed"; exit non-zero on failure.
#
# Run by the front-end tests (search-nginx.sh, search-apache-*.sh); by
# hand: t/integration/search-cases.sh http://127.0.0.1:8080
if [ $# -ne 1 ] || [[ ! $1 =~ ^https?:// ]]; then
	echo "usage: $0 BASE_URL (e.g. http://127.0.0.1:8080)" >&2
	exit 2
fi
BASE_URL=${1%/}
BH_HARNESS_MODE=light
. "$(dirname "$0")/../lib/harness.sh"

# fold: a name as sort=name compares it (lower case, accents off), for the
# letters the demo catalogue uses; the service folds with unaccent().
FOLD='def fold: [explode[] |
	if . >= 65 and . <= 90 then [. + 32]
	elif (. >= 192 and . <= 197) or (. >= 224 and . <= 229) then [97]
	elif . == 199 or . == 231 then [99]
	elif (. >= 200 and . <= 203) or (. >= 232 and . <= 235) then [101]
	elif (. >= 204 and . <= 207) or (. >= 236 and . <= 239) then [105]
	elif . == 209 or . == 241 then [110]
	elif (. >= 210 and . <= 214) or . == 216 or (. >= 242 and . <= 246) or . == 248 then [111]
	elif (. >= 217 and . <= 220) or (. >= 249 and . <= 252) then [117]
	elif . == 221 or . == 253 or . == 255 then [121]
	elif . == 321 or . == 322 then [108]
	elif . == 223 then [115, 115]
	elif . == 198 or . == 230 then [97, 101]
	else [.] end] | add | implode;'

# The shape every hotel of a search result has.
HOTEL_SHAPE='all(.hotels[]; (.id | type) == "number" and (.name | type) == "string"
	and (.city | type) == "string" and (.country | type) == "string"
	and (.address | type) == "string" and (.stars >= 1 and .stars <= 5)
	and (.rating == null or (.rating >= 0 and .rating <= 10))
	and (.currency | test("^[A-Z]{3}$")) and (.lowest_rate | type) == "number"
	and (.lat | type) == "number" and (.lon | type) == "number")'

# The paging members agree with each other and with the page's length.
PAGING='(.total_pages == ((.total + .per_page - 1) / .per_page | floor))
	and ((.hotels | length) == ([0, ([.per_page, .total - (.page - 1) * .per_page] | min)] | max))'

# expect_param_problem NAME URL PARAM [CURL ARGS...]: a 400
# invalid-parameter (or bad-request) problem whose "param" is PARAM.
expect_param_problem() {
	local name=$1 url=$2 param=$3
	shift 3
	expect_problem "$name: 400 problem" 400 'invalid-parameter|bad-request' GET "$url" "$@" ||
		return 1
	expect_jq "$name: its \"param\" is $param" '.param == $p' --arg p "$param"
}

# head_is_bare PATH: a raw HEAD request (curl would not read a body it did
# not expect) gets a 200 status line and headers, and nothing after them.
head_is_bare() {
	local hostport=${BASE_URL#http://} raw=$BH_SCRATCH/head.raw
	hostport=${hostport%%/*}
	timeout 10 bash -c 'exec 3<>"/dev/tcp/${1%:*}/${1##*:}" || exit 1
		printf "HEAD %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" "$2" "$1" >&3
		cat <&3' head "$hostport" "$1" >"$raw" || { echo "no answer"; return 1; }
	head -n 1 "$raw" | grep -q '^HTTP/1\.1 200' || { echo "not a 200:"; head -n 1 "$raw"; return 1; }
	[ "$(sed -e '1,/^\r\{0,1\}$/d' "$raw" | wc -c)" = 0 ] || {
		echo "a body came after the headers:"
		tr -d '\r' <"$raw" | head -n 30
		return 1
	}
}

# ids_of: the hotel ids of the last search, one per line.
ids_of() {
	jq -r '.hotels[].id' "$RESP_BODY_FILE"
}

# ------------------------------------------------------------ /search/hotels

H=/search/hotels
expect_status "hotels in Lisbon: 200" 200 GET "$H?city=Lisbon"
expect_content_type "hotels in Lisbon: application/json" application/json
expect_header "hotels in Lisbon: an X-Request-Id" X-Request-Id '[!-~]{8,200}'
expect_jq "hotels in Lisbon: the city is Lisbon, Portugal" \
	'.city.name == "Lisbon" and .city.country == "Portugal" and (.city.id | type) == "number"'
expect_jq "hotels in Lisbon: some hotels, a full first page of 20" \
	'(.hotels | length) == 20 and .total > 20 and .page == 1 and .per_page == 20'
expect_jq "hotels in Lisbon: every hotel is in Lisbon, Portugal" \
	'all(.hotels[]; .city == "Lisbon" and .country == "Portugal" and .currency == "EUR")'
expect_jq "hotels in Lisbon: every hotel has every member, typed" "$HOTEL_SHAPE"
expect_jq "hotels in Lisbon: paging members agree" "$PAGING"
expect_jq "hotels in Lisbon: the default sort is by price, lowest first" \
	'[.hotels[].lowest_rate] as $r | $r == ($r | sort)'
lisbon_total=$(jq -r '.total' "$RESP_BODY_FILE")
hotel_id=$(jq -r '.hotels[0].id' "$RESP_BODY_FILE")
hotel_name=$(jq -r '.hotels[0].name' "$RESP_BODY_FILE")
hotel_rate=$(jq -r '.hotels[0].lowest_rate' "$RESP_BODY_FILE")

rid=search-cases-$RANDOM$RANDOM
expect_status "a given X-Request-Id: 200" 200 GET "$H?city=Lisbon&per_page=1" -H "X-Request-Id: $rid"
expect_header "a given X-Request-Id is echoed" X-Request-Id "$rid"
expect_status "HEAD hotels in Lisbon: 200" 200 HEAD "$H?city=Lisbon"
expect_content_type "HEAD hotels in Lisbon: application/json" application/json
check "HEAD hotels in Lisbon: headers only, no body" head_is_bare "$H?city=Lisbon"

# fuzzy, accent- and case-insensitive city matching
for spec in 'lisbn=Lisbon' 'lisboa=Lisbon' 'LISBON=Lisbon' '%20lisbon%20=Lisbon' \
	'zurich=Zürich' 'Z%C3%BCrich=Zürich' 'sao%20paulo=São Paulo' 'KRAKOW=Kraków' \
	'krakw=Kraków' 'malmo=Malmö' 'reykjavik=Reykjavík' 'istanbul=İstanbul' \
	'malaga=Málaga' 'dusseldorf=Düsseldorf' 'lodz=Łódź' 'goteborg=Göteborg' \
	'montreal=Montréal' 'bogota=Bogotá' 'brasov=Brașov' 'barcelonna=Barcelona' \
	'athens=Αθήνα' 'moscow=Москва' 'tokyo=東京' 'munich=München'; do
	q=${spec%%=*}
	want=${spec#*=}
	expect_status "city=$q: 200" 200 GET "$H?city=$q&per_page=3"
	expect_jq "city=$q finds $want, with hotels there" \
		'.city.name == $w and (.hotels | length) > 0 and all(.hotels[]; .city == $w)' \
		--arg w "$want"
done

expect_status "a city nothing is close to: 200" 200 GET "$H?city=Qwxzvbnmkj"
expect_jq "a city nothing is close to: city null, no hotels, total 0" \
	'.city == null and .hotels == [] and .total == 0 and .total_pages == 0'

# sorts
expect_status "sort=price: 200" 200 GET "$H?city=Lisbon&sort=price&per_page=100"
expect_jq "sort=price: lowest rate first, every row" \
	'[.hotels[].lowest_rate] as $r | ($r | length) == .total and $r == ($r | sort)'
expect_status "sort=rating: 200" 200 GET "$H?city=Lisbon&sort=rating&per_page=100"
expect_jq "sort=rating: best first (unrated last), every row" \
	'[.hotels[] | .rating // -1] as $r | ($r | length) == .total and $r == ($r | sort | reverse)'
expect_status "sort=name: 200" 200 GET "$H?city=Lisbon&sort=name&per_page=100"
expect_jq "sort=name: by name, case and accents aside, every row" \
	"$FOLD"' [.hotels[].name | fold] as $n | ($n | length) == .total and $n == ($n | sort)'
expect_status "sort=price on page 2: 200" 200 GET "$H?city=Lisbon&sort=price&per_page=10&page=2"
p2_first=$(jq -r '.hotels[0].lowest_rate' "$RESP_BODY_FILE")
expect_status "sort=price on page 1: 200" 200 GET "$H?city=Lisbon&sort=price&per_page=10&page=1"
expect_jq "sort=price: page 1 ends no dearer than page 2 starts" \
	'.hotels[-1].lowest_rate <= $p' --argjson p "${p2_first:-0}"

# filters, checked on every returned row
expect_status "stars=4: 200" 200 GET "$H?city=Lisbon&stars=4&per_page=100"
expect_jq "stars=4: every hotel has 4 stars or more, fewer than all" \
	'(.hotels | length) > 0 and (.hotels | length) == .total and all(.hotels[]; .stars >= 4)
	 and .total < $all' --argjson all "${lisbon_total:-0}"
expect_status "max_price=8000: 200" 200 GET "$H?city=Lisbon&max_price=8000&per_page=100"
expect_jq "max_price=8000: every lowest rate is at most 8000, fewer than all" \
	'(.hotels | length) > 0 and (.hotels | length) == .total
	 and all(.hotels[]; .lowest_rate <= 8000) and .total < $all' --argjson all "${lisbon_total:-0}"
expect_status "stars=3, max_price=20000, guests=2, sort=rating: 200" 200 \
	GET "$H?city=Lisbon&stars=3&max_price=20000&guests=2&sort=rating&per_page=100"
expect_jq "stars=3, max_price=20000: both hold on every row" \
	'(.hotels | length) > 0 and all(.hotels[]; .stars >= 3 and .lowest_rate <= 20000)'
expect_status "guests=1: 200" 200 GET "$H?city=Lisbon&guests=1&per_page=1"
guests1_total=$(jq -r '.total' "$RESP_BODY_FILE")
expect_status "guests=4: 200" 200 GET "$H?city=Lisbon&guests=4&per_page=5"
expect_jq "guests=4: some hotels, fewer than for one guest" \
	'(.hotels | length) > 0 and .total < $t' --argjson t "${guests1_total:-0}"
# guests: each hotel's lowest_rate is its cheapest room type sleeping 4
jq -r '.hotels[] | "\(.id) \(.lowest_rate)"' "$RESP_BODY_FILE" >"$BH_SCRATCH/guests4"
while read -r id rate; do
	expect_status "guests=4: hotel $id: 200" 200 GET "$H/$id"
	expect_jq "guests=4: hotel $id has a room type for 4 at its lowest_rate $rate, none cheaper" \
		'[.room_types[] | select(.capacity >= 4) | .nightly_rate] as $r
		 | ($r | length) > 0 and ($r | min) == $rate' --argjson rate "$rate"
done <"$BH_SCRATCH/guests4"
expect_status "guests=20: 200" 200 GET "$H?city=Lisbon&guests=20"
expect_jq "guests=20: no room sleeps 20: no hotels, the city still named" \
	'.city.name == "Lisbon" and .hotels == [] and .total == 0'

# pagination
expect_status "per_page=20 page=1: 200" 200 GET "$H?city=Lisbon&per_page=20&page=1"
expect_jq "page 1: paging members agree" "$PAGING"
ids_of >"$BH_SCRATCH/page1"
expect_status "per_page=20 page=2: 200" 200 GET "$H?city=Lisbon&per_page=20&page=2"
expect_jq "page 2: paging members agree, page 2" "$PAGING"' and .page == 2'
ids_of >"$BH_SCRATCH/page2"
check "page 2 has other hotels than page 1" \
	test -z "$(sort "$BH_SCRATCH/page1" "$BH_SCRATCH/page2" | uniq -d)" -a -s "$BH_SCRATCH/page2"
last=$(jq -r '.total_pages' "$RESP_BODY_FILE")
for ((p = 3; p <= last && p <= 50; p++)); do
	http GET "$H?city=Lisbon&per_page=20&page=$p"
	ids_of >"$BH_SCRATCH/page$p"
done
expect_jq "the last page ($last): paging members agree, not empty" \
	"$PAGING"' and (.hotels | length) > 0 and .page == $last' --argjson last "$last"
check "pages 1..$last together list each of the $lisbon_total hotels once" \
	test "$(cat "$BH_SCRATCH"/page[0-9]* | wc -l) $(cat "$BH_SCRATCH"/page[0-9]* | sort -u | wc -l)" \
	= "$lisbon_total $lisbon_total"
expect_status "a page past the end: 200" 200 GET "$H?city=Lisbon&per_page=20&page=1000"
expect_jq "a page past the end: no hotels, the same total" \
	'.hotels == [] and .total == $t and .page == 1000' --argjson t "${lisbon_total:-0}"
expect_status "per_page=1: 200" 200 GET "$H?city=Lisbon&per_page=1"
expect_jq "per_page=1: one hotel, total_pages is the total" \
	'(.hotels | length) == 1 and .total_pages == .total'

# --------------------------------------------------------- /search/hotels/{id}

expect_status "hotel $hotel_id: 200" 200 GET "$H/$hotel_id"
expect_content_type "hotel $hotel_id: application/json" application/json
expect_header "hotel $hotel_id: an X-Request-Id" X-Request-Id '[!-~]{8,200}'
expect_jq "hotel $hotel_id: the hotel of the search, in Lisbon" \
	'.id == $id and .name == $name and .city == "Lisbon" and .country == "Portugal"
	 and (.description | length) > 0 and (.address | length) > 0
	 and .stars >= 1 and .stars <= 5 and (.lat | type) == "number"' \
	--argjson id "$hotel_id" --arg name "$hotel_name"
expect_jq "hotel $hotel_id: 2 to 5 room types with id, name, capacity, rate, currency, rooms" \
	'(.room_types | length) >= 2 and (.room_types | length) <= 5 and all(.room_types[];
	 (.id | type) == "number" and (.name | length) > 0 and .capacity >= 1
	 and .nightly_rate > 0 and .currency == "EUR" and .rooms > 0)'
expect_jq "hotel $hotel_id: its cheapest room type is the search's lowest_rate" \
	'([.room_types[].nightly_rate] | min) == $r' --argjson r "$hotel_rate"
expect_status "HEAD hotel $hotel_id: 200" 200 HEAD "$H/$hotel_id"
check "HEAD hotel $hotel_id: headers only, no body" head_is_bare "$H/$hotel_id"
expect_problem "an unknown hotel: 404 not-found problem" 404 not-found GET "$H/2147483647"

# ------------------------------------------------------------ /search/cities

C=/search/cities
expect_status "cities prefix=zu: 200" 200 GET "$C?prefix=zu"
expect_content_type "cities prefix=zu: application/json" application/json
expect_jq "cities prefix=zu: Zürich, typed members" \
	'any(.cities[]; .name == "Zürich" and .country == "Switzerland" and .country_code == "CH")
	 and all(.cities[]; (.id | type) == "number" and (.hotel_count | type) == "number")'
for spec in 'sao=São Paulo' 'S%C3%A3o=São Paulo' 'KRAK=Kraków' 'lisb=Lisbon' 'lodz=Łódź' \
	'mosc=Москва' '%CE%91%CE%B8=Αθήνα'; do
	q=${spec%%=*}
	want=${spec#*=}
	expect_status "cities prefix=$q: 200" 200 GET "$C?prefix=$q"
	expect_jq "cities prefix=$q: $want" 'any(.cities[]; .name == $w)' --arg w "$want"
done
expect_jq "cities prefix=Αθ: matched_name is its own name" \
	'any(.cities[]; .name == "Αθήνα" and .matched_name == "Αθήνα")'
expect_status "cities prefix=mosc: 200" 200 GET "$C?prefix=mosc"
expect_jq "cities prefix=mosc: Москва matched as Moscow" \
	'any(.cities[]; .name == "Москва" and .matched_name == "Moscow")'
expect_status "cities prefix=m: 200" 200 GET "$C?prefix=m"
expect_jq "cities prefix=m: 10 by default, most hotels first, all starting with m" \
	"$FOLD"' (.cities | length) == 10
	 and ([.cities[].hotel_count] as $h | $h == ($h | sort | reverse))
	 and all(.cities[]; .matched_name | fold | startswith("m"))'
expect_status "cities prefix=m&limit=3: 200" 200 GET "$C?prefix=m&limit=3"
expect_jq "cities limit=3: three" '(.cities | length) == 3'
expect_status "cities prefix=%25 (LIKE's wildcard): 200" 200 GET "$C?prefix=%25"
expect_jq "cities prefix=%25: matches nothing: % is a plain character" '.cities == []'
expect_status "cities prefix=_ (LIKE's one-character wildcard): 200" 200 GET "$C?prefix=_"
expect_jq "cities prefix=_: matches nothing" '.cities == []'
expect_status "cities prefix=qqq: 200" 200 GET "$C?prefix=qqq"
expect_jq "cities prefix=qqq: an empty list" '.cities == []'

# ------------------------------------------------------ bad input: 400 problems

long=$(head -c 10240 /dev/zero | tr '\0' 'a')
expect_param_problem "sort=cheapest" "$H?city=Lisbon&sort=cheapest" sort
expect_param_problem "page=0" "$H?city=Lisbon&page=0" page
expect_param_problem "page=-1" "$H?city=Lisbon&page=-1" page
expect_param_problem "page=1001" "$H?city=Lisbon&page=1001" page
expect_param_problem "per_page=100000" "$H?city=Lisbon&per_page=100000" per_page
expect_param_problem "per_page=0" "$H?city=Lisbon&per_page=0" per_page
expect_param_problem "city missing" "$H" city
expect_param_problem "city empty" "$H?city=" city
expect_param_problem "city of 10 KB" "$H?city=$long" city
expect_param_problem "city of invalid UTF-8 (%C3%28)" "$H?city=%C3%28" city
expect_param_problem "city with %00" "$H?city=lis%00bon" city
expect_param_problem "city with a control character (%01)" "$H?city=lis%01bon" city
expect_param_problem "city given twice" "$H?city=Lisbon&city=Porto" city
expect_param_problem "stars=abc" "$H?city=Lisbon&stars=abc" stars
expect_param_problem "stars=6" "$H?city=Lisbon&stars=6" stars
expect_param_problem "guests=1e3" "$H?city=Lisbon&guests=1e3" guests
expect_param_problem "guests=0" "$H?city=Lisbon&guests=0" guests
expect_param_problem "guests=21" "$H?city=Lisbon&guests=21" guests
expect_param_problem "max_price=99999999999999999999" \
	"$H?city=Lisbon&max_price=99999999999999999999" max_price
expect_param_problem "max_price=0" "$H?city=Lisbon&max_price=0" max_price
expect_param_problem "max_price=12.50" "$H?city=Lisbon&max_price=12.50" max_price
expect_param_problem "hotel id abc" "$H/abc" id
expect_param_problem "hotel id 99999999999" "$H/99999999999" id
expect_param_problem "hotel id -1" "$H/-1" id
expect_param_problem "hotel id 0" "$H/0" id
expect_param_problem "cities without prefix" "$C" prefix
expect_param_problem "cities prefix of 10 KB" "$C?prefix=$long" prefix
expect_param_problem "cities prefix of invalid UTF-8" "$C?prefix=%FF" prefix
expect_param_problem "cities limit=0" "$C?prefix=m&limit=0" limit
expect_param_problem "cities limit=51" "$C?prefix=m&limit=51" limit
expect_param_problem "cities limit=ten" "$C?prefix=m&limit=ten" limit

# --------------------------------------------------- other paths and methods

expect_problem "an unknown path: 404 not-found problem" 404 not-found GET /search/no-such-thing
# (POST /search/hotels, PUT and DELETE /search/hotels/1 are catalogue
# writes: t/integration/search-catalog.sh)
expect_problem "POST /search/hotels/1: 405 problem" 405 method-not-allowed POST "$H/1"
expect_header "POST /search/hotels/1: Allow names GET" Allow '.*GET.*'
expect_problem "PATCH /search/cities: 405 problem" 405 method-not-allowed PATCH "$C?prefix=m"
expect_status "/search/health: 200" 200 GET /search/health
expect_status "/search/ready: 200" 200 GET /search/ready

finish
