-- bench/cities.lua - wrk script: GET /search/hotels?city=... rotating over
-- several demo cities, some misspelt, so that the run measures the fuzzy
-- match over more than one city (and more than one cached plan or result).
--
-- BH_BENCH_CITIES (comma-separated) replaces the list.

local cities = {
	"Lisbon", "Porto", "Paris", "Berlin", "Barcelona", "London",
	"Amsterdam", "München", "Zürich", "Wien", "Edinburgh", "Sevilla",
	-- other names the demo catalogue knows them by
	"Lisboa", "Munich", "Vienna", "Rome", "Florence",
	-- typos and spellings the fuzzy match is meant to forgive
	"Lisbn", "Barcelonna", "Amsterdm", "Edinburg", "Pariss", "Munchen",
	"london",
}

local list = os.getenv("BH_BENCH_CITIES")
if list and list ~= "" then
	cities = {}
	for name in list:gmatch("[^,]+") do
		cities[#cities + 1] = name
	end
end

local function encode(s)
	return (s:gsub("[^%w%-%._~]", function(c)
		return string.format("%%%02X", string.byte(c))
	end))
end

local paths = {}
for i, name in ipairs(cities) do
	paths[i] = "/search/hotels?city=" .. encode(name)
end

local n = 0

function init(args)
	-- threads start at different places in the rotation
	n = math.random(#paths) + 7 * #paths
end

function request()
	n = n + 1
	return wrk.format("GET", paths[n % #paths + 1])
end
