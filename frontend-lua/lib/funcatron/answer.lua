-- funcatron.answer: checks the `answer` a runner sent and turns its header pairs into what
-- ngx.header takes.
--
-- An answer is {status, headers, body}: status an integer 200..599, headers a list of
-- [name, value] pairs (repeated names, e.g. Set-Cookie, stay separate pairs), body standard
-- base64 (absent or "" for none); a records answer (protocol.md §8) has its body raw beside
-- the JSON instead, and no `body`. Anything else is malformed: the request answers 502. The
-- listener delivers false for an answer that could not be read, with the reason in place of
-- the raw body when it has one (a records message whose framing broke).
--
-- Pure: the base64 decoder and JSON null are passed in (ngx.decode_base64 and cjson.null in
-- nginx), so spec/answer_spec.lua runs it under plain Lua.
local type     = type
local next     = next
local tostring = tostring
local floor    = math.floor
local find     = string.find
local lower    = string.lower


local _M = { _VERSION = "0.1.0" }

-- SKIP are answer headers nginx sets itself (framing and hop-by-hop): never copied.
_M.SKIP = {
    ["content-length"] = true, ["transfer-encoding"] = true, ["connection"] = true,
    ["keep-alive"] = true, ["upgrade"] = true, ["trailer"] = true,
}


local function valid_header(pair)
    if type(pair) ~= "table" then
        return false
    end
    local name, value = pair[1], pair[2]
    if type(value) == "number" then
        value = tostring(value)
    end
    return type(name) == "string" and type(value) == "string"
        and find(name, "^[!#$%%&'*+%-.^_`|~%w]+$") ~= nil
        and not find(value, "[\r\n]") and not find(value, "\0", 1, true)
end


-- body returns the answer's body bytes: raw (a records answer's) or a.body decoded; nil, why.
local function body(a, decode_base64, null, raw)
    local b = a.body
    if b == nil or b == null or b == "" then
        return raw or ""
    end
    if raw then
        return nil, "answer record has a body field (a record carries its body raw)"
    end
    if type(b) ~= "string" then
        return nil, "answer body is not base64 text"
    end
    b = decode_base64(b)
    if not b then
        return nil, "answer body is not valid base64"
    end
    return b
end


-- check returns status, headers, body (decoded) or nil, why. decode_base64(s) returns the
-- bytes or nil; null is the JSON decoder's null value; raw is the raw body of a records
-- answer (nil for a catalogue answer), or with a false, why it could not be read.
function _M.check(a, decode_base64, null, raw)
    if a == false and raw then
        return nil, raw
    end
    if type(a) ~= "table" then
        return nil, "answer is not an object"
    end
    local status = a.status
    if type(status) ~= "number" or status ~= floor(status) or status < 200 or status > 599 then
        return nil, "answer status " .. tostring(status) .. " is not an HTTP status"
    end
    local headers = a.headers
    if headers == nil or headers == null then
        headers = {}
    end
    if type(headers) ~= "table" then
        return nil, "answer headers are not a list of pairs"
    end
    local n = #headers
    if n == 0 and next(headers) ~= nil then
        return nil, "answer headers are not a list of pairs"
    end
    for i = 1, n do
        if not valid_header(headers[i]) then
            return nil, "answer header " .. i .. " is not a valid [name, value] pair"
        end
    end
    local data, why = body(a, decode_base64, null, raw)
    if not data then
        return nil, why
    end
    return status, headers, data
end


-- group turns checked header pairs into names (first spelling, in order) and a map from
-- lower-cased name to a value, or to a list of values for a repeated name.
function _M.group(headers)
    local values, names = {}, {}
    for i = 1, #headers do
        local name, value = headers[i][1], tostring(headers[i][2])
        local key = lower(name)
        if not _M.SKIP[key] then
            local cur = values[key]
            if cur == nil then
                values[key] = value
                names[#names + 1] = name
            elseif type(cur) == "table" then
                cur[#cur + 1] = value
            else
                values[key] = { cur, value }
            end
        end
    end
    return names, values
end


return _M
