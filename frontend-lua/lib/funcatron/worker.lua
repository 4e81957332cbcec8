-- funcatron.worker: the state of one nginx worker's frontend, shared by its listener
-- (funcatron.listener, funcatron.control) and its request handlers (funcatron.request).
--
-- Each nginx worker has its own Lua VM, so this is per worker, never per request. Request
-- handlers only read it, through the functions below.
local message = require "funcatron.message"
local routes  = require "funcatron.routes"
local sign    = require "funcatron.sign"
local metrics = require "funcatron.metrics"

local ngx      = ngx
local log      = ngx.log
local WARN     = ngx.WARN
local now      = ngx.now
local random   = math.random
local max      = math.max

-- what a client is told when the broker cannot be reached: never its address (frontend.md)
local BUS_UNREACHABLE = "the message bus is unreachable"


local _M = { _VERSION = "0.1.0", BUS_UNREACHABLE = BUS_UNREACHABLE }

-- state is this worker's; funcatron.startup fills inbox, node_id, ready and waiters.
local state = {
    inbox = nil,        -- "FRNT<uuid>": this worker's inbox queue, fixed for the worker's life
    node_id = nil,      -- INSTANCEID-<worker id>
    connected = false,  -- subscribed and awake sent (set_connected)
    connected_at = nil, -- ngx.now() of the last refresh of its metrics key (still_connected)
    stopped = false,    -- `die` received
    table = nil,        -- routes object; nil until the first `route`
    table_at = nil,
    ready = nil,        -- semaphore posted when the first table arrives
    waiters = nil,      -- funcatron.waiters registry
    batcher = nil,      -- funcatron.batcher: the requests that leave together, per route queue
    tron_host = nil,
    awakes = 0,
    sessions = 0,
    last_error = nil,
    unknown = {},       -- actions already logged as unknown
    unknown_n = 0,
    seen = sign.seen(), -- msg-ids of the control messages processed (replays are refused)
    refused = {},       -- reason → count of refused control messages, this worker's
                        -- (the whole nginx's: funcatron.metrics)
    metrics = nil,      -- the shared dict of funcatron.metrics
    refusal_logged = {}, -- reason → ngx.now() of its last log line
}
_M.state = state


function _M.uuid()
    return message.uuid(random)
end


-- set_connected records whether the listener is connected, here and in the metrics'
-- listeners gauge (funcatron.metrics).
function _M.set_connected(connected)
    state.connected = connected
    local pid = ngx.worker.pid()
    if connected then
        state.connected_at = now()
        metrics.listener_up(state.metrics, pid)
    elseif state.connected_at then
        state.connected_at = nil
        metrics.listener_down(state.metrics, pid)
    end
end


-- still_connected refreshes the connected listener's metrics key at most every
-- LISTENER_REFRESH s (the listener calls it at each turn of its loop, t = now()).
function _M.still_connected(t)
    if state.connected_at and t - state.connected_at >= metrics.LISTENER_REFRESH then
        _M.set_connected(true)
    end
end


-- install_routes makes list the route table and wakes the requests waiting for a first one.
function _M.install_routes(list)
    local tbl, skipped = routes.new(list)
    state.table = tbl
    state.table_at = now()
    if skipped > 0 then
        log(WARN, "funcatron: route message had ", skipped, " entries without a queue; skipped")
    end
    local waiting = -state.ready:count()
    if waiting > 0 then
        state.ready:post(waiting)
    end
    return tbl
end


-- route_table returns the current table, waiting up to wait seconds for the first one;
-- nil when none arrived.
function _M.route_table(wait)
    if state.table or not wait or wait <= 0 then
        return state.table
    end
    state.ready:wait(wait)
    return state.table
end


-- inbox returns the inbox answers come to, or nil, why, public when the listener cannot
-- receive them: why for the error log, public for the client (no broker address in it).
function _M.inbox()
    if state.stopped then
        local why = "this frontend worker was stopped by the tron (die)"
        return nil, why, why
    end
    if not state.connected then
        return nil, "frontend is not connected to the message broker"
            .. (state.last_error and (": " .. state.last_error) or ""), BUS_UNREACHABLE
    end
    return state.inbox
end


function _M.waiters()
    return state.waiters
end


function _M.batcher()
    return state.batcher
end


-- status describes this worker for /__funcatron/health.
function _M.status()
    local tbl = state.table
    local published
    if state.batcher then
        local messages, recs = state.batcher:stats()
        published = { messages = messages, records = recs }
    end
    return {
        connected = state.connected,
        stopped = state.stopped,
        inbox = state.inbox,
        ["node-id"] = state.node_id,
        worker = ngx.worker.id(),
        pid = ngx.worker.pid(),
        ["route-table"] = tbl ~= nil,
        routes = tbl and tbl:count() or 0,
        waiting = state.waiters and state.waiters:count() or 0,
        published = published,
        ["table-waiters"] = state.ready and max(0, -state.ready:count()) or 0,
        awakes = state.awakes,
        sessions = state.sessions,
        refused = state.refused,
        ["last-error"] = state.last_error,
        ["tron-host"] = state.tron_host,
        version = message.VERSION,
    }
end


return _M
