-- funcatron.config: the frontend's settings, read once from the environment.
--
-- nginx passes only whitelisted variables to Lua (`env` lines in nginx/nginx.conf.in):
--   RABBIT_HOST (127.0.0.1)  RABBIT_PORT (61613, STOMP)  RABBIT_HOSTS (host:port,host:port: the
--   nodes of one cluster, funcatron.brokers; default RABBIT_HOST:RABBIT_PORT; rabbit_hosts is
--   the parsed list, rabbit_host/rabbit_port its first item)  RABBIT_USER / RABBIT_PWD (guest/guest)
--   RABBIT_VHOST (/)  TRON_QUEUE (for_tron)  INSTANCEID (default: hostname-<nginx master pid>)
--   HOST, PORT_80 (reported in host-info)  FUNCATRON_TIMEOUT (seconds a request waits for its
--   answer, default 30)  FUNCATRON_HEARTBEAT (seconds between heartbeats to the Tron, default
--   10; tests shorten it)  DEV_MODE (set, and not 0/false/no/off: any host matches, the routes
--   dump is allowed from anywhere)  FUNCATRON_FRONTEND_KEY_FILE (the file holding the frontend
--   key that signs control messages, spec/protocol.md §7; required: funcatron.startup's
--   init reads it and refuses to start without it)  FUNCATRON_MAX_CLOCK_SKEW (seconds a signed
--   message's fc-at may be from this clock, default 300, as the daemons' --max-clock-skew).
--   FUNCATRON_FRAMING (records | catalogue, default records: how requests travel to runners,
--   protocol.md §8; catalogue = one JSON + base64 message per request, as the 2017 frontend)
--   FUNCATRON_MAX_BATCH (records per message, default 32, at most 65536; 1 = never batch)
--   FUNCATRON_MAX_BATCH_BYTES (bytes of records per message, default 1048576; a request
--   bigger than that travels alone).
--
-- parse is pure (getenv injected) and returns nil, err for a bad value: a misconfigured
-- frontend must not start (init_by_lua raises it, nginx refuses to start with the message).
local tonumber = tonumber
local type     = type
local floor    = math.floor
local lower    = string.lower


local os_getenv = os.getenv
local brokers   = require "funcatron.brokers"

local _M = { _VERSION = "0.1.0" }

local current


local function number(getenv, name, default, min, integer)
    local v = getenv(name)
    if v == nil or v == "" then
        return default
    end
    local n = tonumber(v)
    if not n or n < min or (integer and n ~= floor(n)) then
        return nil, "bad " .. name .. " " .. v .. ": " ..
            (integer and "an integer" or "a number") .. " >= " .. min .. " expected"
    end
    return n
end


local function flag(v)
    if v == nil or v == "" then
        return false
    end
    v = lower(v)
    return v ~= "0" and v ~= "false" and v ~= "no" and v ~= "off"
end


local function str(getenv, name, default)
    local v = getenv(name)
    if v == nil or v == "" then
        return default
    end
    return v
end


local FRAMINGS = { records = true, catalogue = true }
local MAX_RECORDS = 65536 -- the most fc-records a runner accepts (protocol.MaxRecords)


-- batching reads the framing and the batch bounds into c (protocol.md §8).
local function batching(getenv, c)
    local framing = lower(str(getenv, "FUNCATRON_FRAMING", "records"))
    if not FRAMINGS[framing] then
        return nil, "bad FUNCATRON_FRAMING " .. framing .. ": records or catalogue expected"
    end
    c.framing = framing
    local err
    c.max_batch, err = number(getenv, "FUNCATRON_MAX_BATCH", 32, 1, true)
    if not c.max_batch then
        return nil, err
    end
    if c.max_batch > MAX_RECORDS then
        return nil, "bad FUNCATRON_MAX_BATCH " .. c.max_batch .. ": at most " .. MAX_RECORDS
    end
    c.max_batch_bytes, err = number(getenv, "FUNCATRON_MAX_BATCH_BYTES", 1024 * 1024, 1024, true)
    if not c.max_batch_bytes then
        return nil, err
    end
    return c
end


-- parse reads the settings through getenv(name) → string or nil.
function _M.parse(getenv)
    if type(getenv) ~= "function" then
        error("bad argument #1 getenv: function expected", 2)
    end
    local c = {
        rabbit_host  = str(getenv, "RABBIT_HOST", "127.0.0.1"),
        rabbit_user  = str(getenv, "RABBIT_USER", "guest"),
        rabbit_pwd   = str(getenv, "RABBIT_PWD", "guest"),
        rabbit_vhost = str(getenv, "RABBIT_VHOST", "/"),
        tron_queue   = str(getenv, "TRON_QUEUE", "for_tron"),
        instance_id  = str(getenv, "INSTANCEID", nil),
        host         = str(getenv, "HOST", nil),
        port_80      = str(getenv, "PORT_80", nil),
        dev_mode     = flag(getenv("DEV_MODE")),
        key_file     = str(getenv, "FUNCATRON_FRONTEND_KEY_FILE", nil),
    }
    -- nginx's resolver does not read /etc/hosts
    if c.rabbit_host == "localhost" then
        c.rabbit_host = "127.0.0.1"
    end
    local err
    c.rabbit_port, err = number(getenv, "RABBIT_PORT", 61613, 1, true)
    if not c.rabbit_port then
        return nil, err
    end
    if c.rabbit_port > 65535 then
        return nil, "bad RABBIT_PORT " .. c.rabbit_port .. ": at most 65535"
    end
    local hosts = str(getenv, "RABBIT_HOSTS", nil)
    if hosts then
        c.rabbit_hosts, err = brokers.parse(hosts)
        if not c.rabbit_hosts then
            return nil, err
        end
        c.rabbit_host, c.rabbit_port = c.rabbit_hosts[1].host, c.rabbit_hosts[1].port
    else
        c.rabbit_hosts = { { host = c.rabbit_host, port = c.rabbit_port } }
    end
    c.timeout, err = number(getenv, "FUNCATRON_TIMEOUT", 30, 0.001)
    if not c.timeout then
        return nil, err
    end
    c.heartbeat, err = number(getenv, "FUNCATRON_HEARTBEAT", 10, 0.05)
    if not c.heartbeat then
        return nil, err
    end
    c.max_skew, err = number(getenv, "FUNCATRON_MAX_CLOCK_SKEW", 300, 1)
    if not c.max_skew then
        return nil, err
    end
    -- the largest frame the listener reads (docs/security.md "Bounded input": the runners'
    -- --max-message-bytes and the broker's max_message_size are the same number)
    c.max_message_bytes, err = number(getenv, "FUNCATRON_MAX_MESSAGE_BYTES", 16 * 1024 * 1024, 1024, true)
    if not c.max_message_bytes then
        return nil, err
    end
    return batching(getenv, c)
end


-- load parses the process environment and keeps the result for get.
function _M.load()
    local c, err = _M.parse(os_getenv)
    if not c then
        return nil, err
    end
    current = c
    return c
end


-- get returns the settings loaded by load.
function _M.get()
    return current
end


-- set replaces the settings (init fills in defaults that need ngx, e.g. the instance id).
function _M.set(c)
    current = c
end


return _M
