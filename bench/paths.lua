-- bench/paths.lua - wrk script: GET over the paths listed one per line in
-- the file BH_BENCH_PATHS (bench/run writes it from the database, so the
-- run reads many rows, not one cached one), each request with
-- "Authorization: Bearer $BH_BENCH_BEARER" when that is set.
--
-- The same script serves a public route and a token-protected one, so the
-- two rows of a pair differ only in the route and the header.

local paths = {}
local file = os.getenv("BH_BENCH_PATHS")
if file and file ~= "" then
	for line in io.lines(file) do
		if line ~= "" then
			paths[#paths + 1] = line
		end
	end
end

local headers = {}
local bearer = os.getenv("BH_BENCH_BEARER")
if bearer and bearer ~= "" then
	headers["Authorization"] = "Bearer " .. bearer
end

local n = 0

function init(args)
	n = math.random(math.max(#paths, 1))
end

function request()
	if #paths == 0 then
		-- no list: the URL given to wrk
		return wrk.format("GET", nil, headers)
	end
	n = n + 1
	return wrk.format("GET", paths[n % #paths + 1], headers)
end
