-- Specs for funcatron.records against the golden files the Go side writes and reads
-- (internal/protocol/testdata/golden/records-*.bin, each with a .json listing the records'
-- decoded fields and bodies): both languages read the same bytes the same way.
local records = require "funcatron.records"
local cjson = require "cjson.safe"
local decode64 = require("base64").decode

local GOLDEN = "../internal/protocol/testdata/golden/"


local function read(name)
    local f = assert(io.open(GOLDEN .. name, "rb"))
    local data = f:read("*a")
    f:close()
    return data
end


local function golden(name)
    return read(name .. ".bin"), cjson.decode(read(name .. ".json"))
end


for _, name in ipairs({ "records-service", "records-answer" }) do
    describe(name .. ".bin", function()
        local bin, want = golden(name)

        it("splits into the records its .json lists, fields and raw bodies", function()
            local list = assert(records.split(bin, want.headers["fc-records"], cjson.decode, cjson.null))
            assert.are.equal(#want.records, #list)
            for i, rec in ipairs(want.records) do
                assert.are.same(rec.fields, list[i].msg, "record " .. i)
                assert.are.equal(decode64(rec["body-base64"]), list[i].raw, "body of record " .. i)
            end
        end)

        it("is broken by a count that does not match or a byte more", function()
            local n = tonumber(want.headers["fc-records"])
            assert.is_nil((records.split(bin, n + 1, cjson.decode, cjson.null)))
            assert.is_nil((records.split(bin, n - 1, cjson.decode, cjson.null)))
            assert.is_nil((records.split(bin .. "\n", n, cjson.decode, cjson.null)))
        end)
    end)
end


describe("service_line", function()
    it("writes records the golden service message's fields come back from", function()
        local _, want = golden("records-service")
        local parts = {}
        for _, rec in ipairs(want.records) do
            local body = decode64(rec["body-base64"])
            local m = {}
            for k, v in pairs(rec.fields) do
                m[k] = v
            end
            parts[#parts + 1] = assert(records.service_line(m, #body, cjson.encode))
            parts[#parts + 1] = body
        end
        local list = assert(records.split(table.concat(parts), #want.records, cjson.decode, cjson.null))
        for i, rec in ipairs(want.records) do
            assert.are.same(rec.fields, list[i].msg)
            assert.are.equal(decode64(rec["body-base64"]), list[i].raw)
        end
    end)
end)
