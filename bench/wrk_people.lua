-- wrk script of the HTTP case: POST /api/v1/people with the same bodies as
-- bench/pgbench/api_post_person.sql.  SP_KEY, SP_PEOPLE and SP_DOMAINS come
-- from the environment.
local key = os.getenv("SP_KEY")
local people = tonumber(os.getenv("SP_PEOPLE") or "10000")
local domains = tonumber(os.getenv("SP_DOMAINS") or "500")

wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. key
wrk.headers["Content-Type"] = "application/json"

request = function()
	local id = math.random(1, people)
	local body = string.format(
		'{"externalId":"u%d","email":"u%d@c%d-bench.com","properties":{"plan":"p%d"}}',
		id, id, id % domains, math.random(1, 1000000))
	return wrk.format(nil, "/api/v1/people", nil, body)
end
