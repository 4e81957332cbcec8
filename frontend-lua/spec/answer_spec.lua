-- Specs for funcatron.answer: which answers are well-formed, and how header pairs reach nginx.
local answer = require "funcatron.answer"

local NULL = setmetatable({}, { __tostring = function() return "null" end }) -- like cjson.null

local decode64 = require("base64").decode


local function check(a)
    return answer.check(a, decode64, NULL)
end


describe("check", function()
    it("accepts status, header pairs and a base64 body", function()
        local status, headers, body = check({
            status = 201,
            headers = { { "Content-Type", "text/plain" }, { "Set-Cookie", "a=1" }, { "Set-Cookie", "b=2" } },
            body = "aGVsbG8=",
        })
        assert.are.equal(201, status)
        assert.are.equal(3, #headers)
        assert.are.equal("hello", body)
    end)

    it("accepts absent or null headers and body", function()
        local status, headers, body = check({ status = 204 })
        assert.are.same({ 204, {}, "" }, { status, headers, body })
        status, headers, body = check({ status = 200, headers = NULL, body = NULL })
        assert.are.same({ 200, {}, "" }, { status, headers, body })
    end)

    it("takes a records answer's raw body as it is, without base64", function()
        local status, _, body = answer.check({ status = 200, headers = {} }, decode64, NULL, "a\0b\n")
        assert.are.same({ 200, "a\0b\n" }, { status, body })
        _, _, body = answer.check({ status = 204, body = NULL }, decode64, NULL, "")
        assert.are.equal("", body)
    end)

    it("refuses a records answer that also has a body field", function()
        local status, why = answer.check({ status = 200, body = "aGVsbG8=" }, decode64, NULL, "hello")
        assert.is_nil(status)
        assert.matches("body field", why, 1, true)
    end)

    it("says why an answer could not be read (false with a reason)", function()
        local status, why = answer.check(false, decode64, NULL, "malformed answer message: x")
        assert.are.same({ nil, "malformed answer message: x" }, { status, why })
    end)

    it("accepts numeric header values", function()
        assert.are.equal(200, (check({ status = 200, headers = { { "X-N", 5 } } })))
    end)

    local bad = {
        { "not a table", "not an object" },
        { false, "not an object" },
        { { headers = {} }, "status" },
        { { status = "200" }, "status" },
        { { status = 99 }, "status" },
        { { status = 600 }, "status" },
        { { status = 200.5 }, "status" },
        { { status = 200, headers = { ["content-type"] = "text/plain" } }, "pairs" },
        { { status = 200, headers = "x" }, "pairs" },
        { { status = 200, headers = { { "X" } } }, "header 1" },
        { { status = 200, headers = { { "Bad Name", "v" } } }, "header 1" },
        { { status = 200, headers = { { "X", "a\r\nInjected: 1" } } }, "header 1" },
        { { status = 200, headers = { { "X", "ok" }, "oops" } }, "header 2" },
        { { status = 200, body = "*not base64*" }, "base64" },
        { { status = 200, body = 42 }, "base64" },
    }
    for i, c in ipairs(bad) do
        it("rejects malformed answer " .. i .. " (" .. c[2] .. ")", function()
            local status, why = check(c[1])
            assert.is_nil(status)
            assert.matches(c[2], why, 1, true)
        end)
    end
end)


describe("group", function()
    it("keeps repeated headers as lists and first spellings in order", function()
        local names, values = answer.group({
            { "Content-Type", "text/plain" },
            { "Set-Cookie", "a=1" },
            { "X-N", 7 },
            { "set-cookie", "b=2" },
            { "Set-Cookie", "c=3" },
        })
        assert.are.same({ "Content-Type", "Set-Cookie", "X-N" }, names)
        assert.are.same({ "a=1", "b=2", "c=3" }, values["set-cookie"])
        assert.are.equal("7", values["x-n"])
    end)

    it("drops framing and hop-by-hop headers", function()
        local names = answer.group({ { "Content-Length", "99" }, { "Transfer-Encoding", "chunked" },
            { "Connection", "close" }, { "X-Ok", "1" } })
        assert.are.same({ "X-Ok" }, names)
    end)
end)
