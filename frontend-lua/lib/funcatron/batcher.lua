-- funcatron.batcher: per nginx worker and route queue, the requests that leave together
-- (protocol.md §8 "Batches").
--
-- A request for queue Q when no publish to Q is in flight is sent at once, as a message of
-- one record: no timer, so a lone request is never delayed. Requests for Q that arrive while
-- a publish to Q is in flight join a pending batch; when the in-flight publish completes, the
-- pending batch leaves as ONE message (one SEND, one receipt). Under load the batch size
-- follows the load.
--
-- The first request of a pending batch leads: it waits on the batch's `go` semaphore until
-- the publish before it hands the queue over, then sends the batch and hands the queue to the
-- next pending batch (or marks it idle). The other requests of the batch wait on its `done`
-- semaphore for the outcome, which is the same for all: a failed batch fails every request
-- in it. At most max_batch records and max_bytes bytes per message: a full pending batch
-- stays queued and the next request starts a new one behind it; a request bigger than
-- max_bytes travels alone, at once, beside the queue's batches.
--
-- A batch's expiration is its earliest request's remaining time (ms, at least 1). A leader
-- whose deadline passes before its turn fails its batch: its requests would time out anyway.
--
-- Pure: the publish function, the semaphore constructor and the clock are injected (ngx in
-- funcatron.request, fakes in spec/batcher_spec.lua). Everything here runs in one nginx
-- worker, whose request handlers only switch at I/O or semaphore waits.
local setmetatable = setmetatable
local pcall        = pcall
local tostring     = tostring
local concat       = table.concat
local ceil         = math.ceil
local max          = math.max


local _M = { _VERSION = "0.1.0" }
local mt = { __index = _M }

-- TURN_MISSED is what the requests of a batch get when its turn did not come before its
-- earliest deadline.
_M.TURN_MISSED = "the publish before this batch did not complete in time"


-- new returns a batcher. o: publish(queue, body, count, expiration_ms) → true | false, text
-- (refused) | nil, err (I/O); new_sema(n) → semaphore with post(n) and wait(seconds);
-- now() → seconds; max_batch (records); max_bytes (bytes of records).
function _M.new(o)
    return setmetatable({
        publish = o.publish, new_sema = o.new_sema, now = o.now,
        max_batch = o.max_batch, max_bytes = o.max_bytes,
        queues = {},   -- queue name → {pending = FIFO of batches, first, last}
        sent = 0,      -- messages published
        records = 0,   -- records in them
    }, mt)
end


local function new_batch(deadline)
    return { parts = {}, n = 0, bytes = 0, deadline = deadline, followers = 0 }
end


local function add(b, line, body, deadline)
    local parts = b.parts
    parts[#parts + 1] = line
    if body then
        parts[#parts + 1] = body
    end
    b.n = b.n + 1
    b.bytes = b.bytes + #line + (body and #body or 0)
    if deadline < b.deadline then
        b.deadline = deadline
    end
end


local function fits(self, b, size)
    return b.n < self.max_batch and b.bytes + size <= self.max_bytes
end


-- send publishes batch b as one message; returns publish's results.
local function send(self, queue, b)
    local ms = max(1, ceil((b.deadline - self.now()) * 1000))
    local ok, res, err = pcall(self.publish, queue, concat(b.parts), b.n, ms)
    b.parts = nil
    self.sent = self.sent + 1
    self.records = self.records + b.n
    if not ok then
        return nil, "publishing crashed: " .. tostring(res)
    end
    return res, err
end


-- finish records b's outcome and wakes its followers.
local function finish(b, res, err)
    b.finished, b.res, b.err = true, res, err
    if b.followers > 0 then
        b.done:post(b.followers)
    end
end


-- hand_over gives queue q's turn to its next pending batch, or marks q idle.
local function hand_over(self, queue, q)
    local first = q.first
    if first > q.last then
        self.queues[queue] = nil
        return
    end
    local b = q.pending[first]
    q.pending[first] = nil
    q.first = first + 1
    b.handed = true
    b.go:post(1)
end


-- run sends b, the queue's turn being ours, and hands the turn on.
local function run(self, queue, q, b)
    local res, err = send(self, queue, b)
    finish(b, res, err)
    hand_over(self, queue, q)
    return res, err
end


-- drop removes batch b from q's pending list (its leader gave up).
local function drop(q, b)
    for i = q.first, q.last do
        if q.pending[i] == b then
            for j = i, q.last - 1 do
                q.pending[j] = q.pending[j + 1]
            end
            q.pending[q.last] = nil
            q.last = q.last - 1
            return
        end
    end
end


-- lead waits for b's turn, then sends it.
local function lead(self, queue, q, b)
    while not b.handed do
        local left = b.deadline - self.now()
        if left <= 0 then
            drop(q, b)
            finish(b, nil, _M.TURN_MISSED)
            return nil, _M.TURN_MISSED
        end
        b.go:wait(left)
    end
    return run(self, queue, q, b)
end


-- follow waits for the outcome of b, which its leader sends.
local function follow(self, b, deadline)
    if not b.finished then
        b.done:wait(max(0.001, deadline - self.now()))
    end
    if b.finished then
        return b.res, b.err
    end
    return nil, _M.TURN_MISSED
end


-- join adds a record to q's last pending batch, or to a new one behind it; returns the batch
-- and whether this request leads it.
local function join(self, q, line, body, deadline)
    local size = #line + (body and #body or 0)
    local b = q.last >= q.first and q.pending[q.last]
    if b and fits(self, b, size) then
        add(b, line, body, deadline)
        b.followers = b.followers + 1
        if not b.done then
            b.done = self.new_sema(0)
        end
        return b, false
    end
    b = new_batch(deadline)
    b.go = self.new_sema(0)
    add(b, line, body, deadline)
    q.last = q.last + 1
    q.pending[q.last] = b
    return b, true
end


-- submit sends the record (its JSON line and raw body, which may be nil) to queue, alone or
-- in a batch, before deadline (ngx.now() seconds). Returns what publish returned for the
-- message that carried it: true, or false, text (the broker refused), or nil, err.
function _M.submit(self, queue, line, body, deadline)
    local size = #line + (body and #body or 0)
    local q = self.queues[queue]
    if size > self.max_bytes or self.max_batch <= 1 then
        local b = new_batch(deadline)
        add(b, line, body, deadline)
        return send(self, queue, b) -- alone, whether the queue is busy or not
    end
    if not q then
        q = { pending = {}, first = 1, last = 0 }
        self.queues[queue] = q
        local b = new_batch(deadline)
        add(b, line, body, deadline)
        return run(self, queue, q, b)
    end
    local b, leads = join(self, q, line, body, deadline)
    if leads then
        return lead(self, queue, q, b)
    end
    return follow(self, b, deadline)
end


-- stats returns the messages published and the records in them, since start.
function _M.stats(self)
    return self.sent, self.records
end


return _M
