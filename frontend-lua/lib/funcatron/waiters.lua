-- funcatron.waiters: requests waiting for their `answer`, keyed by request id (one registry
-- per nginx worker, shared by that worker's request handlers and its listener timer).
--
--   register(id)        before publishing (so an answer can never arrive unannounced)
--   deliver(id, answer, raw)  from the listener: the first answer wins; late or repeated ones
--                       are dropped (false, reason); raw is the body of a records answer
--                       (protocol.md §8), nil for a catalogue one
--   wait(id, seconds)   in the request: answer, raw, or nil, "timeout"; the entry is gone after
--   remove(id)          when publishing failed
--
-- Nothing grows without bound: an entry lives from register until wait or remove returns.
-- The semaphore constructor is injected (ngx.semaphore.new in nginx, a fake in the specs).
local setmetatable = setmetatable


local _M = { _VERSION = "0.1.0" }
local mt = { __index = _M }


-- new returns an empty registry; new_sema() returns an object with post(n) and
-- wait(seconds) → true | nil, err.
function _M.new(new_sema)
    return setmetatable({ new_sema = new_sema, entries = {}, n = 0 }, mt)
end


function _M.register(self, id)
    if self.entries[id] then
        return nil, "request id " .. id .. " already waiting"
    end
    local sema, err = self.new_sema(0)
    if not sema then
        return nil, "failed to create semaphore: " .. (err or "unknown")
    end
    self.entries[id] = { sema = sema }
    self.n = self.n + 1
    return true
end


function _M.deliver(self, id, answer, raw)
    local e = id and self.entries[id]
    if not e then
        return false, "nobody waits for it (late or unknown)"
    end
    if e.delivered then
        return false, "already answered"
    end
    e.delivered = true
    e.answer = answer
    e.raw = raw
    e.sema:post(1)
    return true
end


function _M.remove(self, id)
    if self.entries[id] then
        self.entries[id] = nil
        self.n = self.n - 1
    end
end


function _M.wait(self, id, seconds)
    local e = self.entries[id]
    if not e then
        return nil, "not registered"
    end
    local err
    if not e.delivered then
        local _
        _, err = e.sema:wait(seconds)
    end
    self:remove(id)
    if e.delivered then
        return e.answer, e.raw
    end
    return nil, err or "timeout"
end


-- count is the number of requests waiting.
function _M.count(self)
    return self.n
end


return _M
