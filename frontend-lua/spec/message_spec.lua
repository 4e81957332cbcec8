-- Specs for funcatron.message: the `service` message from stubbed nginx variables, and the
-- control messages to the Tron.
local message = require "funcatron.message"
local cjson = require "cjson"

-- the catalogue's `service` fields (seeds/funcatron-messages.txt, protocol.md §3)
local CATALOGUE = {
    "headers", "action", "method", "uri-args", "host", "content-type", "remote-addr",
    "server-protocol", "server-port", "server-addr", "remote-port", "request-uri", "request-id",
    "args", "remote-user", "request", "http-referer", "http-user-agent", "scheme", "uri",
    "reply-to", "reply-queue", "body-base64-encoded", "body",
}


local function full_var()
    local var = {
        request_method = "POST", host = "example.com", content_type = "application/json",
        remote_addr = "10.0.0.7", server_protocol = "HTTP/1.1", server_port = "8080",
        server_addr = "10.0.0.1", remote_port = "52044", request_uri = "/hello/world?x=1&x=2",
        args = "x=1&x=2", remote_user = "alice", request = "POST /hello/world?x=1&x=2 HTTP/1.1",
        http_referer = "http://ref/", http_user_agent = "curl/7.88.1", scheme = "http",
        uri = "/hello/world",
    }
    -- the caller reads $request_id once and passes it in: the builder must not read it again
    return setmetatable(var, { __index = function(_, k)
        if k == "request_id" then
            error("service() read $request_id", 2)
        end
    end })
end


local function params(extra)
    local p = {
        request_id = "8109974ab045f10303f7c7f8ea7b97aa", inbox = "FRNTabc", msg_id = "m-1",
        at = 1795312211000,
        headers = { host = "example.com:8080", ["x-multi"] = { "a", "b" } },
        uri_args = { x = { "1", "2" }, flag = true },
        body = "eyJoZWxsbyI6IndvcmxkIn0=",
    }
    for k, v in pairs(extra or {}) do
        p[k] = v
    end
    return p
end


describe("service", function()
    it("carries every catalogue field", function()
        local m = message.service(full_var(), params())
        for _, k in ipairs(CATALOGUE) do
            assert.is_not_nil(m[k], k)
        end
        assert.are.equal("service", m.action)
        assert.are.equal("POST", m.method)
        assert.are.equal("example.com", m.host)
        assert.are.equal("/hello/world", m.uri)
        assert.are.equal("8080", m["server-port"])
        assert.are.equal("alice", m["remote-user"])
        assert.are.equal("eyJoZWxsbyI6IndvcmxkIn0=", m.body)
        assert.is_true(m["body-base64-encoded"])
        assert.are.same({ "a", "b" }, m.headers["x-multi"])
        assert.are.same({ x = { "1", "2" }, flag = true }, m["uri-args"])
    end)

    it("uses the one request id for request-id and reply-to, and the inbox as reply-queue", function()
        local m = message.service(full_var(), params())
        assert.are.equal("8109974ab045f10303f7c7f8ea7b97aa", m["request-id"])
        assert.are.equal(m["request-id"], m["reply-to"])
        assert.are.equal("FRNTabc", m["reply-queue"])
        assert.are.equal("FRNTabc", m.from)
    end)

    it("asks for the answer's headers as pairs", function()
        assert.are.equal("pairs", message.service(full_var(), params())["answer-headers"])
    end)

    it("adds the common fields", function()
        local m = message.service(full_var(), params())
        assert.are.equal("m-1", m["msg-id"])
        assert.are.equal(1795312211000, m.at)
        assert.are.equal(message.VERSION, m.version)
    end)

    it("leaves absent and empty variables out", function()
        local var = { request_method = "GET", host = "h", uri = "/", args = "", scheme = "http" }
        local p = params()
        p.body = nil
        local m = message.service(var, p)
        assert.is_nil(m.args)
        for _, k in ipairs({ "content-type", "remote-user", "http-referer", "body" }) do
            assert.is_nil(m[k], k)
        end
        assert.are.equal("GET", m.method)
    end)

    it("has no body key for an empty body", function()
        assert.is_nil(message.service(full_var(), params({ body = "" })).body)
    end)

    it("encodes to JSON the Go side reads", function()
        local text = cjson.encode(message.service(full_var(), params({ uri_args = {} })))
        local back = cjson.decode(text)
        assert.are.equal("service", back.action)
        assert.are.same({ "a", "b" }, back.headers["x-multi"])
        assert.matches('"uri%-args":{}', text) -- an empty map stays a map
    end)
end)


describe("service_record", function()
    it("carries what a runner reads, not the fields no runner reads", function()
        local m = message.service_record(full_var(), params())
        for _, k in ipairs({ "action", "method", "host", "content-type", "remote-addr", "server-protocol",
            "server-port", "remote-port", "request-uri", "request-id", "args", "remote-user", "scheme", "uri",
            "reply-to", "reply-queue", "headers", "answer-headers" }) do
            assert.is_not_nil(m[k], k)
        end
        -- protocol.ServingSkips of the Go side; the body travels raw (funcatron.records)
        for _, k in ipairs({ "msg-id", "at", "version", "from", "uri-args", "server-addr", "request",
            "http-referer", "http-user-agent", "body", "body-base64-encoded" }) do
            assert.is_nil(m[k], k)
        end
        assert.are.equal(m["request-id"], m["reply-to"])
        assert.are.same({ "a", "b" }, m.headers["x-multi"])
    end)

    it("never reads the variables it leaves out, nor those already read", function()
        local var = full_var()
        local read = {}
        local spy = setmetatable({}, { __index = function(_, k)
            read[k] = true
            return var[k]
        end })
        local p = params()
        p.known = { host = "known.example", uri = "/known" }
        local m = message.service_record(spy, p)
        assert.are.same({ "known.example", "/known" }, { m.host, m.uri })
        for _, k in ipairs({ "server_addr", "request", "http_referer", "http_user_agent", "host", "uri" }) do
            assert.is_nil(read[k], k)
        end
        assert.is_true(read.request_method)
    end)
end)


describe("control", function()
    it("carries action, msg-id, at, from, version and the fields", function()
        local m = message.control("awake", "FRNTx", "id-1", 1234, { type = "frontend", ["instance-id"] = "i-0" })
        assert.are.same({
            action = "awake", ["msg-id"] = "id-1", at = 1234, from = "FRNTx", version = message.VERSION,
            type = "frontend", ["instance-id"] = "i-0",
        }, m)
    end)

    it("builds host-info with a numeric port", function()
        assert.are.same({ host = "fe", port = 8080 }, message.host_info("fe", "8080"))
        assert.are.same({ host = "fe" }, message.host_info("fe", nil))
        assert.is_nil(message.host_info(nil, nil))
    end)
end)


describe("uuid", function()
    it("is a version 4 UUID and does not repeat", function()
        math.randomseed(7)
        local seen = {}
        for _ = 1, 1000 do
            local u = message.uuid(math.random)
            assert.matches("^%x%x%x%x%x%x%x%x%-%x%x%x%x%-4%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$", u)
            assert.is_nil(seen[u])
            seen[u] = true
        end
    end)
end)

describe("encode_service", function()
    it("splices the base64 body in unescaped, and the JSON reads back the same", function()
        local m = message.service(full_var(), params({ body = "aGk/+w==" }))
        local text = message.encode_service(m, cjson.encode)
        assert.matches(',"body":"aGk/%+w=="}$', text)
        local back = cjson.decode(text)
        assert.are.equal("aGk/+w==", back.body)
        assert.are.equal("service", back.action)
        assert.are.equal("aGk/+w==", m.body) -- the caller's table is left as it was
    end)

    it("writes no body key without a body", function()
        local text = message.encode_service(message.service(full_var(), params({ body = "" })), cjson.encode)
        assert.is_nil(cjson.decode(text).body)
        assert.is_nil(text:find('"body"', 1, true))
    end)
end)

describe("decode_answer", function()
    local function answer_text(body)
        return '{"action":"answer","request-id":"r1","answer":{"status":201,' ..
            '"headers":[["Set-Cookie","a=1"],["X-Quote","say \\",\\"body\\":\\"no"]],"body":"' .. body .. '"}}'
    end

    it("cuts the body out and puts it back", function()
        local msg = message.decode_answer(answer_text("aGk/+w=="), cjson.decode)
        assert.are.equal("aGk/+w==", msg.answer.body)
        assert.are.equal(201, msg.answer.status)
        assert.are.same({ "X-Quote", 'say ","body":"no' }, msg.answer.headers[2])
    end)

    it("gives the same table as a whole decode", function()
        for _, body in ipairs({ "", "QUJD", string.rep("x/+=", 1000) }) do
            local text = answer_text(body)
            assert.are.same(cjson.decode(text), message.decode_answer(text, cjson.decode))
        end
    end)

    it("decodes any other shape whole", function()
        local texts = {
            '{"action":"route","routes":[{"host":"","path":"/","queue":"q"}]}',
            '{"action":"answer","answer":{"body":"QQ==","status":200,"headers":[]}}', -- body first
            '{"action":"answer","answer":{"status":200,"body":"QQ==","headers":[]}}',
            '{"action":"answer","body":"QQ==","answer":{"status":200}}',
        }
        for _, text in ipairs(texts) do
            assert.are.same(cjson.decode(text), message.decode_answer(text, cjson.decode))
        end
    end)

    it("reports undecodable text", function()
        local safe = require "cjson.safe"
        assert.is_nil(message.decode_answer('{"action":"answer","x":[,"body":"QQ=="}}', safe.decode))
        assert.is_nil(message.decode_answer("{nope", safe.decode))
    end)
end)
