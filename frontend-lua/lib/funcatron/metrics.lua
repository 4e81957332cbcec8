-- funcatron.metrics: the frontend's Prometheus metrics, served at /__funcatron/metrics
-- (loopback only, funcatron.request) in the text exposition format 0.0.4.
--
-- The numbers are the whole nginx's, whichever worker answers the scrape: they live in the
-- shared dict `funcatron_metrics` (nginx.conf.in), which every worker writes to, and which
-- survives a reload (HUP), so counters only reset when nginx restarts, as a Go daemon's do.
--   funcatron_frontend_refused_messages_total{reason}  control messages refused on the
--       workers' inboxes (funcatron.control), summed over workers; every reason of the Go
--       daemons' funcatron_{tron,runner}_refused_messages_total is listed, from 0;
--   funcatron_frontend_listeners_connected  workers whose listener is subscribed and awake:
--       each connected worker keeps a key "listener:<pid>" alive (LISTENER_TTL, refreshed by
--       its listener every LISTENER_REFRESH s) and deletes it when it disconnects, so a
--       worker that was killed stops counting LISTENER_TTL s later at most;
--   funcatron_frontend_workers  nginx worker processes configured (worker_processes).
-- /__funcatron/health still says what the worker that answers counted itself.
--
-- No ngx at load time: the specs run this under plain Lua, with a fake dict.
local concat   = table.concat
local format   = string.format
local gsub     = string.gsub
local sub      = string.sub
local floor    = math.floor
local huge     = math.huge
local tostring = tostring
local tonumber = tonumber
local type     = type

local _M = { _VERSION = "0.1.0" }

_M.DICT = "funcatron_metrics" -- the lua_shared_dict of nginx.conf.in
_M.CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_M.LISTENER_TTL = 10    -- seconds a connected listener's key lives without a refresh
_M.LISTENER_REFRESH = 1 -- seconds between two refreshes (the listener loop wakes every ≤ 1 s)

-- REASONS are the refusal reasons, in the Go daemons' order (protocol.RefusedReasons), so
-- one query covers the three kinds of node. A frontend never refuses for misdirected or
-- role (it has one inbox and one key); those stay 0.
_M.REASONS = { "unsigned", "bad-signature", "misdirected", "stale", "replayed", "mismatch", "role" }

local REFUSED_PREFIX = "refused:"
local LISTENER_PREFIX = "listener:"


---------------------------------------------------------------------------------------------
-- Counting (the workers)
---------------------------------------------------------------------------------------------

-- refused counts one refused control message of reason. A full dict (it is sized for many
-- times what it holds) loses the count, never the worker: the error is returned, not raised.
function _M.refused(dict, reason)
    return dict:incr(REFUSED_PREFIX .. reason, 1, 0)
end


-- listener_up marks the listener of worker pid connected for LISTENER_TTL seconds.
function _M.listener_up(dict, pid)
    return dict:set(LISTENER_PREFIX .. pid, true, _M.LISTENER_TTL)
end


-- listener_down marks it disconnected.
function _M.listener_down(dict, pid)
    return dict:delete(LISTENER_PREFIX .. pid)
end


---------------------------------------------------------------------------------------------
-- Reading (the scrape)
---------------------------------------------------------------------------------------------

-- count_listeners counts the live listener keys (get_keys skips expired ones).
local function count_listeners(dict)
    local n = 0
    local keys = dict:get_keys(0)
    for i = 1, #keys do
        if sub(keys[i], 1, #LISTENER_PREFIX) == LISTENER_PREFIX then
            n = n + 1
        end
    end
    return n
end


-- families reads dict into the metric families render writes; workers is the number of
-- worker processes (ngx.worker.count()).
function _M.families(dict, workers)
    local refused = {}
    for i = 1, #_M.REASONS do
        local reason = _M.REASONS[i]
        refused[i] = { labels = { { "reason", reason } }, value = dict:get(REFUSED_PREFIX .. reason) or 0 }
    end
    return {
        { name = "funcatron_frontend_refused_messages_total", type = "counter", samples = refused,
          help = "Control messages refused and dropped on the workers' inboxes (docs/protocol.md \"Signing\"), "
              .. "by reason, summed over the nginx workers: unsigned, bad-signature, stale, replayed, mismatch." },
        { name = "funcatron_frontend_listeners_connected", type = "gauge",
          samples = { { value = count_listeners(dict) } },
          help = "nginx workers whose listener is subscribed to its inbox and has sent awake." },
        { name = "funcatron_frontend_workers", type = "gauge", samples = { { value = workers } },
          help = "nginx worker processes (worker_processes)." },
    }
end


---------------------------------------------------------------------------------------------
-- The text exposition format 0.0.4
---------------------------------------------------------------------------------------------

local HELP_ESCAPES = { ["\\"] = "\\\\", ["\n"] = "\\n" }
local LABEL_ESCAPES = { ["\\"] = "\\\\", ["\n"] = "\\n", ['"'] = '\\"' }


-- escape_help escapes a HELP text: backslash and line feed.
function _M.escape_help(s)
    return (gsub(s, "[\\\n]", HELP_ESCAPES))
end


-- escape_label escapes a label value: backslash, double quote and line feed.
function _M.escape_label(s)
    return (gsub(tostring(s), '[\\\n"]', LABEL_ESCAPES))
end


-- format_value writes a sample value as Go's Prometheus client does: integers without a
-- fraction, others with enough digits to round-trip, +Inf, -Inf and NaN by name.
function _M.format_value(v)
    if type(v) ~= "number" then
        v = tonumber(v) or 0
    end
    if v ~= v then
        return "NaN"
    elseif v == huge then
        return "+Inf"
    elseif v == -huge then
        return "-Inf"
    elseif v == floor(v) and v > -2^53 and v < 2^53 then
        return format("%d", v)
    end
    return format("%.17g", v)
end


local function label_set(labels)
    if not labels or #labels == 0 then
        return ""
    end
    local parts = {}
    for i = 1, #labels do
        parts[i] = labels[i][1] .. '="' .. _M.escape_label(labels[i][2]) .. '"'
    end
    return "{" .. concat(parts, ",") .. "}"
end


-- render writes families ({name, help, type, samples = {{labels = {{k, v}}, value}}}) as
-- Prometheus text, each family's HELP and TYPE before its samples, ending in a line feed.
function _M.render(families)
    local out = {}
    for i = 1, #families do
        local f = families[i]
        out[#out + 1] = "# HELP " .. f.name .. " " .. _M.escape_help(f.help)
        out[#out + 1] = "# TYPE " .. f.name .. " " .. f.type
        for j = 1, #f.samples do
            local s = f.samples[j]
            out[#out + 1] = f.name .. label_set(s.labels) .. " " .. _M.format_value(s.value)
        end
    end
    out[#out + 1] = ""
    return concat(out, "\n")
end


return _M
