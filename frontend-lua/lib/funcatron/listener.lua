-- funcatron.listener: one STOMP connection per nginx worker, in one timer, that receives the
-- worker's answers and the Tron's control messages (funcatron.control):
--   1. connects to RabbitMQ over STOMP (its own connection, never pooled),
--   2. SUBSCRIBEs to the worker's inbox /queue/FRNT<uuid> (exclusive, auto-delete) and waits
--      for the RECEIPT, THEN sends `awake` with a receipt, so the Tron's immediate `route`
--      reply cannot be lost;
--   3. reads frames and hands them to funcatron.control; every FUNCATRON_HEARTBEAT seconds
--      it sends `heartbeat`; STOMP heart-beats both ways detect a silent broker;
--   4. on any failure (broker gone, ERROR frame such as a missing Tron queue) closes the
--      connection, reports the broker failed (funcatron.brokers: with RABBIT_HOSTS the next
--      node is tried, and the publish pool moves there too) and starts over from 1 after a
--      backoff (0.1 s doubling to 2 s, plus jitter), with the same inbox name (re-created on
--      the new node: nothing depends on the old one surviving), and sends `awake` again;
--   5. when the worker exits (reload, quit) sends `died` and DISCONNECTs (best effort).
local stomp   = require "funcatron.stomp"
local config  = require "funcatron.config"
local control = require "funcatron.control"
local worker  = require "funcatron.worker"
local brokers = require "funcatron.brokers"

local ngx      = ngx
local log      = ngx.log
local ERR      = ngx.ERR
local WARN     = ngx.WARN
local INFO     = ngx.INFO
local now      = ngx.now
local sleep    = ngx.sleep
local exiting  = ngx.worker.exiting
local pcall    = pcall
local tostring = tostring
local floor    = math.floor
local min      = math.min
local random   = math.random

local BACKOFF_MIN = 0.1     -- seconds
local BACKOFF_MAX = 2
local STOMP_HEART_BEAT = 10000 -- ms, both ways, on the listener connection
local MAX_POLL = 1          -- seconds: how often the loop looks at the clock when idle

local state = worker.state


local _M = { _VERSION = "0.1.0" }


local function poll_timeout(c, next_hb)
    local t = min(MAX_POLL, c.heartbeat / 2, next_hb - now())
    if t < 0.01 then
        t = 0.01
    end
    return floor(t * 1000)
end


local function goodbye(conn, why)
    control.send(conn, "died", control.node_fields())
    conn:settimeout(1000)
    conn:disconnect()
    worker.set_connected(false)
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
        worker.still_connected(t)
        if t >= next_hb then
            local ok, err = control.send(conn, "heartbeat", control.node_fields())
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
            ok, err = control.on_frame(conn, frame)
            if not ok then
                conn:close()
                return true, err
            end
        end
    end
end


local function listener_conn(c, b, heart_beat)
    local conn, err = stomp.new({
        host = b.host, port = b.port,
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


-- connected_session runs one connection to broker b from connect to failure. Returns reached
-- (whether it got as far as sending awake), why.
local function connected_session(c, b)
    -- No probe of the Tron queue (frontend.md "No probing"): an awake lost to a missing
    -- queue is asked for again (resend-awake) when the Tron sees this worker's heartbeat.
    local conn, err = listener_conn(c, b, { STOMP_HEART_BEAT, STOMP_HEART_BEAT })
    if not conn then
        return false, err
    end
    brokers.ok(b)
    local ok
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
    ok, err = control.send(conn, "awake", control.awake_fields(), conn:next_receipt("awake"),
        function(frame)
            local fine, why = control.on_frame(conn, frame)
            if not fine then
                failed = why
            end
        end)
    if not ok or failed then
        conn:close()
        return false, "sending awake: " .. tostring(failed or err)
    end
    state.awakes = state.awakes + 1
    worker.set_connected(true)
    state.last_error = nil
    log(INFO, "funcatron: listening on ", state.inbox, " as ", state.node_id)
    local reached, why = serve(conn, c)
    worker.set_connected(false)
    return reached, why
end


-- session is one connection to the current broker; any end but the worker's own reports the
-- broker failed, so the next session goes to the next one (funcatron.brokers).
local function session()
    local c = config.get()
    state.sessions = state.sessions + 1
    local b = brokers.current(now())
    local reached, why = connected_session(c, b)
    if not state.stopped and not exiting() then
        brokers.failed(b, now())
    end
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


-- listen is the listener's timer: sessions one after the other, with backoff, until the
-- worker exits or a `die` stops it.
function _M.listen(premature)
    if premature then
        return
    end
    local backoff = BACKOFF_MIN
    while not state.stopped and not exiting() do
        local ok, reached, why = pcall(session)
        worker.set_connected(false)
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


return _M
