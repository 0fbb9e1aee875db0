-- bench/hotel.lua - wrk script: GET /search/hotels/{id} over ids spread
-- across 1..BH_BENCH_HOTELS (default 5000), so the run does not read one
-- cached row only.

local hotels = tonumber(os.getenv("BH_BENCH_HOTELS") or "") or 5000
local n = 0

function init(args)
	n = math.random(hotels)
end

function request()
	-- a stride prime to the range visits every id before repeating one
	n = (n + 7919) % hotels
	return wrk.format("GET", "/search/hotels/" .. (n + 1))
end
