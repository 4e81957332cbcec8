-- funcatron.message: builds the bus messages the frontend sends (protocol.md §1, §3).
--
-- Pure: no ngx. The request's variables come in as a table (ngx.var in nginx, a plain table in
-- spec/message_spec.lua), the clock and the random source as arguments.
local type     = type
local pairs    = pairs
local tonumber = tonumber
local format   = string.format
local find     = string.find
local sub      = string.sub


local _M = { _VERSION = "0.1.0" }

-- VERSION is the `version` every message of ours carries.
_M.VERSION = "funcatron-frontend/0.1.0"

-- SERVICE_VARS maps the `service` message keys taken from nginx variables, in catalogue order
-- (protocol.md §3). `request-id` is not here: it is read once, by the caller. The third
-- element marks what a records request leaves out (service_record).
_M.SERVICE_VARS = {
    { "method", "request_method" },
    { "host", "host" },
    { "content-type", "content_type" },
    { "remote-addr", "remote_addr" },
    { "server-protocol", "server_protocol" },
    { "server-port", "server_port" },
    { "server-addr", "server_addr", true },
    { "remote-port", "remote_port" },
    { "request-uri", "request_uri" },
    { "args", "args" },
    { "remote-user", "remote_user" },
    { "request", "request", true },
    { "http-referer", "http_referer", true },
    { "http-user-agent", "http_user_agent", true },
    { "scheme", "scheme" },
    { "uri", "uri" },
}
local SERVICE_VARS = _M.SERVICE_VARS


-- uuid returns a random (version 4) UUID string; random(m, n) is math.random.
function _M.uuid(random)
    return format("%04x%04x-%04x-4%03x-%04x-%04x%04x%04x",
        random(0, 0xffff), random(0, 0xffff), random(0, 0xffff), random(0, 0xfff),
        random(0x8000, 0xbfff), random(0, 0xffff), random(0, 0xffff), random(0, 0xffff))
end


-- add_vars copies the nginx variables into m, but those marked when records; known holds
-- variables the caller already read (host, uri), which are not read again. Absent or empty
-- variables stay absent keys.
local function add_vars(m, var, known, records)
    for i = 1, #SERVICE_VARS do
        local pair = SERVICE_VARS[i]
        if not (records and pair[3]) then
            local name = pair[2]
            local v = known and known[name]
            if v == nil then
                v = var[name]
            end
            if v ~= nil and v ~= "" then
                m[pair[1]] = v
            end
        end
    end
    return m
end


-- service builds the `service` message in the catalogue's form. var: the nginx variables
-- (ngx.var); r: request_id (read once by the caller), inbox (reply-queue), headers
-- (ngx.req.get_headers()), uri_args (ngx.req.get_uri_args()), body (base64 text or nil),
-- msg_id, at (ms), known (variables already read: {host = ..., uri = ...}).
function _M.service(var, r)
    local m = {
        action = "service",
        ["msg-id"] = r.msg_id,
        at = r.at,
        version = _M.VERSION,
        from = r.inbox,
        headers = r.headers or {},
        ["uri-args"] = r.uri_args or {},
        ["request-id"] = r.request_id,
        ["reply-to"] = r.request_id,
        ["reply-queue"] = r.inbox,
        ["body-base64-encoded"] = true,
        -- the answer's headers as [name, value] pairs (repeated ones stay apart); without
        -- it a runner answers with the 2017 frontend's map form (protocol.md §3)
        ["answer-headers"] = "pairs",
    }
    add_vars(m, var, r.known, false)
    if type(r.body) == "string" and r.body ~= "" then
        m.body = r.body
    end
    return m
end


-- service_record builds the `service` message of a records request (protocol.md §8, our
-- runners only): the catalogue's fields but those no runner reads (protocol.ServingSkips of
-- the Go side: msg-id, at, version, from, uri-args, server-addr, request, http-referer,
-- http-user-agent; the query is `args`, the user agent a header, the request line is rebuilt
-- from method and request-uri). So the request handler does not read those four nginx
-- variables nor build the uri-args table, and the record is shorter. The body travels raw
-- beside it (funcatron.records). r as for service, without msg_id, at, uri_args, body.
function _M.service_record(var, r)
    return add_vars({
        action = "service",
        headers = r.headers or {},
        ["request-id"] = r.request_id,
        ["reply-to"] = r.request_id,
        ["reply-queue"] = r.inbox,
        ["answer-headers"] = "pairs",
    }, var, r.known, true)
end


-- encode_service writes the service message m as JSON with encode (cjson.encode). The body is
-- spliced in after encoding instead of passing through the encoder: it is standard base64
-- from ngx.encode_base64, which needs no JSON escaping, and lua-cjson would copy it character
-- by character and escape every '/' (about 0.25 ms of a worker's CPU for a 64 KiB body).
-- Returns the text, or nil, err.
function _M.encode_service(m, encode)
    local body = m.body
    m.body = nil
    local text, err = encode(m)
    m.body = body
    if not text or body == nil then
        return text, err
    end
    return sub(text, 1, -2) .. ',"body":"' .. body .. '"}'
end


-- decode_answer reads a message from the inbox with decode (cjson.decode). An answer's
-- body, the long part, is cut out before decoding and put back as answer.body: the runner
-- writes it last (`..."body":"<base64>"}}`), and the first `,"body":"` of a JSON text can
-- only be a key (a quote inside a string is escaped). Any other shape is decoded whole.
-- Returns the message table, or nil, err.
function _M.decode_answer(text, decode)
    local s, e = find(text, ',"body":"', 1, true)
    if s then
        local close = find(text, '"', e + 1, true)
        if close and find(text, "^}}%s*$", close + 1) then
            local msg, err = decode(sub(text, 1, s - 1) .. sub(text, close + 1))
            if type(msg) == "table" and type(msg.answer) == "table" and msg.answer.body == nil then
                msg.answer.body = sub(text, e + 1, close - 1)
                return msg
            end
            if not msg then
                return nil, err
            end
        end
    end
    return decode(text)
end


-- control builds a message for the Tron: the common fields plus fields.
function _M.control(action, from, msg_id, at, fields)
    local m = { action = action, ["msg-id"] = msg_id, at = at, from = from, version = _M.VERSION }
    if fields then
        for k, v in pairs(fields) do
            m[k] = v
        end
    end
    return m
end


-- host_info returns the `host-info` map from the HOST and PORT_80 settings (port as a number
-- when it is one), or nil when neither is known.
function _M.host_info(host, port)
    if not host and not port then
        return nil
    end
    return { host = host, port = tonumber(port) or port }
end


return _M
