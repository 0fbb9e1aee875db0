-- bench/booking.lua - wrk script: whole bookings, hold then pay.  A
-- request is a hold (POST /reservations/reservations) unless a hold this
-- thread made is waiting to be paid: then it pays that one (POST
-- /reservations/reservations/{id}/payment with the visa test card, which
-- the fake bank charges at once), and the answer (200, "confirmed") is a
-- booking done.  Holds and payments thus alternate on every connection.
--
-- bench/run passes, in the environment:
--   BH_BENCH_BEARER     a person's access token (scope bookings)
--   BH_BENCH_HOTEL, BH_BENCH_ROOM_TYPE   the bench hotel and its room type
--   BH_BENCH_DAYS       how many check-in days to spread over (default 700)
--   BH_BENCH_DAY_FIRST  the first check-in day, days from today (default 1)
--   BH_BENCH_THREADS    wrk's -t (default 2)
-- Each hold is one night; thread t of n takes the days t, t + n, t + 2n,
-- ... in turn, so that holds do not pile up on one night: the hotel has
-- rooms x days room-nights before a hold finds nothing free (409).
--
-- At the end it prints one line for bench/run:
--   BOOKINGS confirmed=N holds=N errors=N seconds=S
-- and the first few unexpected answers, to see what went wrong (an
-- answer cannot be matched to its request in wrk: a hold is told by its
-- 201 "held", a payment by its 200 "confirmed", anything else is an
-- error of either).

local bearer = os.getenv("BH_BENCH_BEARER") or ""
local hotel = tonumber(os.getenv("BH_BENCH_HOTEL") or "0")
local room_type = tonumber(os.getenv("BH_BENCH_ROOM_TYPE") or "0")
local ndays = tonumber(os.getenv("BH_BENCH_DAYS") or "700")
local first_day = tonumber(os.getenv("BH_BENCH_DAY_FIRST") or "1")
local nthreads_env = tonumber(os.getenv("BH_BENCH_THREADS") or "2")

local headers = {
	["Authorization"] = "Bearer " .. bearer,
	["Content-Type"] = "application/json",
}
local pay_body = '{"card":{"number":"4242424242424242","exp_month":12,' ..
	'"exp_year":2035,"cvc":"123","holder":"Bench Guest"}}'

local threads = {}
local nthreads = 0

function setup(thread)
	thread:set("thread_index", nthreads)
	nthreads = nthreads + 1
	table.insert(threads, thread)
end

-- per thread (each has its own Lua state)
local held = {}      -- reservation ids waiting to be paid
local day = 0
local now = 0
confirmed, holds, errors = 0, 0, 0
error_1, error_2, error_3 = "", "", ""

function init(args)
	now = os.time()
	day = thread_index
end

local function date(offset)
	return os.date("!%Y-%m-%d", now + offset * 86400)
end

function request()
	local id = table.remove(held)
	if id then
		return wrk.format("POST", "/reservations/reservations/" .. id ..
			"/payment", headers, pay_body)
	end
	local d = first_day + day % ndays
	day = day + nthreads_env
	local body = string.format('{"hotel_id":%d,"room_type_id":%d,' ..
		'"checkin":"%s","checkout":"%s","guests":1}',
		hotel, room_type, date(d), date(d + 1))
	return wrk.format("POST", "/reservations/reservations", headers, body)
end

local function clip(body)
	return (body or ""):sub(1, 300):gsub("\n", " ")
end

function response(status, headers, body)
	if status == 201 and body:find('"status"%s*:%s*"held"') then
		local id = body:match('"id"%s*:%s*"(%x+%-%x+%-%x+%-%x+%-%x+)"')
		holds = holds + 1
		if id then
			table.insert(held, id)
		end
	elseif status == 200 and body:find('"status"%s*:%s*"confirmed"') then
		confirmed = confirmed + 1
	else
		errors = errors + 1
		local what = status .. " " .. clip(body)
		if error_1 == "" then
			error_1 = what
		elseif error_2 == "" and what:sub(1, 3) ~= error_1:sub(1, 3) then
			error_2 = what
		elseif error_3 == "" and what:sub(1, 3) ~= error_1:sub(1, 3) and
		    what:sub(1, 3) ~= error_2:sub(1, 3) then
			error_3 = what
		end
	end
end

function done(summary, latency, requests)
	local c, h, e = 0, 0, 0
	local samples = {}
	for _, t in ipairs(threads) do
		c = c + t:get("confirmed")
		h = h + t:get("holds")
		e = e + t:get("errors")
		for _, k in ipairs({ "error_1", "error_2", "error_3" }) do
			local v = t:get(k)
			if v ~= "" and #samples < 3 then
				table.insert(samples, v)
			end
		end
	end
	io.write(string.format("BOOKINGS confirmed=%d holds=%d errors=%d " ..
		"seconds=%.3f\n", c, h, e, summary.duration / 1e6))
	for _, v in ipairs(samples) do
		io.write("BOOKINGS error: " .. v .. "\n")
	end
end
