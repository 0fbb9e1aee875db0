-- bench/soak.lua - wrk script for the memory soak: a mix of every search
-- endpoint, successful and failing, so that a leak on any path (a result
-- not cleared, a problem document not freed) shows as RSS growth.
--
-- Of the 16 requests in one rotation, 4 are meant to fail (404 or 400).

local hotels = tonumber(os.getenv("BH_BENCH_HOTELS") or "") or 5000

local fixed = {
	"/search/hotels?city=Lisbon",
	"/search/hotels?city=Lisbn&guests=2&sort=price",
	"/search/hotels?city=Paris&stars=4&sort=rating&page=2&per_page=5",
	"/search/hotels?city=Berln&max_price=20000&sort=name",
	"/search/cities?prefix=Li&limit=5",
	"/search/cities?prefix=Pa",
	"/search/health",
	"/search/ready",
	-- failures: unknown hotel, bad parameters, unknown route
	"/search/hotels/999999999",
	"/search/hotels?city=Lisbon&guests=abc",
	"/search/hotels?city=Lisbon&sort=%27%3Bdrop",
	"/search/nowhere",
}
local per_rotation = #fixed + 4   -- plus 4 hotel-by-id requests

local n = 0
local id = 0

function init(args)
	n = math.random(per_rotation)
	id = math.random(hotels)
end

function request()
	n = n + 1
	local k = n % per_rotation + 1
	if k > #fixed then
		id = (id + 7919) % hotels
		return wrk.format("GET", "/search/hotels/" .. (id + 1))
	end
	return wrk.format("GET", fixed[k])
end
