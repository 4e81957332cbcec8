-- Specs for funcatron.stomp: the frame codec (no ngx) and the client over a fake socket.
local stomp = require "funcatron.stomp"


-- string_reader reads frames from s like the client reads them from a socket.
local function string_reader(s)
    local pos = 1
    local r = {}
    function r.line()
        local nl = s:find("\n", pos, true)
        if not nl then
            return nil, "closed"
        end
        local line = s:sub(pos, nl - 1)
        pos = nl + 1
        return line
    end
    function r.bytes(_, n)
        if pos + n - 1 > #s then
            return nil, "closed"
        end
        local d = s:sub(pos, pos + n - 1)
        pos = pos + n
        return d
    end
    function r.until_nul(_, max)
        local at = s:find("\0", pos, true)
        if not at then
            return nil, "closed"
        end
        local d = s:sub(pos, at - 1)
        pos = at + 1
        if max and #d > max then
            return false, #d
        end
        return d
    end
    return r
end


local function decode(s)
    return stomp.read_frame(string_reader(s))
end


describe("header escaping", function()
    it("escapes backslash, CR, LF and colon", function()
        assert.are.equal("a\\\\b\\rc\\nd\\ce", stomp.escape("a\\b\rc\nd:e"))
        assert.are.equal("plain-value", stomp.escape("plain-value"))
    end)

    it("unescapes what it escaped", function()
        for _, s in ipairs({ "", "x", "a:b:c", "\\", "\r\n", "::\\\\::", "/amq/queue/q" }) do
            assert.are.equal(s, stomp.unescape(stomp.escape(s)))
        end
    end)

    it("rejects undefined escapes", function()
        local v, err = stomp.unescape("a\\tb")
        assert.is_nil(v)
        assert.matches("bad header escape", err)
        v = stomp.unescape("trailing\\")
        assert.is_nil(v)
    end)
end)


describe("encode", function()
    it("writes command, headers in order, content-length, blank line, body, NUL", function()
        local f = stomp.encode("SEND", { { "destination", "/amq/queue/q" }, { "receipt", "r1" } }, "hi")
        assert.are.equal("SEND\ndestination:/amq/queue/q\nreceipt:r1\ncontent-length:2\n\nhi\0", f)
    end)

    it("escapes headers except in CONNECT", function()
        assert.are.equal("SEND\nx\\cy:a\\nb\n\n\0", stomp.encode("SEND", { { "x:y", "a\nb" } }))
        assert.are.equal("CONNECT\nhost:a:b\n\n\0", stomp.encode("CONNECT", { { "host", "a:b" } }))
    end)

    it("has no content-length without a body and ignores one given", function()
        assert.are.equal("DISCONNECT\n\n\0", stomp.encode("DISCONNECT", {}))
        assert.are.equal("SEND\ncontent-length:3\n\nabc\0",
            stomp.encode("SEND", { { "content-length", "99" } }, "abc"))
    end)

    it("counts NUL bytes in the body", function()
        local body = "a\0b\0\0c"
        assert.are.equal("SEND\ncontent-length:6\n\n" .. body .. "\0", stomp.encode("SEND", nil, body))
    end)

    it("takes a map of headers", function()
        local f = assert(decode(stomp.encode("SUBSCRIBE", { id = "1", destination = "/queue/x" })))
        assert.are.same({ id = "1", destination = "/queue/x" }, f.headers)
    end)

    it("raises on a missing command", function()
        assert.has_error(function() stomp.encode(nil, {}) end)
    end)
end)


describe("read_frame", function()
    it("reads a MESSAGE with a content-length body holding NULs", function()
        local body = "{\"a\":1}\0\0tail"
        local f = assert(decode("MESSAGE\ndestination:/queue/FRNT1\nmessage-id:m\\c1\ncontent-length:" ..
            #body .. "\n\n" .. body .. "\0"))
        assert.are.equal("MESSAGE", f.command)
        assert.are.equal("m:1", f.headers["message-id"])
        assert.are.equal(body, f.body)
    end)

    it("reads a body up to the NUL without content-length", function()
        local f = assert(decode("ERROR\nmessage:not_found\n\nno queue 'x'\0"))
        assert.are.equal("ERROR", f.command)
        assert.are.equal("no queue 'x'", f.body)
        assert.are.equal("not_found", stomp.error_text(f):sub(1, 9))
    end)

    it("keeps the first of repeated headers", function()
        local f = assert(decode("MESSAGE\nfoo:1\nfoo:2\n\n\0"))
        assert.are.equal("1", f.headers.foo)
    end)

    it("accepts CRLF line ends", function()
        local f = assert(decode("RECEIPT\r\nreceipt-id:r7\r\n\r\n\0"))
        assert.are.equal("r7", f.headers["receipt-id"])
    end)

    it("does not unescape CONNECTED headers", function()
        local f = assert(decode("CONNECTED\nserver:Rabbit\\c1\nheart-beat:0,10000\n\n\0"))
        assert.are.equal("Rabbit\\c1", f.headers.server)
    end)

    it("returns HEARTBEAT for bare EOLs between frames", function()
        local r = string_reader("\n\r\nRECEIPT\nreceipt-id:x\n\n\0\n")
        assert.are.equal(stomp.HEARTBEAT, stomp.read_frame(r))
        assert.are.equal(stomp.HEARTBEAT, stomp.read_frame(r))
        assert.are.equal("RECEIPT", stomp.read_frame(r).command)
        assert.are.equal(stomp.HEARTBEAT, stomp.read_frame(r))
        local f, err = stomp.read_frame(r)
        assert.is_nil(f)
        assert.are.equal("closed", err)
    end)

    it("reads frames back to back", function()
        local r = string_reader(stomp.encode("MESSAGE", { { "a", "1" } }, "x") ..
            stomp.encode("MESSAGE", { { "a", "2" } }, "\0"))
        assert.are.equal("x", stomp.read_frame(r).body)
        assert.are.equal("\0", stomp.read_frame(r).body)
    end)

    it("reads and drops a body over MAX_BODY, and stays in step for the next frame", function()
        local saved = stomp.MAX_BODY
        stomp.MAX_BODY = 10
        local big = string.rep("x", 200000) -- several discard chunks
        local r = string_reader(stomp.encode("MESSAGE", { { "a", "1" } }, big) ..
            "MESSAGE\na:2\n\n" .. big .. "\0" ..
            stomp.encode("MESSAGE", { { "a", "3" } }, "small"))
        local f1, f2, f3 = stomp.read_frame(r), stomp.read_frame(r), stomp.read_frame(r)
        stomp.MAX_BODY = saved
        assert.are.same({ "", 200000, "1" }, { f1.body, f1.oversize, f1.headers.a })
        assert.are.same({ "", 200000, "2" }, { f2.body, f2.oversize, f2.headers.a })
        assert.are.same({ "small", nil }, { f3.body, f3.oversize })
    end)

    it("fails on truncated input, bad content-length, missing NUL, bad header", function()
        local cases = {
            "MESSAGE\ncontent-length:10\n\nshort",
            "MESSAGE\ncontent-length:x\n\n\0",
            "MESSAGE\ncontent-length:-1\n\n\0",
            "MESSAGE\ncontent-length:2\n\nabX",
            "MESSAGE\nno colon here\n\n\0",
            "MESSAGE\nbad:esc\\q\n\n\0",
            "MESSAGE\na:b\n",
        }
        for _, c in ipairs(cases) do
            local f, err = decode(c)
            assert.is_nil(f, c)
            assert.is_string(err)
        end
    end)

    it("round-trips random binary bodies and awkward headers", function()
        math.randomseed(42)
        for _ = 1, 50 do
            local bytes = {}
            for i = 1, math.random(0, 300) do
                bytes[i] = string.char(math.random(0, 255))
            end
            local body = table.concat(bytes)
            local value = "v:\\\n\r" .. body:gsub("[%z\r\n]", ""):sub(1, 20)
            local f = assert(decode(stomp.encode("SEND", { { "k:\n", value } }, body)))
            assert.are.equal(body, f.body)
            assert.are.equal(value, f.headers["k:\n"])
        end
    end)
end)


describe("heart-beats", function()
    it("negotiates as STOMP 1.2 says", function()
        assert.are.same({ 10000, 10000 }, { stomp.negotiate(10000, 10000, 5000, 5000) })
        assert.are.same({ 20000, 0 }, { stomp.negotiate(10000, 10000, 0, 20000) })
        assert.are.same({ 0, 0 }, { stomp.negotiate(0, 0, 5000, 5000) })
        assert.are.same({ 0, 7000 }, { stomp.negotiate(0, 7000, 3000, 0) })
    end)

    it("parses the header", function()
        assert.are.same({ 0, 10000 }, { stomp.parse_heart_beat("0,10000") })
        assert.are.same({ 0, 0 }, { stomp.parse_heart_beat(nil) })
        assert.is_nil(stomp.parse_heart_beat("a,b"))
    end)
end)


describe("queue_destination", function()
    it("percent-encodes / and %", function()
        assert.are.equal("/amq/queue/n8rrPBeJC25DePU6", stomp.queue_destination("/amq/queue/", "n8rrPBeJC25DePU6"))
        assert.are.equal("/queue/a%2Fb%25c", stomp.queue_destination("/queue/", "a/b%c"))
    end)
end)


describe("client", function()
    local fake_socket = require "fake_socket"
    local client, sock, saved_ngx

    setup(function()
        saved_ngx = _G.ngx
        _G.ngx = {
            now = function() return 100 end,
            socket = { tcp = function() return sock end },
        }
        package.loaded["funcatron.stomp"] = nil
        client = require "funcatron.stomp"
    end)

    teardown(function()
        _G.ngx = saved_ngx
        package.loaded["funcatron.stomp"] = nil
    end)

    local function connected(script)
        sock = fake_socket.new("CONNECTED\nversion:1.2\nheart-beat:5000,20000\n\n\0" .. (script or ""))
        local c = assert(client.new({ host = "127.0.0.1", port = 61613, user = "u", password = "p",
            vhost = "/v", heart_beat = { 10000, 10000 } }))
        assert.is_true(c:connect())
        return c
    end

    it("sends CONNECT and negotiates heart-beats", function()
        local c = connected()
        assert.are.equal("CONNECT\naccept-version:1.2\nhost:/v\nlogin:u\npasscode:p\n" ..
            "heart-beat:10000,10000\n\n\0", sock:output())
        assert.are.equal(20000, c.send_every)
        assert.are.equal(10000, c.recv_every)
    end)

    it("skips the handshake on a pooled connection", function()
        sock = fake_socket.new("")
        sock.reused = 3
        local c = client.new({ host = "h", port = 1, pool = "p" })
        assert.is_true(c:connect())
        assert.are.equal("", sock:output())
        assert.are.equal("p", sock.opts.pool)
        assert.is_true(c.reused)
    end)

    it("returns false, text for an ERROR instead of CONNECTED", function()
        sock = fake_socket.new("ERROR\nmessage:Bad CONNECT\n\nAccess refused\0")
        local c = client.new({ host = "h", port = 1 })
        local ok, err = c:connect()
        assert.is_false(ok)
        assert.are.equal("Bad CONNECT: Access refused", err)
        assert.is_true(sock.closed)
    end)

    it("waits for the RECEIPT of a SEND", function()
        local c = connected("RECEIPT\nreceipt-id:r1\n\n\0")
        sock.sent = {}
        assert.is_true(c:send("/amq/queue/q", "body", { { "persistent", "false" } }, "r1"))
        assert.are.equal("SEND\ndestination:/amq/queue/q\npersistent:false\nreceipt:r1\n" ..
            "content-length:4\n\nbody\0", sock:output())
    end)

    it("never takes an ERROR for success", function()
        local c = connected("ERROR\nmessage:not_found\n\nNOT_FOUND - no queue 'q'\0RECEIPT\nreceipt-id:r1\n\n\0")
        local ok, err = c:send("/amq/queue/q", "body", nil, "r1")
        assert.is_false(ok)
        assert.are.equal("not_found: NOT_FOUND - no queue 'q'", err)
        assert.is_true(sock.closed)
    end)

    it("hands frames that arrive before the RECEIPT to on_frame", function()
        local c = connected("\nMESSAGE\nsubscription:inbox\ncontent-length:2\n\n{}\0RECEIPT\nreceipt-id:r2\n\n\0")
        local seen = {}
        assert.is_true(c:send("/amq/queue/t", "x", nil, "r2", function(f) seen[#seen + 1] = f.command end))
        assert.are.same({ "MESSAGE" }, seen)
    end)

    it("reports I/O failure as nil, err and closes", function()
        local c = connected("RECEIPT\nreceipt-")
        local ok, err = c:send("/amq/queue/q", "body", nil, "r1")
        assert.is_nil(ok)
        assert.matches("closed", err)
        assert.is_true(sock.closed)
    end)

    it("sends heart-beats when due and notices a silent broker", function()
        local c = connected()
        c.last_write, c.last_read = 100 - 25, 100 - 60
        assert.is_true(c:heartbeat_due(100))
        assert.is_true(c:peer_silent(100))
        c.last_write, c.last_read = 100 - 1, 100 - 1
        assert.is_false(c:heartbeat_due(100))
        assert.is_false(c:peer_silent(100))
    end)
end)
