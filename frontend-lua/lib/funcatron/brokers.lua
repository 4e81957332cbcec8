-- funcatron.brokers: which RabbitMQ node this worker talks to (spec/protocol.md §9,
-- frontend.md "Several brokers"). The listener's connection and the publish pool both ask
-- current() and report failed(); so they move together, and to the same node.
--
-- The list is RABBIT_HOSTS (funcatron.config: { {host=, port=}, ... }), shuffled once per
-- worker by init (so that the workers of a fleet spread over the nodes). failed(b) moves to
-- the next node and keeps b out of current()'s choice for a backoff (0.1 s doubling to 2 s
-- per failure in a row, reset by ok(b)); when every node is in its backoff, current() gives
-- the one it is at anyway, so a frontend never stops trying. Pure: the clock and the
-- randomness are passed in, for the specs.
local floor = math.floor
local min   = math.min

local BACKOFF_MIN = 0.1   -- seconds
local BACKOFF_MAX = 2

local _M = { _VERSION = "0.1.0" }

local list = {}
local at = 1


-- init takes the configured brokers (copied) and shuffles them with rand(n) → 1..n
-- (math.random after the worker's seed).
function _M.init(hosts, rand)
    list = {}
    for i, h in ipairs(hosts) do
        list[i] = { host = h.host, port = h.port, fails = 0, down_until = 0 }
    end
    for i = #list, 2, -1 do
        local j = rand(i)
        list[i], list[j] = list[j], list[i]
    end
    at = 1
end


-- current is the broker to use now (t: ngx.now()): the one this worker is at, unless it is
-- in its backoff and another is not.
function _M.current(t)
    for k = 0, #list - 1 do
        local i = (at - 1 + k) % #list + 1
        if list[i].down_until <= t then
            at = i
            return list[i]
        end
    end
    return list[at]
end


-- failed reports that b (a value current returned) failed at t: it waits out its backoff,
-- and the worker moves to the next broker. Returns true when there is another one to try.
function _M.failed(b, t)
    if not b then
        return false
    end
    b.fails = b.fails + 1
    b.down_until = t + min(BACKOFF_MAX, BACKOFF_MIN * 2 ^ (b.fails - 1))
    if list[at] == b then
        at = at % #list + 1
    end
    return #list > 1
end


-- ok reports that b worked: its next failure starts a new backoff.
function _M.ok(b)
    if b then
        b.fails, b.down_until = 0, 0
    end
end


-- all is the list in this worker's order (for the status page and the specs).
function _M.all()
    return list
end


-- parse reads "host:port,host:port" into { {host=, port=}, ... }, or nil, err.
function _M.parse(s)
    local out = {}
    for item in s:gmatch("[^,]+") do
        item = item:match("^%s*(.-)%s*$")
        if item ~= "" then
            local host, port = item:match("^([^:]+):(%d+)$")
            port = tonumber(port)
            if not host or not port or port < 1 or port > 65535 or port ~= floor(port) then
                return nil, "bad RABBIT_HOSTS item '" .. item .. "': host:port expected"
            end
            if host == "localhost" then -- nginx's resolver does not read /etc/hosts
                host = "127.0.0.1"
            end
            out[#out + 1] = { host = host, port = port }
        end
    end
    if #out == 0 then
        return nil, "bad RABBIT_HOSTS '" .. s .. "': no host:port"
    end
    return out
end


return _M
