-- Specs for funcatron.records: the records framing of protocol.md §8 (the text of the
-- framing contract; the golden files of internal/protocol/testdata/golden/records-*.bin are
-- read by records_golden_spec.lua).
local records = require "funcatron.records"
local cjson = require "cjson.safe"


local function split(body, count)
    return records.split(body, count, cjson.decode, cjson.null)
end


describe("service_line", function()
    it("writes the JSON on one line, body-base64-encoded false, body-length, no body", function()
        local m = { action = "service", body = "aGVsbG8=", ["body-base64-encoded"] = true,
            headers = { ["x-a"] = "line1\nline2" } }
        local line = records.service_line(m, 5, cjson.encode)
        assert.are.equal("\n", line:sub(-1))
        assert.is_nil(line:sub(1, -2):find("\n", 1, true))
        local back = cjson.decode(line)
        assert.are.same({ "service", false, 5, nil, "line1\nline2" },
            { back.action, back["body-base64-encoded"], back["body-length"], back.body, back.headers["x-a"] })
    end)

    it("leaves body-length out when there is no body", function()
        local back = cjson.decode(records.service_line({ action = "service" }, 0, cjson.encode))
        assert.is_nil(back["body-length"])
        assert.is_false(back["body-base64-encoded"])
    end)

    it("round-trips through split with raw bodies holding NUL and newlines", function()
        local bodies = { "", "hello", "a\nb\0c\n", "\0" }
        local parts = {}
        for i, body in ipairs(bodies) do
            parts[#parts + 1] = records.service_line({ action = "service", ["request-id"] = "r" .. i }, #body, cjson.encode)
            parts[#parts + 1] = body
        end
        local list = assert(split(table.concat(parts), tostring(#bodies)))
        assert.are.equal(#bodies, #list)
        for i, body in ipairs(bodies) do
            assert.are.equal("r" .. i, list[i].msg["request-id"])
            assert.are.equal(body, list[i].raw)
        end
    end)
end)


describe("split", function()
    -- the examples of the framing contract
    local request = '{"action":"service","body-base64-encoded":false,"body-length":5}\nhello'
    local answer = '{"action":"answer","request-id":"R","body-base64-encoded":false,' ..
        '"answer":{"status":200,"headers":[["Content-Type","text/plain"]],"body-length":5}}\nhello'
    local empty = '{"action":"answer","request-id":"S","answer":{"status":204,"headers":[]}}\n'

    it("reads a request record", function()
        local list = assert(split(request, "1"))
        assert.are.same({ "service", "hello" }, { list[1].msg.action, list[1].raw })
    end)

    it("reads answer records back to back, body-length from answer", function()
        local list = assert(split(answer .. empty .. answer, "3"))
        assert.are.same({ "R", "hello", 200 }, { list[1].msg["request-id"], list[1].raw, list[1].msg.answer.status })
        assert.are.same({ "S", "", 204 }, { list[2].msg["request-id"], list[2].raw, list[2].msg.answer.status })
        assert.are.equal("hello", list[3].raw)
    end)

    it("takes fc-records as a decimal string or a number", function()
        assert.is_table(split(request, 1))
        assert.is_table(split(request, "1"))
    end)

    local broken = {
        { request, "2", "record 2 of 2: no line end" },
        { request .. request, "1", "bytes after the last of 1 records" },
        { request .. "x", "1", "1 bytes after" },
        { '{"action":"service","body-length":6}\nhello', "1", "past the end" },
        { '{"action":"service","body-length":-1}\n', "1", "not a non-negative integer" },
        { '{"action":"service","body-length":1.5}\nh', "1", "not a non-negative integer" },
        { '{"action":"service","body-length":"5"}\nhello', "1", "not a non-negative integer" },
        { '{"action":"answer","answer":{"body-length":-3}}\n', "1", "not a non-negative integer" },
        { "not json\n", "1", "does not decode to an object" },
        { '"a string"\n', "1", "does not decode to an object" },
        { request, "0", "not a positive integer" },
        { request, "-1", "not a positive integer" },
        { request, "1.0", "not a positive integer" },
        { request, "one", "not a positive integer" },
        { request, nil, "not a positive integer" },
        { "", "1", "no line end" },
    }
    for i, c in ipairs(broken) do
        it("refuses broken framing " .. i .. " (" .. c[3] .. ")", function()
            local list, err, partial = split(c[1], c[2])
            assert.is_nil(list)
            assert.matches(c[3], err, 1, true)
            assert.is_table(partial)
        end)
    end

    it("returns the records read before a break", function()
        local list, err, partial = split(answer .. empty .. "garbage", "3")
        assert.is_nil(list)
        assert.matches("record 3 of 3", err, 1, true)
        assert.are.same({ "R", "S" }, { partial[1].msg["request-id"], partial[2].msg["request-id"] })
    end)
end)
