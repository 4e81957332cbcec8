-- fake_socket: a stand-in for ngx.socket.tcp used by stomp_spec.lua. It serves `input` to
-- receive() the way a cosocket does ("*l" lines without CR/LF, n bytes, receiveuntil) and
-- records what is sent. Reads past the end return nil, "closed" (or "timeout" if told).
local _M = {}
local mt = { __index = _M }


function _M.new(input, at_end)
    return setmetatable({ input = input or "", pos = 1, sent = {}, at_end = at_end or "closed",
        timeouts = {} }, mt)
end


function _M.feed(self, more)
    self.input = self.input .. more
end


function _M.output(self)
    return table.concat(self.sent)
end


function _M.settimeouts(self, c, s, r)
    self.timeouts[#self.timeouts + 1] = { c, s, r }
end


function _M.settimeout(self, ms)
    self.timeout = ms
end


function _M.connect(self, host, port, opts)
    self.host, self.port, self.opts = host, port, opts
    return 1
end


function _M.getreusedtimes(self)
    return self.reused or 0
end


function _M.send(self, data)
    if self.closed then
        return nil, "closed"
    end
    self.sent[#self.sent + 1] = data
    return #data
end


function _M.receive(self, pattern)
    if self.closed then
        return nil, "closed"
    end
    if pattern == "*l" then
        local nl = self.input:find("\n", self.pos, true)
        if not nl then
            return nil, self.at_end
        end
        local line = self.input:sub(self.pos, nl - 1):gsub("\r", "")
        self.pos = nl + 1
        return line
    end
    local n = pattern
    if self.pos + n - 1 > #self.input then
        return nil, self.at_end
    end
    local data = self.input:sub(self.pos, self.pos + n - 1)
    self.pos = self.pos + n
    return data
end


-- receiveuntil's iterator, like a cosocket's: without size, the data before delim; with
-- size, that data in pieces of at most size bytes, then nil, nil once delim is consumed.
function _M.receiveuntil(self, delim)
    local done = false
    return function(size)
        if done then
            return nil, nil
        end
        local at = self.input:find(delim, self.pos, true)
        if not at then
            return nil, self.at_end
        end
        local stop = at - 1
        if size and self.pos + size - 1 < stop then
            stop = self.pos + size - 1
        end
        local data = self.input:sub(self.pos, stop)
        self.pos = stop + 1
        if self.pos == at then
            self.pos = at + #delim
            done = size ~= nil
        end
        return data
    end
end


function _M.setkeepalive(self)
    self.kept = true
    return 1
end


function _M.close(self)
    self.closed = true
    return 1
end


return _M
