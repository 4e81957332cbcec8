-- funcatron.frontend: the per-worker side of the frontend.
--
-- Phases: init() in init_by_lua (reads the configuration once; a bad value stops nginx),
-- start() in init_worker_by_lua (starts the listener with ngx.timer.at). The rest is called
-- from request handlers (funcatron.request) in the same worker.
--
-- The listener, one per worker, in one timer:
--   1. connects to RabbitMQ over STOMP (its own connection, never pooled),
--   2. SUBSCRIBEs to the worker's inbox /queue/FRNT<uuid> (exclusive, auto-delete) and waits
--      for the RECEIPT, THEN sends `awake` with a receipt, so the Tron's immediate `route` reply
--      cannot be lost;
--   3. reads frames: `route` (install the table, send `ack`), `answer` (wake the waiting
--      request), `tron-info`, `die` (send `died`, stop listener and heartbeats),
--      `resend-awake` (send `awake` again); every FUNCATRON_HEARTBEAT seconds it sends
--      `heartbeat`; STOMP heart-beats both ways detect a silent broker;
--      control messages are signed with the frontend key (spec/protocol.md §7,
--      funcatron.sign): awake, heartbeat, ack and died go out signed; route, die, tron-info
--      and resend-awake are acted on only with a valid signature for this inbox, within the
--      clock skew, never twice, and their body must repeat the signed action, msg-id and at;
--      a `die` also needs this worker's own instance-id. Refusals are counted (health's
--      `refused`, by reason) and logged at most every 10 s per reason. Answers are the data
--      plane: not signed;
--   4. on any failure (broker gone, ERROR frame such as a missing Tron queue) closes the
--      connection and starts over from 1 after a backoff (0.1 s doubling to 2 s, plus jitter),
--      with the same inbox name, and sends `awake` again;
--   5. when the worker exits (reload, quit) sends `died` and DISCONNECTs (best effort).
--
-- Worker state lives in `state` below: it is per worker (each worker has its own Lua VM), not
-- per request.
local stomp     = require "funcatron.stomp"
local routes    = require "funcatron.routes"
local message   = require "funcatron.message"
local waiters   = require "funcatron.waiters"
local config    = require "funcatron.config"
local sign      = require "funcatron.sign"
local cjson     = require "cjson.safe"
local semaphore = require "ngx.semaphore"

local ngx        = ngx
local log        = ngx.log
local ERR        = ngx.ERR
local WARN       = ngx.WARN
local INFO       = ngx.INFO
local now        = ngx.now
local sleep      = ngx.sleep
local timer_at   = ngx.timer.at
local exiting    = ngx.worker.exiting
local type       = type
local pcall      = pcall
local ipairs     = ipairs
local next       = next
local tostring   = tostring
local floor      = math.floor
local min        = math.min
local random     = math.random
local io_open    = io.open

local BACKOFF_MIN = 0.1     -- seconds
local BACKOFF_MAX = 2
local STOMP_HEART_BEAT = 10000 -- ms, both ways, on the listener connection
local MAX_POLL = 1          -- seconds: how often the loop looks at the clock when idle
local MAX_UNKNOWN_LOGGED = 64
local MAX_DEPTH = 100       -- nesting of a message on the inbox (docs/security.md "Bounded input")
local QUEUE_TTL = 30        -- seconds a route queue seen to exist is not probed again
local REFUSAL_LOG_PERIOD = 10 -- seconds between two logs of refusals of one reason
-- what a client is told when the broker cannot be reached: never its address (frontend.md)
local BUS_UNREACHABLE = "the message bus is unreachable"


local _M = { _VERSION = "0.1.0", BUS_UNREACHABLE = BUS_UNREACHABLE }

local state = {
    inbox = nil,        -- "FRNT<uuid>": this worker's inbox queue, fixed for the worker's life
    node_id = nil,      -- INSTANCEID-<worker id>
    connected = false,  -- subscribed and awake sent
    stopped = false,    -- `die` received
    table = nil,        -- routes object; nil until the first `route`
    table_at = nil,
    ready = nil,        -- semaphore posted when the first table arrives
    waiters = nil,      -- funcatron.waiters registry
    tron_host = nil,
    awakes = 0,
    sessions = 0,
    last_error = nil,
    queues = {},        -- route queue → ngx.now() when it was last seen to exist
    unknown = {},       -- actions already logged as unknown
    unknown_n = 0,
    seen = sign.seen(), -- msg-ids of the control messages processed (replays are refused)
    refused = {},       -- reason → count of refused control messages
    refusal_logged = {}, -- reason → ngx.now() of its last log line
}


local function hostname()
    local f = io_open("/proc/sys/kernel/hostname", "r")
    if f then
        local h = f:read("*l")
        f:close()
        if h and h ~= "" then
            return h
        end
    end
    return os.getenv("HOSTNAME") or "nginx"
end


local function now_ms()
    return floor(now() * 1000)
end


local function uuid()
    return message.uuid(random)
end


-- init reads the configuration (init_by_lua). A bad setting raises: nginx does not start.
function _M.init()
    local c, err = config.load()
    if not c then
        error("funcatron: " .. err, 0)
    end
    if not c.instance_id then
        c.instance_id = hostname() .. "-" .. ngx.worker.pid()
    end
    local key
    key, err = sign.read_key(c.key_file)
    if not key then
        error("funcatron: " .. err, 0)
    end
    c.key = key
    if not c.host then
        c.host = hostname()
    end
    stomp.MAX_BODY = c.max_message_bytes
    -- the Go decoders' nesting bound (protocol.MaxDepth); lua-cjson's own is 1000
    cjson.decode_max_depth(MAX_DEPTH)
end


local function seed()
    local f = io_open("/dev/urandom", "rb")
    local s = 0
    if f then
        local b = f:read(6) or ""
        f:close()
        for i = 1, #b do
            s = s * 256 + b:byte(i)
        end
    end
    math.randomseed(s + ngx.worker.pid() + floor(now() * 1000) % 100000)
end


---------------------------------------------------------------------------------------------
-- Sending to the Tron
---------------------------------------------------------------------------------------------

local function send_control(conn, action, fields, receipt, on_frame)
    local c = config.get()
    local msg = message.control(action, state.inbox, uuid(), now_ms(), fields)
    local body = cjson.encode(msg)
    local headers = sign.headers(c.key, c.tron_queue, action, msg["msg-id"], msg.at, body)
    headers[#headers + 1] = { "content-type", "application/json" }
    headers[#headers + 1] = { "persistent", "true" }
    return conn:send(stomp.queue_destination("/amq/queue/", c.tron_queue), body, headers, receipt, on_frame)
end


local function awake_fields()
    local c = config.get()
    return {
        type = "frontend",
        ["instance-id"] = state.node_id,
        ["host-info"] = message.host_info(c.host, c.port_80),
    }
end


local function node_fields()
    return { type = "frontend", ["instance-id"] = state.node_id }
end


---------------------------------------------------------------------------------------------
-- Handling what arrives on the inbox
---------------------------------------------------------------------------------------------

local function install_routes(list)
    local tbl, skipped = routes.new(list)
    state.table = tbl
    state.table_at = now()
    -- keep what is known about queues still in use only
    local known = {}
    for _, r in ipairs(tbl.routes) do
        known[r.queue] = state.queues[r.queue]
    end
    state.queues = known
    if skipped > 0 then
        log(WARN, "funcatron: route message had ", skipped, " entries without a queue; skipped")
    end
    local waiting = -state.ready:count()
    if waiting > 0 then
        state.ready:post(waiting)
    end
    return tbl
end


local handlers = {}


function handlers.answer(_, msg)
    local id = msg["request-id"]
    if type(id) ~= "string" then
        log(WARN, "funcatron: answer without request-id dropped")
        return true
    end
    local a = msg.answer
    if a == nil then
        a = false -- delivered, and malformed: the request answers 502 at once
    end
    local ok, why = state.waiters:deliver(id, a)
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
    local tbl = install_routes(list)
    log(INFO, "funcatron: installed ", tbl:count(), " routes from ", tostring(msg["msg-id"]))
    local fields = node_fields()
    fields["ack-id"] = msg["msg-id"]
    fields.status = "ok"
    return send_control(conn, "ack", fields)
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
    local ok, err = send_control(conn, "awake", awake_fields())
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


-- on_message handles one MESSAGE frame; nil, err means the connection is unusable.
local function on_message(conn, frame)
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


local function on_frame(conn, frame)
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


---------------------------------------------------------------------------------------------
-- The listener
---------------------------------------------------------------------------------------------

local function poll_timeout(c, next_hb)
    local t = min(MAX_POLL, c.heartbeat / 2, next_hb - now())
    if t < 0.01 then
        t = 0.01
    end
    return floor(t * 1000)
end


local function goodbye(conn, why)
    send_control(conn, "died", node_fields())
    conn:settimeout(1000)
    conn:disconnect()
    state.connected = false
    return true, why
end


-- serve reads frames until something fails; returns true, why (after being connected).
local function serve(conn, c)
    local next_hb = now() + c.heartbeat
    while true do
        if exiting() then
            return goodbye(conn, "worker exiting")
        end
        if state.stopped then
            return goodbye(conn, "stopped by die")
        end
        local t = now()
        if t >= next_hb then
            local ok, err = send_control(conn, "heartbeat", node_fields())
            if not ok then
                return true, "sending heartbeat: " .. tostring(err)
            end
            next_hb = t + c.heartbeat
        end
        if conn:heartbeat_due(t) then
            local ok, err = conn:send_heartbeat()
            if not ok then
                return true, err
            end
        end
        if conn:peer_silent(t) then
            conn:close()
            return true, "broker missed its heart-beats"
        end
        conn.in_frame = false
        conn:settimeout(poll_timeout(c, next_hb))
        local frame, err = stomp.read_frame(conn)
        if not frame then
            if err ~= "timeout" or conn.in_frame then
                conn:close()
                return true, "reading from broker: " .. err
            end
        elseif frame ~= stomp.HEARTBEAT then
            local ok
            ok, err = on_frame(conn, frame)
            if not ok then
                conn:close()
                return true, err
            end
        end
    end
end


local function listener_conn(c, heart_beat)
    local conn, err = stomp.new({
        host = c.rabbit_host, port = c.rabbit_port,
        user = c.rabbit_user, password = c.rabbit_pwd, vhost = c.rabbit_vhost,
        heart_beat = heart_beat,
        connect_timeout = 2000, send_timeout = 5000, read_timeout = 5000,
    })
    if not conn then
        return nil, err
    end
    local ok
    ok, err = conn:connect()
    if not ok then
        return nil, err
    end
    return conn
end


-- tron_queue_ready checks, on a connection of its own, that the Tron queue exists: RabbitMQ
-- drops an awake sent to a missing queue without a word, and the probe's ERROR closes the
-- connection it happens on.
local function tron_queue_ready(c)
    local conn, err = listener_conn(c, { 0, 0 })
    if not conn then
        return nil, err
    end
    local ok
    ok, err = conn:probe_queue(c.tron_queue)
    if ok then
        return true
    end
    if ok == false and stomp.error_kind(err) == "exists" then
        return true
    end
    return nil, "tron queue " .. c.tron_queue .. ": " .. tostring(err)
end


-- session runs one connection from connect to failure. Returns reached (whether it got as far
-- as sending awake), why.
local function session()
    local c = config.get()
    state.sessions = state.sessions + 1
    local ok, err = tron_queue_ready(c)
    if not ok then
        return false, err
    end
    local conn
    conn, err = listener_conn(c, { STOMP_HEART_BEAT, STOMP_HEART_BEAT })
    if not conn then
        return false, err
    end
    ok, err = conn:subscribe(stomp.queue_destination("/queue/", state.inbox), "inbox", "auto", {
        { "durable", "false" },
        { "auto-delete", "true" },
        { "exclusive", "true" },
    }, conn:next_receipt("sub"))
    if not ok then
        conn:close()
        return false, "subscribing to " .. state.inbox .. ": " .. tostring(err)
    end
    local failed
    ok, err = send_control(conn, "awake", awake_fields(), conn:next_receipt("awake"),
        function(frame)
            local fine, why = on_frame(conn, frame)
            if not fine then
                failed = why
            end
        end)
    if not ok or failed then
        conn:close()
        return false, "sending awake: " .. tostring(failed or err)
    end
    state.awakes = state.awakes + 1
    state.connected = true
    state.last_error = nil
    log(INFO, "funcatron: listening on ", state.inbox, " as ", state.node_id)
    local reached, why = serve(conn, c)
    state.connected = false
    return reached, why
end


-- pause sleeps for seconds in steps of at most 0.1 s, waking early when the worker starts
-- exiting. (Never ngx.sleep(0): without OpenResty's patches it does not advance the clock.)
local function pause(seconds)
    local left = seconds
    while left > 0 and not exiting() do
        local step = min(left, 0.1)
        if step < 0.001 then
            return
        end
        sleep(step)
        left = left - step
    end
end


local function listen(premature)
    if premature then
        return
    end
    local backoff = BACKOFF_MIN
    while not state.stopped and not exiting() do
        local ok, reached, why = pcall(session)
        state.connected = false
        if not ok then
            why, reached = "listener crashed: " .. tostring(reached), false
        end
        if state.stopped or exiting() then
            break
        end
        state.last_error = why
        if reached then
            backoff = BACKOFF_MIN
        end
        -- the first failure of a streak is an error; the retries that follow are warnings
        log((reached or backoff == BACKOFF_MIN) and ERR or WARN, "funcatron: listener: ", why,
            "; reconnecting in ", backoff, " s")
        pause(backoff + random() * backoff / 2)
        if not reached then
            backoff = min(backoff * 2, BACKOFF_MAX)
        end
    end
    log(INFO, "funcatron: listener stopped")
end


-- start sets up this worker's state and starts its listener (init_worker_by_lua).
function _M.start()
    local c = config.get()
    if not c then
        error("funcatron: init() did not run: add init_by_lua_block to nginx.conf", 0)
    end
    seed()
    state.waiters = waiters.new(semaphore.new)
    state.ready = semaphore.new(0)
    state.inbox = "FRNT" .. uuid()
    state.node_id = c.instance_id .. "-" .. (ngx.worker.id() or 0)
    local ok, err = timer_at(0, listen)
    if not ok then
        log(ERR, "funcatron: failed to start the listener: ", err)
    end
end


---------------------------------------------------------------------------------------------
-- For request handlers (same worker)
---------------------------------------------------------------------------------------------

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


-- queue_known says whether route queue q was seen to exist in the last QUEUE_TTL seconds.
function _M.queue_known(q)
    local t = state.queues[q]
    return t ~= nil and now() - t < QUEUE_TTL
end


-- queue_seen records that q exists; queue_forget makes the next request probe it again.
function _M.queue_seen(q)
    state.queues[q] = now()
end


function _M.queue_forget(q)
    state.queues[q] = nil
end


function _M.uuid()
    return uuid()
end


-- status describes this worker for /__funcatron/health.
function _M.status()
    local tbl = state.table
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
        ["table-waiters"] = state.ready and math.max(0, -state.ready:count()) or 0,
        awakes = state.awakes,
        sessions = state.sessions,
        refused = state.refused,
        ["last-error"] = state.last_error,
        ["tron-host"] = state.tron_host,
        version = message.VERSION,
    }
end


return _M
