-- funcatron.publish: one message to a route queue over a pooled STOMP connection (cosocket
-- keepalive pool: no new TCP + CONNECT per message), with a receipt, so that a broker ERROR
-- (access, frame size, ...) is a 503 at once (frontend.md "Request handling" 4).
--
-- Two callers: funcatron.batcher (records framing: one SEND per batch, so one receipt round
-- trip per batch, protocol.md §8) and funcatron.request's catalogue path (one SEND per
-- request, FUNCATRON_FRAMING=catalogue). A pooled connection that turns out dead is replaced
-- by a new one, once; a broker that cannot be reached is reported (funcatron.brokers) and the
-- next one tried.
local stomp   = require "funcatron.stomp"
local records = require "funcatron.records"
local brokers = require "funcatron.brokers"

local ngx      = ngx
local log      = ngx.log
local WARN     = ngx.WARN
local now      = ngx.now
local tostring = tostring
local ceil     = math.ceil
local min      = math.min

local POOL_SIZE    = 64     -- pooled STOMP connections per worker
local POOL_BACKLOG = 1024   -- publishers queued for a pooled connection beyond that
local POOL_IDLE_MS = 60000


local _M = { _VERSION = "0.1.0" }

-- the pooled connections' options per broker (funcatron.brokers): derived from the settings,
-- which never change after init, so built once per worker and broker
local pooled = {}
local receipts = 0


-- pool_opts returns the options of the pooled publishing connections to the broker this
-- worker is at now (funcatron.brokers.current).
function _M.pool_opts(c)
    local b = brokers.current(now())
    if not pooled[b] then
        -- a receipt slower than the request's own timeout is as bad as none
        local read_ms = min(5000, ceil(c.timeout * 1000))
        pooled[b] = {
            host = b.host, port = b.port, broker = b,
            user = c.rabbit_user, password = c.rabbit_pwd, vhost = c.rabbit_vhost,
            pool = "funcatron:" .. b.host .. ":" .. b.port .. ":" ..
                c.rabbit_vhost .. ":" .. c.rabbit_user,
            pool_size = POOL_SIZE, backlog = POOL_BACKLOG,
            heart_beat = { 0, 0 },
            connect_timeout = 1000, send_timeout = 5000, read_timeout = read_ms,
        }
    end
    return pooled[b]
end


-- once makes one attempt on one pooled connection: SEND and wait for the receipt. Returns
-- true | false, text (the broker said no) | nil, err (I/O), and whether a retry on a new
-- connection makes sense (a pooled connection that turned out dead).
local function once(opts, dest, body, headers, receipt)
    local conn, err = stomp.new(opts)
    if not conn then
        return nil, err
    end
    local ok
    ok, err = conn:connect()
    if not ok then
        return ok, err
    end
    ok, err = conn:send(dest, body, headers, receipt)
    if ok then
        conn:set_keepalive(POOL_IDLE_MS)
        return true
    end
    return ok, err, ok == nil and conn.reused
end


-- send publishes body to the route queue with headers (an array of {name, value}) and waits
-- for the broker's receipt. Returns true, or false, text (the broker refused), or nil, err.
local function send(c, queue, body, headers)
    local opts = _M.pool_opts(c)
    local dest = stomp.queue_destination("/amq/queue/", queue)
    receipts = receipts + 1
    local receipt = "p" .. receipts
    local ok, err, retry
    for _ = 1, 3 do -- a dead pooled connection, then a dead broker: at most one of each
        ok, err, retry = once(opts, dest, body, headers, receipt)
        -- an I/O failure: the next broker, and this message tries it at once (§9)
        retry = retry or (ok == nil and brokers.failed(opts.broker, now()))
        opts = _M.pool_opts(c)
        if ok or not retry then
            return ok, err
        end
        log(WARN, "funcatron: broker connection failed (", err, "), retrying on a new one")
    end
    return ok, err
end


-- catalogue publishes one service message in the catalogue's form (JSON, base64 body).
function _M.catalogue(c, queue, payload, expiration_ms)
    return send(c, queue, payload, {
        { "content-type", "application/json" },
        { "persistent", "false" },
        { "expiration", tostring(expiration_ms) },
    })
end


-- records publishes count records (body: back to back) as one records message.
function _M.records(c, queue, body, count, expiration_ms)
    return send(c, queue, body, {
        { "content-type", "application/json" },
        { "persistent", "false" },
        { "expiration", tostring(expiration_ms) },
        { "fc-framing", records.FRAMING },
        { "fc-records", tostring(count) },
    })
end


return _M
