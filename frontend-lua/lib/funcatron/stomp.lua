-- funcatron.stomp: STOMP 1.2 frames and a small client over ngx cosockets.
--
-- Wire format (STOMP 1.2, https://stomp.github.io/stomp-specification-1.2.html):
--
--   COMMAND EOL
--   name:value EOL          (repeated; the first occurrence of a name wins)
--   EOL
--   body NUL                (body length from content-length when present)
--   EOL*                    (between frames: heart-beats)
--
-- Header names and values are escaped (\\ \r \n \c) in every frame except CONNECT and
-- CONNECTED. Bodies may hold NUL bytes: encode always sends content-length, decode honours it.
--
-- The codec (encode, read_frame, escape, unescape, negotiate) needs no ngx and is what the
-- busted specs test. The client (new, connect, send, subscribe, ...) needs a cosocket, so it
-- runs in request, timer and other yieldable phases only.
--
-- Error contract: misuse raises; I/O failure returns nil, err; a broker ERROR frame returns
-- false, message (never success).
local ngx          = ngx -- nil under plain Lua (the specs): only the client needs it
local type         = type
local pairs        = pairs
local tostring     = tostring
local tonumber     = tonumber
local setmetatable = setmetatable
local concat       = table.concat
local find         = string.find
local sub          = string.sub
local gsub         = string.gsub
local byte         = string.byte
local format       = string.format
local floor        = math.floor
local max          = math.max


local _M = { _VERSION = "0.1.0" }
local mt = { __index = _M }

-- HEARTBEAT is what read_frame returns for a bare EOL between frames.
_M.HEARTBEAT = { command = "HEARTBEAT", headers = {}, body = "" }

-- MAX_BODY bounds a frame body read into memory (16 MiB; the frontend sets it from
-- FUNCATRON_MAX_MESSAGE_BYTES). A bigger body is read in chunks of DISCARD_CHUNK and dropped:
-- read_frame returns the frame with body "" and oversize = its size, and the connection
-- stays usable (closing it would delete the worker's exclusive inbox and lose every answer
-- in flight).
_M.MAX_BODY = 16 * 1024 * 1024
local DISCARD_CHUNK = 64 * 1024

local HEARTBEAT = _M.HEARTBEAT
local NUL = "\0"
local read_body

local escapes   = { ["\\"] = "\\\\", ["\r"] = "\\r", ["\n"] = "\\n", [":"] = "\\c" }
local unescapes = { ["\\"] = "\\", r = "\r", n = "\n", c = ":" }
local unescaped_commands = { CONNECT = true, CONNECTED = true }


-- escape returns s with the STOMP 1.2 header escapes applied.
function _M.escape(s)
    s = tostring(s)
    if not find(s, "[\\\r\n:]") then
        return s
    end
    return (gsub(s, "[\\\r\n:]", escapes))
end


-- unescape undoes escape; an undefined escape sequence is a protocol error (nil, err).
function _M.unescape(s)
    if not find(s, "\\", 1, true) then
        return s
    end
    local bad
    local out = gsub(s, "\\(.?)", function(c)
        local r = unescapes[c]
        if not r then
            bad = c
            return ""
        end
        return r
    end)
    if bad then
        return nil, "bad header escape \\" .. bad
    end
    return out
end


local function add_header(parts, n, name, value, raw)
    if raw then
        parts[n + 1] = name
        parts[n + 2] = ":"
        parts[n + 3] = tostring(value)
    else
        parts[n + 1] = _M.escape(name)
        parts[n + 2] = ":"
        parts[n + 3] = _M.escape(value)
    end
    parts[n + 4] = "\n"
    return n + 4
end


-- encode returns the bytes of one frame. headers is a map or an array of {name, value}
-- pairs (kept in order); content-length is added whenever there is a body.
function _M.encode(command, headers, body)
    if type(command) ~= "string" or command == "" then
        error("bad argument #1 command: non-empty string expected", 2)
    end
    body = body or ""
    local raw = unescaped_commands[command]
    local parts = { command, "\n" }
    local n = 2
    if headers then
        if headers[1] then
            for i = 1, #headers do
                local h = headers[i]
                if h[1] ~= "content-length" then
                    n = add_header(parts, n, h[1], h[2], raw)
                end
            end
        else
            for name, value in pairs(headers) do
                if name ~= "content-length" then
                    n = add_header(parts, n, name, value, raw)
                end
            end
        end
    end
    if #body > 0 then
        n = add_header(parts, n, "content-length", #body, true)
    end
    parts[n + 1] = "\n"
    parts[n + 2] = body
    parts[n + 3] = NUL
    return concat(parts)
end


-- discard reads n bytes through r and drops them, DISCARD_CHUNK at a time.
local function discard(r, n)
    while n > 0 do
        local k = n < DISCARD_CHUNK and n or DISCARD_CHUNK
        local data, err = r:bytes(k)
        if not data then
            return nil, err
        end
        n = n - k
    end
    return true
end


-- read_body reads a body of content-length len and its NUL. Returns body, oversize (the
-- size of a body over MAX_BODY, read and dropped: body is then "") or nil, nil, err.
function read_body(r, command, len)
    len = tonumber(len)
    if not len or len < 0 or len ~= floor(len) then
        return nil, nil, "bad content-length in " .. command .. " frame"
    end
    local body, oversize, err = "", nil, nil
    if len > _M.MAX_BODY then
        oversize = len
        local ok
        ok, err = discard(r, len)
        if not ok then
            return nil, nil, err
        end
    elseif len > 0 then
        body, err = r:bytes(len)
        if not body then
            return nil, nil, err
        end
    end
    local nul
    nul, err = r:bytes(1)
    if not nul then
        return nil, nil, err
    end
    if nul ~= NUL then
        return nil, nil, "frame body not followed by NUL"
    end
    return body, oversize
end


-- read_frame reads one frame through reader r, which has r:line() (one line without its EOL,
-- or nil, err), r:bytes(n) and r:until_nul(max) (the bytes before the next NUL, consuming it;
-- false, size when there were more than max), and optionally r:started() (called once the
-- frame's first line is in). Returns the frame {command, headers, body, oversize},
-- HEARTBEAT for a bare EOL, or nil, err. oversize is set (to the body's size) for a body
-- over MAX_BODY, which was read and dropped: the stream is still in step.
function _M.read_frame(r)
    local line, err = r:line()
    if not line then
        return nil, err
    end
    if byte(line, -1) == 13 then -- a CR before the LF
        line = sub(line, 1, -2)
    end
    if line == "" then
        return HEARTBEAT
    end
    if r.started then
        r:started()
    end
    local command = line
    local raw = unescaped_commands[command]
    local headers = {}
    while true do
        line, err = r:line()
        if not line then
            return nil, err
        end
        if byte(line, -1) == 13 then
            line = sub(line, 1, -2)
        end
        if line == "" then
            break
        end
        local colon = find(line, ":", 1, true)
        if not colon then
            return nil, "bad header line in " .. command .. " frame"
        end
        local name, value = sub(line, 1, colon - 1), sub(line, colon + 1)
        if not raw then
            name, err = _M.unescape(name)
            if not name then
                return nil, err
            end
            value, err = _M.unescape(value)
            if not value then
                return nil, err
            end
        end
        if headers[name] == nil then
            headers[name] = value
        end
    end
    local body, oversize
    local len = headers["content-length"]
    if len then
        body, oversize, err = read_body(r, command, len)
    else
        body, err = r:until_nul(_M.MAX_BODY)
        if body == false then -- over MAX_BODY, read to its NUL and dropped
            body, oversize, err = "", err, nil
        end
    end
    if not body then
        return nil, err
    end
    return { command = command, headers = headers, body = body, oversize = oversize }
end


-- negotiate returns the heart-beat periods in ms (send, receive) from the client's wish
-- (cx: can send every cx, cy: wants every cy) and the server's CONNECTED header (sx, sy).
-- 0 means none.
function _M.negotiate(cx, cy, sx, sy)
    local send, recv = 0, 0
    if cx > 0 and sy > 0 then
        send = max(cx, sy)
    end
    if cy > 0 and sx > 0 then
        recv = max(cy, sx)
    end
    return send, recv
end


-- parse_heart_beat reads a "x,y" header value; nil when malformed.
function _M.parse_heart_beat(v)
    if not v then
        return 0, 0
    end
    local x, y = v:match("^%s*(%d+)%s*,%s*(%d+)%s*$")
    if not x then
        return nil
    end
    return tonumber(x), tonumber(y)
end


-- queue_destination returns prefix .. name with "/", "%" and non-ASCII bytes of the queue
-- name written as %XX, as RabbitMQ's STOMP destinations expect.
function _M.queue_destination(prefix, name)
    if find(name, "[/%%\128-\255]") then
        name = gsub(name, "[/%%\128-\255]", function(c)
            return format("%%%02X", byte(c))
        end)
    end
    return prefix .. name
end


-- error_text renders an ERROR frame for logs and responses.
function _M.error_text(frame)
    local msg = frame.headers.message or "broker error"
    local body = frame.body
    if body and body ~= "" then
        body = gsub(body, "%s+$", "")
        if #body > 300 then
            body = sub(body, 1, 300) .. "..."
        end
        return msg .. ": " .. body
    end
    return msg
end


---------------------------------------------------------------------------------------------
-- The client. Everything below needs ngx.socket.tcp.
---------------------------------------------------------------------------------------------

-- new returns an unconnected client. opts: host, port, user, password, vhost, pool (a pool
-- name: the connection is then taken from and given back to that keepalive pool), pool_size,
-- backlog, heart_beat = {cx, cy} (ms; pooled connections must use {0, 0}), connect_timeout,
-- send_timeout, read_timeout (ms).
function _M.new(opts)
    if type(opts) ~= "table" or not opts.host or not opts.port then
        error("bad argument #1 opts: table with host and port expected", 2)
    end
    local sock, err = ngx.socket.tcp()
    if not sock then
        return nil, err
    end
    local self = setmetatable({
        sock = sock,
        opts = opts,
        receipt_seq = 0,
        send_every = 0,   -- negotiated heart-beat periods, ms
        recv_every = 0,
        last_read = 0,    -- ngx.now() of the last byte read / written
        last_write = 0,
        reused = false,
    }, mt)
    return self
end


function _M.line(self)
    local line, err = self.sock:receive("*l")
    if line then
        self.last_read = ngx.now()
    end
    return line, err
end


function _M.bytes(self, n)
    local data, err = self.sock:receive(n)
    if data then
        self.last_read = ngx.now()
    end
    return data, err
end


-- until_nul reads up to the next NUL, DISCARD_CHUNK at a time; beyond max bytes it keeps
-- reading but drops them, and returns false, size.
function _M.until_nul(self, max)
    local it = self.sock:receiveuntil(NUL)
    local parts, n = {}, 0
    while true do
        local data, err = it(DISCARD_CHUNK)
        if not data then
            if err then
                return nil, err
            end
            break
        end
        n = n + #data
        if not max or n <= max then
            parts[#parts + 1] = data
        end
    end
    self.last_read = ngx.now()
    if max and n > max then
        return false, n
    end
    return concat(parts)
end


-- started switches from the idle timeout to the within-a-frame timeout: once a frame has
-- begun, a timeout means the stream position is lost.
function _M.started(self)
    self.in_frame = true
    self.sock:settimeout(self.opts.read_timeout or 5000)
end


function _M.write(self, data)
    local bytes, err = self.sock:send(data)
    if not bytes then
        return nil, err
    end
    self.last_write = ngx.now()
    return bytes
end


-- next_receipt returns a fresh receipt id for this connection.
function _M.next_receipt(self, prefix)
    self.receipt_seq = self.receipt_seq + 1
    return (prefix or "r") .. self.receipt_seq
end


-- connect opens the TCP connection (from the keepalive pool when opts.pool is set) and, on a
-- new connection, does the CONNECT / CONNECTED handshake.
function _M.connect(self)
    local o = self.opts
    local sock = self.sock
    sock:settimeouts(o.connect_timeout or 1000, o.send_timeout or 5000, o.read_timeout or 5000)
    local ok, err
    if o.pool then
        ok, err = sock:connect(o.host, o.port, {
            pool = o.pool, pool_size = o.pool_size, backlog = o.backlog,
        })
    else
        ok, err = sock:connect(o.host, o.port)
    end
    if not ok then
        return nil, "failed to connect to " .. o.host .. ":" .. o.port .. ": " .. err
    end
    local times = sock:getreusedtimes()
    if times and times > 0 then
        self.reused = true
        return true
    end
    return self:handshake()
end


function _M.handshake(self)
    local o = self.opts
    local hb = o.heart_beat or { 0, 0 }
    local frame = _M.encode("CONNECT", {
        { "accept-version", "1.2" },
        { "host", o.vhost or "/" },
        { "login", o.user or "guest" },
        { "passcode", o.password or "guest" },
        { "heart-beat", hb[1] .. "," .. hb[2] },
    })
    local ok, err = self:write(frame)
    if not ok then
        self:close()
        return nil, "failed to send CONNECT: " .. err
    end
    local reply
    reply, err = _M.read_frame(self)
    while reply == HEARTBEAT do
        reply, err = _M.read_frame(self)
    end
    if not reply then
        self:close()
        return nil, "failed to read CONNECTED: " .. err
    end
    if reply.command == "ERROR" then
        self:close()
        return false, _M.error_text(reply)
    end
    if reply.command ~= "CONNECTED" then
        self:close()
        return nil, "expected CONNECTED, got " .. reply.command
    end
    local sx, sy = _M.parse_heart_beat(reply.headers["heart-beat"])
    if not sx then
        self:close()
        return nil, "bad heart-beat header in CONNECTED"
    end
    self.send_every, self.recv_every = _M.negotiate(hb[1], hb[2], sx, sy)
    self.server = reply.headers.server
    return true
end


-- await reads frames until the RECEIPT for id. Frames that are not it (MESSAGE, RECEIPT of
-- something else) go to on_frame(frame) when given, else are dropped. ERROR → false, text.
function _M.await(self, id, on_frame)
    while true do
        local frame, err = _M.read_frame(self)
        if not frame then
            self:close()
            return nil, "failed to read RECEIPT: " .. err
        end
        if frame ~= HEARTBEAT then
            local cmd = frame.command
            if cmd == "RECEIPT" and frame.headers["receipt-id"] == id then
                return true
            end
            if cmd == "ERROR" then
                self:close()
                return false, _M.error_text(frame)
            end
            if on_frame then
                on_frame(frame)
            end
        end
    end
end


-- request sends one frame; with a receipt id it waits for that RECEIPT (see await).
local function request(self, command, headers, body, receipt, on_frame)
    if receipt then
        headers[#headers + 1] = { "receipt", receipt }
    end
    local ok, err = self:write(_M.encode(command, headers, body))
    if not ok then
        self:close()
        return nil, "failed to send " .. command .. ": " .. err
    end
    if not receipt then
        return true
    end
    return self:await(receipt, on_frame)
end


-- send publishes body to destination. headers: array of {name, value} pairs (extra SEND
-- headers: content-type, persistent, expiration, ...). receipt: wait for the broker's
-- RECEIPT when given.
function _M.send(self, destination, body, headers, receipt, on_frame)
    local h = { { "destination", destination } }
    if headers then
        for i = 1, #headers do
            h[#h + 1] = headers[i]
        end
    end
    return request(self, "SEND", h, body, receipt, on_frame)
end


-- subscribe subscribes; ack is auto, client or client-individual. headers: extra SUBSCRIBE
-- headers (queue properties, prefetch-count).
function _M.subscribe(self, destination, id, ack, headers, receipt, on_frame)
    local h = { { "destination", destination }, { "id", id }, { "ack", ack or "auto" } }
    if headers then
        for i = 1, #headers do
            h[#h + 1] = headers[i]
        end
    end
    return request(self, "SUBSCRIBE", h, nil, receipt, on_frame)
end


-- unsubscribe ends subscription id.
function _M.unsubscribe(self, id, receipt, on_frame)
    return request(self, "UNSUBSCRIBE", { { "id", id } }, nil, receipt, on_frame)
end


-- ack acknowledges a MESSAGE (subscriptions with ack:client or client-individual).
function _M.ack(self, ack_id, receipt)
    return request(self, "ACK", { { "id", ack_id } }, nil, receipt)
end


-- disconnect sends DISCONNECT, waits for its receipt (bounded by the read timeout), closes.
function _M.disconnect(self)
    local id = self:next_receipt("bye")
    local ok, err = request(self, "DISCONNECT", {}, nil, id)
    self:close()
    return ok, err
end


-- heartbeat_due says whether a heart-beat EOL must go out now.
function _M.heartbeat_due(self, now)
    return self.send_every > 0 and (now - self.last_write) * 1000 >= self.send_every
end


-- send_heartbeat writes one EOL.
function _M.send_heartbeat(self)
    local ok, err = self:write("\n")
    if not ok then
        self:close()
        return nil, "failed to send heart-beat: " .. err
    end
    return true
end


-- peer_silent says whether the broker missed its heart-beats (nothing read for 2.5 periods).
function _M.peer_silent(self, now)
    return self.recv_every > 0 and (now - self.last_read) * 1000 > self.recv_every * 2.5
end


-- set_keepalive gives the connection back to its pool. Only call after a complete exchange.
-- RabbitMQ follows every frame's NUL with an EOL, which is still unread after the frame was
-- taken, and a cosocket with unread bytes cannot be pooled ("unread data in buffer"): it
-- would be closed, and every request would pay a new TCP connection and CONNECT. Bare EOLs
-- are heart-beats, nothing to lose, so they are drained and the pooling tried again.
function _M.set_keepalive(self, idle_ms)
    local ok, err = self.sock:setkeepalive(idle_ms or 60000)
    if not ok and err == "unread data in buffer" then
        local rest = self.sock:receiveany(64) -- returns at once: the bytes are buffered
        if rest and find(rest, "^[\r\n]+$") then
            ok, err = self.sock:setkeepalive(idle_ms or 60000)
        end
    end
    if not ok then
        self.sock:close()
        return nil, err
    end
    return true
end


function _M.settimeout(self, ms)
    self.sock:settimeout(ms)
end


function _M.close(self)
    if self.closed then
        return
    end
    self.closed = true
    self.sock:close()
end


return _M
