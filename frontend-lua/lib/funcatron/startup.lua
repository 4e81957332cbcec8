-- funcatron.startup: the frontend's two start-up phases.
--   init()  in init_by_lua: reads the configuration once (funcatron.config) and the frontend
--           key; a bad value stops nginx;
--   start() in init_worker_by_lua: sets up this worker's state (funcatron.worker) and starts
--           its listener (funcatron.listener) with ngx.timer.at.
local config    = require "funcatron.config"
local sign      = require "funcatron.sign"
local stomp     = require "funcatron.stomp"
local waiters   = require "funcatron.waiters"
local batcher   = require "funcatron.batcher"
local publish   = require "funcatron.publish"
local worker    = require "funcatron.worker"
local listener  = require "funcatron.listener"
local brokers   = require "funcatron.brokers"
local metrics   = require "funcatron.metrics"
local cjson     = require "cjson.safe"
local semaphore = require "ngx.semaphore"

local ngx        = ngx
local log        = ngx.log
local ERR        = ngx.ERR
local now        = ngx.now
local timer_at   = ngx.timer.at
local error      = error
local floor      = math.floor
local randomseed = math.randomseed
local random     = math.random
local getenv     = os.getenv
local io_open    = io.open

local MAX_DEPTH = 100 -- nesting of a message on the inbox (docs/security.md "Bounded input")

local state = worker.state


local _M = { _VERSION = "0.1.0" }


local function hostname()
    local f = io_open("/proc/sys/kernel/hostname", "r")
    if f then
        local h = f:read("*l")
        f:close()
        if h and h ~= "" then
            return h
        end
    end
    return getenv("HOSTNAME") or "nginx"
end


-- init reads the configuration (init_by_lua). A bad setting raises: nginx does not start.
function _M.init()
    local c, err = config.load()
    if not c then
        error("funcatron: " .. err, 0)
    end
    if not c.instance_id then
        c.instance_id = hostname() .. "-" .. ngx.worker.pid()
    end
    local key
    key, err = sign.read_key(c.key_file)
    if not key then
        error("funcatron: " .. err, 0)
    end
    c.key = key
    if not c.host then
        c.host = hostname()
    end
    if not ngx.shared[metrics.DICT] then
        error("funcatron: nginx.conf lacks `lua_shared_dict " .. metrics.DICT .. "` (nginx/nginx.conf.in)", 0)
    end
    stomp.MAX_BODY = c.max_message_bytes
    -- the Go decoders' nesting bound (protocol.MaxDepth); lua-cjson's own is 1000
    cjson.decode_max_depth(MAX_DEPTH)
end


local function seed()
    local f = io_open("/dev/urandom", "rb")
    local s = 0
    if f then
        local b = f:read(6) or ""
        f:close()
        for i = 1, #b do
            s = s * 256 + b:byte(i)
        end
    end
    randomseed(s + ngx.worker.pid() + floor(now() * 1000) % 100000)
end


-- start sets up this worker's state and starts its listener (init_worker_by_lua).
function _M.start()
    local c = config.get()
    if not c then
        error("funcatron: init() did not run: add init_by_lua_block to nginx.conf", 0)
    end
    seed()
    state.metrics = ngx.shared[metrics.DICT]
    brokers.init(c.rabbit_hosts, random)
    state.waiters = waiters.new(semaphore.new)
    if c.framing == "records" then
        state.batcher = batcher.new({
            publish = function(queue, body, count, expiration_ms)
                return publish.records(c, queue, body, count, expiration_ms)
            end,
            new_sema = semaphore.new, now = now,
            max_batch = c.max_batch, max_bytes = c.max_batch_bytes,
        })
    end
    state.ready = semaphore.new(0)
    state.inbox = "FRNT" .. worker.uuid()
    state.node_id = c.instance_id .. "-" .. (ngx.worker.id() or 0)
    local ok, err = timer_at(0, listener.listen)
    if not ok then
        log(ERR, "funcatron: failed to start the listener: ", err)
    end
end


return _M
