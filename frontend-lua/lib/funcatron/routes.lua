-- funcatron.routes: the route table a frontend got from the Tron, and the lookup.
--
-- A route {host, path, queue, sha, runners?} serves a request when
--   * its host is absent, null, "" or "*" (any host), or equals the request's host without
--     port, case-insensitively (the route's own host may carry a port: it is ignored too);
--   * its path is a prefix of the request's uri ending on a segment boundary: "/api" serves
--     "/api" and "/api/x", not "/apix"; "/" (or an absent path) serves everything; a trailing
--     slash on a route path is ignored.
-- Among the routes that serve a request, the longest path wins; on equal paths the one first in
-- the Tron's order (most recently enabled) wins.
--
-- Lookup cost grows with the number of segments of the uri, not with the number of routes:
-- the table is indexed by path, and per path by host.
--
-- Pure Lua (no ngx): tested by spec/routes_spec.lua.
local type         = type
local pairs        = pairs
local ipairs       = ipairs
local setmetatable = setmetatable
local lower        = string.lower
local sub          = string.sub
local find         = string.find
local byte         = string.byte

local SLASH = 47


local _M = { _VERSION = "0.1.0" }
local mt = { __index = _M }


-- strip_port returns host without a ":port" suffix ("[::1]:80" → "[::1]"), lower-cased.
function _M.strip_port(host)
    if byte(host, 1) == 91 then -- "[": an IPv6 literal
        local close = find(host, "]", 1, true)
        if close then
            return lower(sub(host, 1, close))
        end
        return lower(host)
    end
    local colon = find(host, ":", 1, true)
    if colon and not find(host, ":", colon + 1, true) then
        host = sub(host, 1, colon - 1)
    end
    return lower(host)
end


-- normalize_path returns the path a route is indexed under: "/" for absent or empty, a leading
-- "/" added, trailing slashes removed.
function _M.normalize_path(path)
    if type(path) ~= "string" or path == "" then
        return "/"
    end
    if byte(path, 1) ~= SLASH then
        path = "/" .. path
    end
    local last = #path
    while last > 1 and byte(path, last) == SLASH do
        last = last - 1
    end
    return sub(path, 1, last)
end


local function any_host(host)
    return type(host) ~= "string" or host == "" or host == "*"
end


-- new builds a table from the routes of a `route` message (an array, possibly empty). Entries
-- without a string queue are skipped and reported in the second return value.
function _M.new(list)
    local by_path = {}
    local routes = {}
    local skipped = 0
    if type(list) ~= "table" then
        list = {}
    end
    for i = 1, #list do
        local r = list[i]
        if type(r) == "table" and type(r.queue) == "string" and r.queue ~= "" then
            local path = _M.normalize_path(r.path)
            local host = not any_host(r.host) and _M.strip_port(r.host) or nil
            local entry = {
                host = host, path = path, queue = r.queue,
                sha = type(r.sha) == "string" and r.sha or nil,
                -- how many runners consume the queue, when the Tron knows (0: nobody)
                runners = type(r.runners) == "number" and r.runners or nil,
                order = #routes + 1,
            }
            routes[#routes + 1] = entry
            local slot = by_path[path]
            if not slot then
                slot = { hosts = {} }
                by_path[path] = slot
            end
            if host then
                if not slot.hosts[host] then
                    slot.hosts[host] = entry
                end
            elseif not slot.any then
                slot.any = entry
            end
        else
            skipped = skipped + 1
        end
    end
    return setmetatable({ by_path = by_path, routes = routes }, mt), skipped
end


-- count is the number of routes in the table.
function _M.count(self)
    return #self.routes
end


-- list returns the routes for display: {host, path, queue, sha, runners}, in table order.
function _M.list(self)
    local out = {}
    for i, r in ipairs(self.routes) do
        out[i] = { host = r.host or "*", path = r.path, queue = r.queue, sha = r.sha,
            runners = r.runners }
    end
    return out
end


-- pick chooses among a path's routes: the earliest of the host's own and the any-host one.
local function pick(slot, host, dev_mode)
    if dev_mode then
        local best = slot.any
        for _, r in pairs(slot.hosts) do
            if not best or r.order < best.order then
                best = r
            end
        end
        return best
    end
    local own = host and slot.hosts[host]
    local any = slot.any
    if own and any then
        return own.order < any.order and own or any
    end
    return own or any
end


-- match returns the route serving host (the request's $host) and uri (its normalised path),
-- or nil. dev_mode: any route host matches.
function _M.match(self, host, uri, dev_mode)
    local by_path = self.by_path
    if host and host ~= "" then
        host = _M.strip_port(host)
    else
        host = nil
    end
    if type(uri) ~= "string" or byte(uri, 1) ~= SLASH then
        uri = "/" .. (type(uri) == "string" and uri or "")
    end
    -- candidates: the uri without trailing slashes, then each shorter segment prefix, then "/"
    local last = #uri
    while last > 1 and byte(uri, last) == SLASH do
        last = last - 1
    end
    local candidate = sub(uri, 1, last)
    while true do
        local slot = by_path[candidate]
        if slot then
            local r = pick(slot, host, dev_mode)
            if r then
                return r
            end
        end
        if candidate == "/" then
            return nil
        end
        local cut = last
        while cut > 1 and byte(uri, cut) ~= SLASH do
            cut = cut - 1
        end
        -- uri[cut] is "/" (or cut is 1); drop it and any run of slashes before it
        last = cut - 1
        while last > 1 and byte(uri, last) == SLASH do
            last = last - 1
        end
        if last < 1 then
            candidate = "/"
            last = 1
        else
            candidate = sub(uri, 1, last)
        end
    end
end


return _M
