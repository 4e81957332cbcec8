-- funcatron.request: the content handlers (content_by_lua).
--
-- handle() serves a request through the bus (frontend.md "Request handling"):
--   1. route lookup: no table yet → wait up to 1 s, then 503; no route → 404
--      {"error":"no function serves <host><uri>"}; a route the Tron says no runner serves
--      (runners = 0) → 503 {"error":"no runner serves <route> right now"} with Retry-After;
--   2. the listener must be connected (else answers could not reach us): 503 at once;
--   3. read the body, also when nginx spooled it to a temp file (413 beyond
--      client_max_body_size is nginx's, rendered as JSON by nginx.conf);
--   4. read $request_id once: request-id, reply-to and the waiter key; register the waiter,
--      then publish `service` to /amq/queue/<route queue> (funcatron.publish: a pooled STOMP
--      connection, a receipt): by default as a record with its body raw, alone or in a batch
--      with the requests for the same queue (funcatron.batcher, protocol.md §8), expiration =
--      the batch's earliest remaining time; with FUNCATRON_FRAMING=catalogue as one JSON
--      message with a base64 body, expiration = FUNCATRON_TIMEOUT. Connection failure or
--      broker ERROR → 503 at once (for every request of the batch);
--   5. wait: timeout → 504; the waiter entry is removed in every case;
--   6. write the answer (status, every header pair, the body: raw from a records answer,
--      base64-decoded from a catalogue one); malformed → 502.
-- health(), routes() and metrics() answer /__funcatron/health, /__funcatron/routes and
-- /__funcatron/metrics (loopback only; routes from anywhere in DEV_MODE). health and routes
-- describe the worker that answers; metrics the whole nginx (funcatron.metrics).
--
-- Every error is JSON {"error": "..."}. Per-request state stays in locals.
local worker   = require "funcatron.worker"
local message  = require "funcatron.message"
local records  = require "funcatron.records"
local publish  = require "funcatron.publish"
local config   = require "funcatron.config"
local answer   = require "funcatron.answer"
local metrics  = require "funcatron.metrics"
local cjson    = require "cjson.safe"

local ngx            = ngx
local log            = ngx.log
local ERR            = ngx.ERR
local WARN           = ngx.WARN
local now            = ngx.now
local encode_base64  = ngx.encode_base64
local decode_base64  = ngx.decode_base64
local req_read_body  = ngx.req.read_body
local req_body_data  = ngx.req.get_body_data
local req_body_file  = ngx.req.get_body_file
local req_headers    = ngx.req.get_headers
local req_uri_args   = ngx.req.get_uri_args
local type           = type
local pcall          = pcall
local tostring       = tostring
local floor          = math.floor
local ceil           = math.ceil
local lower          = string.lower
local find           = string.find
local io_open        = io.open

local ROUTE_TABLE_WAIT = 1      -- seconds a request waits for the first route table
local MAX_HEADERS      = 200
local MAX_ARGS         = 200
local INTERNAL         = "the frontend failed on this request" -- details in the error log
local RETRY_AFTER      = "2"    -- seconds, on a 503 for a route no runner serves: the Tron
                                -- counts runners each second, a restarted one needs a few

local _M = { _VERSION = "0.1.0" }


local function respond_json(status, tbl)
    ngx.status = status
    ngx.header["Content-Type"] = "application/json"
    ngx.header["Cache-Control"] = "no-store"
    ngx.say(cjson.encode(tbl))
    return ngx.exit(ngx.HTTP_OK)
end


local function fail(status, msg)
    return respond_json(status, { error = msg })
end


local function read_body()
    req_read_body()
    local data = req_body_data()
    if data then
        return data
    end
    local file = req_body_file()
    if not file then
        return nil
    end
    local f, err = io_open(file, "rb")
    if not f then
        return nil, "failed to open spooled request body: " .. tostring(err)
    end
    data = f:read("*a")
    f:close()
    if not data then
        return nil, "failed to read spooled request body"
    end
    return data
end


-- encode returns what goes on the wire for the request and its raw body (nil for none): the
-- record's JSON line (records framing; the body follows it raw) or the whole catalogue
-- message (JSON, base64 body). r: request_id, inbox, known (the variables already read).
-- nil, err when the message does not encode.
local function encode(c, var, r, body)
    r.headers = req_headers(MAX_HEADERS)
    if c.framing == "records" then
        return records.service_line(message.service_record(var, r), body and #body or 0, cjson.encode)
    end
    r.msg_id, r.at, r.uri_args = worker.uuid(), floor(now() * 1000), req_uri_args(MAX_ARGS)
    if body then
        r.body = encode_base64(body)
    end
    return message.encode_service(message.service(var, r), cjson.encode)
end


-- send_request publishes what encode returned: in a batch (funcatron.batcher) or, in the
-- catalogue form, alone with expiration = the wait timeout.
local function send_request(c, queue, text, body, deadline)
    if c.framing == "records" then
        return worker.batcher():submit(queue, text, body, deadline)
    end
    return publish.catalogue(c, queue, text, ceil(c.timeout * 1000))
end


local function write_answer(status, headers, body)
    ngx.status = status
    local names, values = answer.group(headers)
    for i = 1, #names do
        ngx.header[names[i]] = values[lower(names[i])]
    end
    if status ~= 204 and status ~= 304 then
        ngx.header["Content-Length"] = #body
    end
    if #body > 0 then
        ngx.print(body)
    end
    return ngx.exit(ngx.HTTP_OK)
end


-- exchange registers the waiter, publishes and waits. Returns true, answer (any value the
-- runner sent; answer.check judges it), raw (a records answer's body) or false, status,
-- message, detail: message is for the client and names what failed, never an address, a
-- queue or a Lua error (frontend.md); detail is for the error log. Every path through here
-- leaves the registry without this request.
local function exchange(c, w, route, request_id, deadline, text, body)
    local ok, err = w:register(request_id)
    if not ok then
        return false, 500, INTERNAL, "registering the waiter: " .. tostring(err)
    end
    local pok, res, perr = pcall(send_request, c, route.queue, text, body, deadline)
    if not pok or not res then
        w:remove(request_id)
        if not pok then
            return false, 500, INTERNAL, "publishing crashed: " .. tostring(res)
        end
        if res == false then
            return false, 503, "the message bus refused the request",
                "broker refused the request for queue " .. route.queue .. ": " .. tostring(perr)
        end
        return false, 503, worker.BUS_UNREACHABLE, "message broker unreachable: " .. tostring(perr)
    end
    local remaining = deadline - now()
    if remaining < 0.001 then
        remaining = 0.001
    end
    local wok, got, raw = pcall(w.wait, w, request_id, remaining)
    if not wok then
        w:remove(request_id)
        return false, 500, INTERNAL, "waiting crashed: " .. tostring(got)
    end
    if got == nil then
        local msg = "no answer from the function within " .. c.timeout .. " s"
        return false, 504, msg, msg .. " (" .. tostring(raw) .. ")"
    end
    return true, got, raw
end


-- handle is the content handler for every function request.
function _M.handle()
    local c = config.get()
    local var = ngx.var
    local host, uri = var.host or "", var.uri or "/"
    local tbl = worker.route_table(ROUTE_TABLE_WAIT)
    if not tbl then
        return fail(503, "no route table received from the tron yet")
    end
    local route = tbl:match(host, uri, c.dev_mode)
    if not route then
        return fail(404, "no function serves " .. host .. uri)
    end
    if route.runners == 0 then
        -- frontend.md "No runner, no wait": the Tron says nobody consumes the route's queue
        ngx.header["Retry-After"] = RETRY_AFTER
        return fail(503, "no runner serves " .. (route.host or "") .. route.path .. " right now")
    end
    local inbox, why, public = worker.inbox()
    if not inbox then
        log(ERR, "funcatron: ", why)
        return fail(503, public)
    end

    local body, err = read_body()
    if err then
        log(ERR, "funcatron: ", err)
        return fail(500, "could not read the request body")
    end

    if body == "" then
        body = nil
    end
    local request_id = var.request_id -- read once: each read may yield a new id
    local deadline = now() + c.timeout
    local text = encode(c, var, {
        request_id = request_id, inbox = inbox, known = { host = host, uri = uri },
    }, body)
    if not text then
        return fail(500, "could not encode the request")
    end

    local ok, reply, raw, detail = exchange(c, worker.waiters(), route, request_id,
        deadline, text, body)
    if not ok then -- reply is the status, raw the message for the client
        log(reply == 504 and WARN or ERR, "funcatron: ", request_id, ": ", detail)
        return fail(reply, raw)
    end
    local code, hdrs, data = answer.check(reply, decode_base64, cjson.null, raw)
    if not code then
        log(ERR, "funcatron: ", request_id, ": malformed answer: ", hdrs)
        return fail(502, "malformed answer from the function: " .. hdrs)
    end
    return write_answer(code, hdrs, data)
end


-- is_loopback says whether addr (nginx's $remote_addr) is a loopback address.
function _M.is_loopback(addr)
    if type(addr) ~= "string" then
        return false
    end
    return find(addr, "^127%.%d+%.%d+%.%d+$") ~= nil or addr == "::1"
        or find(addr, "^::ffff:127%.") ~= nil
end


local function admin_allowed(anywhere)
    if anywhere or _M.is_loopback(ngx.var.remote_addr) then
        return true
    end
    fail(403, "only from loopback")
    return false
end


-- health answers /__funcatron/health: 200 when the listener is connected, else 503.
function _M.health()
    if not admin_allowed(false) then
        return
    end
    local st = worker.status()
    return respond_json(st.connected and 200 or 503, st)
end


-- metrics answers /__funcatron/metrics: Prometheus text, summed over the workers.
function _M.metrics()
    if not admin_allowed(false) then
        return
    end
    local text = metrics.render(metrics.families(worker.state.metrics, ngx.worker.count()))
    ngx.status = 200
    ngx.header["Content-Type"] = metrics.CONTENT_TYPE
    ngx.header["Cache-Control"] = "no-store"
    ngx.print(text)
    return ngx.exit(ngx.HTTP_OK)
end


-- routes answers /__funcatron/routes: this worker's table (host, path, queue, sha only).
function _M.routes()
    local c = config.get()
    if not admin_allowed(c.dev_mode) then
        return
    end
    local tbl = worker.route_table(0)
    local st = worker.status()
    local list = tbl and tbl:list() or {}
    local out = { ["node-id"] = st["node-id"], ["route-table"] = tbl ~= nil }
    if #list > 0 then
        out.routes = list
        return respond_json(200, out)
    end
    -- lua-cjson 2.1.0 encodes an empty table as {}: write the empty list by hand
    ngx.status = 200
    ngx.header["Content-Type"] = "application/json"
    ngx.header["Cache-Control"] = "no-store"
    local text = cjson.encode(out)
    ngx.say(text:sub(1, -2), ',"routes":[]}')
    return ngx.exit(ngx.HTTP_OK)
end


return _M
