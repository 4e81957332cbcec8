-- funcatron.records: the records framing of protocol.md §8, between our frontend and our
-- runners.
--
-- A message with the transport header `fc-framing: records` holds `fc-records` records back
-- to back. A record is the message's JSON on one line (JSON never holds a raw newline:
-- lua-cjson and encoding/json escape it), a "\n", then exactly N raw bytes: N is the JSON's
-- `body-length` for a `service`, `answer.body-length` for an `answer` (absent or 0: none).
-- A record with raw bytes says `"body-base64-encoded": false` and has no `body` field.
--
-- Pure: no ngx; the JSON encoder and decoder are passed in (cjson in nginx and in the specs).
local type     = type
local tonumber = tonumber
local tostring = tostring
local floor    = math.floor
local find     = string.find
local sub      = string.sub


local _M = { _VERSION = "0.1.0" }

-- FRAMING is the value of the `fc-framing` header of a records message.
_M.FRAMING = "records"


-- service_line returns the JSON line ("...}\n") of the service message m for a record whose
-- raw body has n bytes: `body-base64-encoded` false, no `body`, `body-length` n (absent for
-- none). m is changed. Returns the line, or nil, err.
function _M.service_line(m, n, encode)
    m.body = nil
    m["body-base64-encoded"] = false
    m["body-length"] = n > 0 and n or nil
    local text, err = encode(m)
    if not text then
        return nil, err
    end
    return text .. "\n"
end


-- body_length returns the raw byte count a decoded record announces: `answer.body-length` for
-- an answer, `body-length` otherwise; 0 when absent or JSON null. nil, err when it is not a
-- non-negative integer.
local function body_length(m, null)
    local n = m["body-length"]
    if m.action == "answer" and type(m.answer) == "table" then
        n = m.answer["body-length"]
    end
    if n == nil or n == null then
        return 0
    end
    if type(n) ~= "number" or n < 0 or n ~= floor(n) then
        return nil, "body-length " .. tostring(n) .. " is not a non-negative integer"
    end
    return n
end


-- count reads the `fc-records` header (a decimal string, or a number); nil, err otherwise.
function _M.count(v)
    local n = tonumber(v)
    if type(v) == "string" and not find(v, "^%d+$") then
        n = nil
    end
    if not n or n < 1 or n ~= floor(n) then
        return nil, "fc-records " .. tostring(v) .. " is not a positive integer"
    end
    return n
end


-- read_one reads the record at pos of body. Returns the decoded JSON, the raw bytes and the
-- position after them, or nil, err.
local function read_one(body, pos, decode, null)
    local nl = find(body, "\n", pos, true)
    if not nl then
        return nil, "no line end"
    end
    local m, err = decode(sub(body, pos, nl - 1))
    if type(m) ~= "table" then
        return nil, "its JSON does not decode to an object" .. (err and (": " .. err) or "")
    end
    local n
    n, err = body_length(m, null)
    if not n then
        return nil, err
    end
    if nl + n > #body then
        return nil, "body-length " .. n .. " goes past the end of the message"
    end
    return m, sub(body, nl + 1, nl + n), nl + n + 1
end


-- split reads a records message: body and its `fc-records` header value. Returns a list of
-- {msg = decoded JSON, raw = raw bytes ("" for none)}, or nil, err, partial when the framing
-- is broken (a count that does not match, a bad or too long body-length, a line that is not
-- a JSON object, trailing bytes); partial holds the records read before the break. decode is
-- cjson.safe.decode (returns nil, err), null its JSON null.
function _M.split(body, header, decode, null)
    local list = {}
    local count, err = _M.count(header)
    if not count then
        return nil, err, list
    end
    local pos = 1
    for i = 1, count do
        local m, raw, nxt = read_one(body, pos, decode, null)
        if not m then
            return nil, "record " .. i .. " of " .. count .. ": " .. raw, list
        end
        list[i] = { msg = m, raw = raw }
        pos = nxt
    end
    if pos <= #body then
        return nil, (#body - pos + 1) .. " bytes after the last of " .. count .. " records", list
    end
    return list
end


return _M
