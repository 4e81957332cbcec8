-- funcatron.sign: signed control messages between the frontend and the Tron
-- (spec/protocol.md §7), the same rules as the Go side (internal/protocol/sign.go);
-- internal/protocol/testdata/sign-vectors.json pins both to the same bytes.
--
-- Four STOMP headers (RabbitMQ maps them to AMQP message headers and back):
--   fc-action, fc-msg-id, fc-at (epoch ms), fc-sig = lowercase hex of
--   HMAC-SHA256(key, "fc1\n" .. destination queue .. "\n" .. action .. "\n" .. msg-id ..
--   "\n" .. at .. "\n" .. body bytes).
--
-- No crypto is written here: HMAC() and EVP_sha256() of OpenSSL's libcrypto (which Debian's
-- nginx links) through LuaJIT's FFI; when nginx does not put those symbols in the global
-- namespace the libcrypto shared object is loaded by name. Signatures are compared in
-- constant time. Needs LuaJIT (ffi, bit): nginx's Lua, not the PUC Lua that runs busted, so
-- it is tested through a real nginx from Go (integration/sign_lua_test.go).
local ffi = require "ffi"
local bit = require "bit"

local byte   = string.byte
local format = string.format
local gsub   = string.gsub
local match  = string.match
local concat = table.concat
local tonumber = tonumber
local tostring = tostring
local type   = type
local bor    = bit.bor
local bxor   = bit.bxor
local band   = bit.band

local _M = { _VERSION = "0.1.0" }

_M.MIN_KEY_BYTES = 16
_M.DEFAULT_SKEW_MS = 5 * 60 * 1000

pcall(ffi.cdef, [[
typedef struct evp_md_st EVP_MD;
const EVP_MD *EVP_sha256(void);
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len,
                    const unsigned char *d, size_t n, unsigned char *md,
                    unsigned int *md_len);
]])

local crypto

-- libcrypto returns the namespace holding HMAC: nginx's own (ffi.C), else a loaded .so.
local function libcrypto()
    if crypto then
        return crypto
    end
    if pcall(function() return ffi.C.HMAC and ffi.C.EVP_sha256 end) then
        crypto = ffi.C
        return crypto
    end
    for _, name in ipairs({ "libcrypto.so.3", "libcrypto.so.1.1", "crypto" }) do
        local ok, lib = pcall(ffi.load, name)
        if ok and pcall(function() return lib.HMAC end) then
            crypto = lib
            return crypto
        end
    end
    error("funcatron.sign: OpenSSL's libcrypto (HMAC) not found", 0)
end


local md_buf = ffi.new("unsigned char[64]")
local md_len = ffi.new("unsigned int[1]")

local function to_hex(s)
    return (gsub(s, ".", function(c) return format("%02x", byte(c)) end))
end


-- hmac_sha256_hex returns lowercase hex of HMAC-SHA256(key, data).
function _M.hmac_sha256_hex(key, data)
    local lib = libcrypto()
    local out = lib.HMAC(lib.EVP_sha256(), key, #key, data, #data, md_buf, md_len)
    if out == nil then
        error("funcatron.sign: HMAC failed", 0)
    end
    return to_hex(ffi.string(md_buf, md_len[0]))
end


-- signature is the fc-sig of one message.
function _M.signature(key, dest, action, msg_id, at, body)
    return _M.hmac_sha256_hex(key, concat({ "fc1", dest, action, msg_id, tostring(at), body or "" }, "\n"))
end


-- headers returns the four signing headers as {name, value} pairs for a STOMP SEND.
function _M.headers(key, dest, action, msg_id, at, body)
    at = tostring(at)
    return {
        { "fc-action", action },
        { "fc-msg-id", msg_id },
        { "fc-at", at },
        { "fc-sig", _M.signature(key, dest, action, msg_id, at, body) },
    }
end


-- equal compares two strings in time that depends on their length only.
function _M.equal(a, b)
    if type(a) ~= "string" or type(b) ~= "string" or #a ~= #b then
        return false
    end
    local diff = 0
    for i = 1, #a do
        diff = bor(diff, bxor(byte(a, i), byte(b, i)))
    end
    return diff == 0
end


---------------------------------------------------------------------------------------------
-- Replays: the msg-ids already processed, until their fc-at leaves the skew window
---------------------------------------------------------------------------------------------

local Seen = {}
Seen.__index = Seen

local PRUNE_EVERY = 256

function _M.seen()
    return setmetatable({ ids = {}, adds = 0 }, Seen)
end

function Seen:has(id)
    return self.ids[id] ~= nil
end

-- add records id as processed until expires_ms; expired ids are swept now and then. Only
-- messages with a valid signature get here, so the size follows the Tron's traffic.
function Seen:add(id, expires_ms, now_ms)
    self.ids[id] = expires_ms
    self.adds = self.adds + 1
    if self.adds % PRUNE_EVERY == 0 then
        for k, e in pairs(self.ids) do
            if e < now_ms then
                self.ids[k] = nil
            end
        end
    end
end


---------------------------------------------------------------------------------------------
-- Verifying
---------------------------------------------------------------------------------------------

-- verify checks a received frame's signing headers before its body is decoded. queue is
-- the inbox it was consumed from. Returns the verified {action, msg_id, at} or nil, reason,
-- detail (reason: unsigned, stale, bad-signature, replayed).
function _M.verify(key, queue, headers, body, now_ms, skew_ms, seen)
    local action, msg_id, at, sig = headers["fc-action"], headers["fc-msg-id"], headers["fc-at"], headers["fc-sig"]
    if not (action and msg_id and at and sig) or action == "" or msg_id == "" or sig == "" then
        return nil, "unsigned", "missing fc-* headers"
    end
    local at_n = match(at, "^%d+$") and tonumber(at)
    if not at_n then
        return nil, "unsigned", "fc-at is not epoch milliseconds"
    end
    local skew = skew_ms or _M.DEFAULT_SKEW_MS
    if now_ms - at_n > skew or at_n - now_ms > skew then
        return nil, "stale", "fc-at " .. at .. " is too far from now"
    end
    if not key or not _M.equal(sig, _M.signature(key, queue, action, msg_id, at, body)) then
        return nil, "bad-signature", "signature does not verify for " .. queue
    end
    if seen and seen:has(msg_id) then
        return nil, "replayed", msg_id .. " was already processed"
    end
    return { action = action, msg_id = msg_id, at = at_n }
end


-- matches checks, after decoding, that the body repeats the signed headers.
function _M.matches(v, msg)
    return msg.action == v.action and msg["msg-id"] == v.msg_id and tonumber(msg.at) == v.at
end


-- processed records a verified message as acted on: a copy of it is now a replay.
function _M.processed(v, seen, now_ms, skew_ms)
    seen:add(v.msg_id, v.at + (skew_ms or _M.DEFAULT_SKEW_MS), now_ms)
end


---------------------------------------------------------------------------------------------
-- The key file
---------------------------------------------------------------------------------------------

-- mode_of returns the permission bits of path through stat(2) (glibc exports it since 2.33),
-- or nil when this architecture's struct stat layout is not known here.
pcall(ffi.cdef, [[int stat(const char *path, void *buf);]])
local MODE_OFFSET = ({ x64 = 24, arm64 = 16 })[ffi.arch]

local function mode_of(path)
    if not MODE_OFFSET then
        return nil
    end
    local buf = ffi.new("uint8_t[256]")
    local ok, rc = pcall(function() return ffi.C.stat(path, buf) end)
    if not ok or rc ~= 0 then
        return nil
    end
    return band(ffi.cast("uint32_t *", buf + MODE_OFFSET)[0], 4095)
end


-- read_key reads the key in path: the content without surrounding whitespace, at least
-- MIN_KEY_BYTES, in a file no group or other may read. nil, err otherwise.
function _M.read_key(path)
    if type(path) ~= "string" or path == "" then
        return nil, "FUNCATRON_FRONTEND_KEY_FILE is not set: the frontend key (the Tron's --frontend-key-file, "
            .. "generated as <its data dir>/frontend-key) is required to sign and verify control messages"
    end
    local mode = mode_of(path)
    if mode and band(mode, 63) ~= 0 then
        return nil, format("FUNCATRON_FRONTEND_KEY_FILE %s has mode %04o: a key file must be readable by its owner only (chmod 600 %s)",
            path, mode, path)
    end
    local f, err = io.open(path, "rb")
    if not f then
        return nil, "FUNCATRON_FRONTEND_KEY_FILE: " .. tostring(err)
    end
    local text = f:read("*a") or ""
    f:close()
    local key = match(text, "^%s*(.-)%s*$")
    if #key < _M.MIN_KEY_BYTES then
        return nil, "FUNCATRON_FRONTEND_KEY_FILE " .. path .. " holds " .. #key .. " bytes: a key needs at least "
            .. _M.MIN_KEY_BYTES
    end
    return key
end


return _M
