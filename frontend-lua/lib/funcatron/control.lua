-- funcatron.control: the control messages between this worker and the Tron.
--
-- Out (signed with the frontend key, spec/protocol.md §7): awake, heartbeat, ack, died.
-- In, on the worker's inbox: `route` (install the table, send `ack`), `answer` (wake the
-- waiting request), `tron-info`, `die` (only with this worker's own instance-id: stop the
-- listener and heartbeats), `resend-awake` (send `awake` again). route, die, tron-info and
-- resend-awake are acted on only with a valid signature for this inbox, within the clock
-- skew, never twice, and their body must repeat the signed action, msg-id and at. Refusals
-- are counted by reason (for this worker in health's `refused`, for the whole nginx in
-- /__funcatron/metrics: funcatron.metrics) and logged at most every 10 s per reason.
-- Answers are the data plane: not signed (funcatron.sign, funcatron.worker).
local stomp   = require "funcatron.stomp"
local message = require "funcatron.message"
local config  = require "funcatron.config"
local sign    = require "funcatron.sign"
local worker  = require "funcatron.worker"
local records = require "funcatron.records"
local metrics = require "funcatron.metrics"
local cjson   = require "cjson.safe"

local ngx      = ngx
local log      = ngx.log
local WARN     = ngx.WARN
local INFO     = ngx.INFO
local now      = ngx.now
local type     = type
local next     = next
local tostring = tostring
local floor    = math.floor

local MAX_UNKNOWN_LOGGED = 64
local REFUSAL_LOG_PERIOD = 10 -- seconds between two logs of refusals of one reason

local state = worker.state


local _M = { _VERSION = "0.1.0" }


local function now_ms()
    return floor(now() * 1000)
end


---------------------------------------------------------------------------------------------
-- Sending to the Tron
---------------------------------------------------------------------------------------------

-- send publishes a signed control message to the Tron queue (with a receipt when asked).
function _M.send(conn, action, fields, receipt, on_frame)
    local c = config.get()
    local msg = message.control(action, state.inbox, worker.uuid(), now_ms(), fields)
    local body = cjson.encode(msg)
    local headers = sign.headers(c.key, c.tron_queue, action, msg["msg-id"], msg.at, body)
    headers[#headers + 1] = { "content-type", "application/json" }
    headers[#headers + 1] = { "persistent", "true" }
    return conn:send(stomp.queue_destination("/amq/queue/", c.tron_queue), body, headers, receipt, on_frame)
end


function _M.awake_fields()
    local c = config.get()
    return {
        type = "frontend",
        ["instance-id"] = state.node_id,
        ["host-info"] = message.host_info(c.host, c.port_80),
    }
end


function _M.node_fields()
    return { type = "frontend", ["instance-id"] = state.node_id }
end


---------------------------------------------------------------------------------------------
-- Handling what arrives on the inbox
---------------------------------------------------------------------------------------------

local handlers = {}


-- answer hands an answer to its waiting request; raw is a records answer's body.
function handlers.answer(_, msg, raw)
    local id = msg["request-id"]
    if type(id) ~= "string" then
        log(WARN, "funcatron: answer without request-id dropped")
        return true
    end
    local a = msg.answer
    if a == nil then
        a, raw = false, nil -- delivered, and malformed: the request answers 502 at once
    end
    local ok, why = state.waiters:deliver(id, a, raw)
    if not ok then
        log(INFO, "funcatron: answer for ", id, " dropped: ", why)
    end
    return true
end


function handlers.route(conn, msg)
    local list = msg.routes
    if list == nil or list == cjson.null then
        list = {} -- how the Tron's Go encoder may write an empty table
    elseif type(list) ~= "table" or (#list == 0 and next(list) ~= nil) then
        -- not a list: dropped, so a malformed message cannot wipe the table in use
        log(WARN, "funcatron: route message ", tostring(msg["msg-id"]),
            " without a list of routes dropped; the route table stays as it was")
        return true
    end
    local tbl = worker.install_routes(list)
    log(INFO, "funcatron: installed ", tbl:count(), " routes from ", tostring(msg["msg-id"]))
    local fields = _M.node_fields()
    fields["ack-id"] = msg["msg-id"]
    fields.status = "ok"
    return _M.send(conn, "ack", fields)
end


function handlers.tron_info(_, msg)
    state.tron_host = msg["tron-host"]
    return true
end


function handlers.die(_, msg)
    local target = msg["instance-id"]
    if target ~= state.node_id then
        log(WARN, "funcatron: die for ", tostring(target), " ignored (this node is ", state.node_id, ")")
        return true
    end
    log(WARN, "funcatron: die received: stopping listener and heartbeats")
    state.stopped = true
    return true
end


function handlers.resend_awake(conn)
    local ok, err = _M.send(conn, "awake", _M.awake_fields())
    if ok then
        state.awakes = state.awakes + 1
    end
    return ok, err
end


local dispatch = {
    answer = handlers.answer,
    route = handlers.route,
    ["tron-info"] = handlers.tron_info,
    die = handlers.die,
    ["resend-awake"] = handlers.resend_awake,
}


local function log_unknown(action)
    if state.unknown[action] or state.unknown_n >= MAX_UNKNOWN_LOGGED then
        return
    end
    state.unknown[action] = true
    state.unknown_n = state.unknown_n + 1
    log(WARN, "funcatron: unknown action ", action, " dropped (logged once)")
end


-- refuse counts a control message that failed verification and logs it, at most once per
-- REFUSAL_LOG_PERIOD per reason; nothing else happens.
local function refuse(reason, detail)
    state.refused[reason] = (state.refused[reason] or 0) + 1
    metrics.refused(state.metrics, reason)
    local t = now()
    local last = state.refusal_logged[reason]
    if last and t - last < REFUSAL_LOG_PERIOD then
        return true
    end
    state.refusal_logged[reason] = t
    log(WARN, "funcatron: refused a control message (", reason, "): ", detail,
        "; ", state.refused[reason], " refused for this reason so far (logged at most every ",
        REFUSAL_LOG_PERIOD, " s)")
    return true
end


-- verified checks the signature of a frame that carries fc-* headers, before its body is
-- decoded. A frame without them is refused as "unsigned" once decoding shows it is not an
-- answer (answers are unsigned: only the body tells them apart).
local function verified(frame)
    local c = config.get()
    return sign.verify(c.key, state.inbox, frame.headers, frame.body, now_ms(), c.max_skew * 1000, state.seen)
end


-- fail_records answers 502 at once to the requests of a records message whose framing broke
-- after their record (the records after the break cannot be read: those requests time out).
local function fail_records(why, partial)
    log(WARN, "funcatron: malformed records message on the inbox (", why, "); ", #partial,
        " requests read before the break answer 502")
    for i = 1, #partial do
        local id = partial[i].msg["request-id"]
        if type(id) == "string" then
            state.waiters:deliver(id, false, "malformed answer message: " .. why)
        end
    end
    return true
end


-- on_records handles a MESSAGE in records framing (protocol.md §8): answers only, each handed
-- to its request with its raw body. A record of any other action is refused as unsigned:
-- control messages come signed, one per message, never as records.
local function on_records(frame)
    local list, why, partial = records.split(frame.body, frame.headers["fc-records"],
        cjson.decode, cjson.null)
    if not list then
        return fail_records(why, partial)
    end
    for i = 1, #list do
        local m = list[i].msg
        if m.action == "answer" then
            handlers.answer(nil, m, list[i].raw)
        else
            refuse("unsigned", tostring(m.action) .. " in a records message")
        end
    end
    return true
end


-- on_message handles one MESSAGE frame; nil, err means the connection is unusable.
local function on_message(conn, frame)
    local framing = frame.headers["fc-framing"]
    if framing == records.FRAMING then
        return on_records(frame)
    elseif framing then
        log_unknown("framing " .. tostring(framing)) -- dropped, logged once
        return true
    end
    local v, reason, detail
    if frame.headers["fc-sig"] or frame.headers["fc-action"] then
        v, reason, detail = verified(frame)
        if not v then
            return refuse(reason, detail)
        end
    end
    local msg = message.decode_answer(frame.body, cjson.decode)
    if type(msg) ~= "table" then
        log(WARN, "funcatron: undecodable message on inbox dropped")
        return true
    end
    local action = msg.action
    local h = type(action) == "string" and dispatch[action]
    if not h then
        log_unknown(tostring(action))
        return true
    end
    if action ~= "answer" then
        if not v then
            return refuse("unsigned", tostring(action) .. " without fc-* headers")
        end
        if not sign.matches(v, msg) then
            return refuse("mismatch", "the body's action, msg-id or at differ from the signed headers")
        end
        sign.processed(v, state.seen, now_ms(), config.get().max_skew * 1000)
    end
    return h(conn, msg)
end


-- on_frame handles one frame read on the inbox connection; nil, err means the connection
-- is unusable.
function _M.on_frame(conn, frame)
    if frame.oversize then
        log(WARN, "funcatron: dropped a ", frame.command, " frame of ", frame.oversize,
            " bytes, over FUNCATRON_MAX_MESSAGE_BYTES (", stomp.MAX_BODY, ")")
        return true
    end
    if frame.command == "MESSAGE" then
        return on_message(conn, frame)
    end
    if frame.command == "ERROR" then
        return nil, "broker error: " .. stomp.error_text(frame)
    end
    return true -- RECEIPT of something we did not wait for
end


return _M
