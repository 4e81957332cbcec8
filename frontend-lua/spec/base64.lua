-- A strict standard base64 decoder for the specs (ngx.decode_base64 in nginx).
local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local _M = {}


-- decode returns the bytes of s, or nil when s is not standard base64.
function _M.decode(s)
    if #s % 4 ~= 0 or s:find("[^%w%+/=]") or s:find("=[^=]") then
        return nil
    end
    local out = {}
    for i = 1, #s, 4 do
        local n, pad = 0, 0
        for j = i, i + 3 do
            local c = s:sub(j, j)
            local v = B64:find(c, 1, true)
            if c == "=" then
                pad, v = pad + 1, 1
            elseif not v then
                return nil
            end
            n = n * 64 + (v - 1)
        end
        local bytes = string.char(math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
        out[#out + 1] = bytes:sub(1, 3 - pad)
    end
    return table.concat(out)
end


return _M
