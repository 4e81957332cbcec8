-- Specs for funcatron.batcher: requests as coroutines, a fake publish that stays in flight
-- until the spec completes it, and fake semaphores that suspend the coroutine that waits (as
-- ngx.semaphore suspends a request handler).
local batcher = require "funcatron.batcher"


local function scheduler()
    local s = { clock = 100, calls = {}, ready = {}, waiting = {}, results = {} }

    function s.now()
        return s.clock
    end

    function s.new_sema(n)
        local sema = { n = n, queue = {} }
        function sema.post(self, k)
            for _ = 1, k do
                local co = table.remove(self.queue, 1)
                if co then
                    s.waiting[co] = nil
                    s.ready[#s.ready + 1] = { co, true }
                else
                    self.n = self.n + 1
                end
            end
        end
        function sema.wait(self)
            if self.n > 0 then
                self.n = self.n - 1
                return true
            end
            local co = coroutine.running()
            self.queue[#self.queue + 1] = co
            s.waiting[co] = self
            return coroutine.yield()
        end
        return sema
    end

    -- publish stays in flight until s.complete(i, ...)
    function s.publish(queue, body, count, ms)
        local call = { queue = queue, body = body, count = count, ms = ms, co = coroutine.running() }
        s.calls[#s.calls + 1] = call
        return coroutine.yield()
    end

    local function resume(co, ...)
        local ok, err = coroutine.resume(co, ...)
        assert(ok, err)
        s.run()
    end

    function s.run()
        while #s.ready > 0 do
            local r = table.remove(s.ready, 1)
            resume(r[1], r[2])
        end
    end

    -- request starts a request handler that submits a record; its result lands in results[name]
    function s.request(b, name, queue, line, body, deadline)
        local co = coroutine.create(function()
            s.results[name] = { b:submit(queue, line, body, deadline or s.clock + 30) }
        end)
        resume(co)
    end

    function s.complete(i, ...)
        resume(s.calls[i].co, ...)
    end

    -- expire makes every semaphore wait time out (the clock having moved past deadlines)
    function s.expire()
        for co, sema in pairs(s.waiting) do
            for j, c in ipairs(sema.queue) do
                if c == co then
                    table.remove(sema.queue, j)
                end
            end
            s.waiting[co] = nil
            s.ready[#s.ready + 1] = { co, nil }
        end
        s.run()
    end

    return s
end


local function new(s, max_batch, max_bytes)
    return batcher.new({ publish = s.publish, new_sema = s.new_sema, now = s.now,
        max_batch = max_batch or 32, max_bytes = max_bytes or 1024 })
end


describe("batcher", function()
    local s, b

    before_each(function()
        s = scheduler()
        b = new(s)
    end)

    it("sends a lone request at once, as a message of one record", function()
        s.request(b, "r1", "q", "{\"a\":1}\n", "hi")
        assert.are.equal(1, #s.calls)
        assert.are.same({ "q", "{\"a\":1}\nhi", 1, 30000 },
            { s.calls[1].queue, s.calls[1].body, s.calls[1].count, s.calls[1].ms })
        s.complete(1, true)
        assert.are.same({ true }, s.results.r1)
        -- the next one goes at once too: nothing is kept back
        s.request(b, "r2", "q", "{}\n")
        assert.are.equal(2, #s.calls)
        assert.are.equal(1, s.calls[2].count)
    end)

    it("sends the requests that arrive while a publish is in flight as one message", function()
        s.request(b, "r1", "q", "1\n", "a")
        s.request(b, "r2", "q", "2\n", "bb")
        s.request(b, "r3", "q", "3\n", nil)
        s.request(b, "r4", "q", "4\n", "\0\n")
        assert.are.equal(1, #s.calls) -- r2..r4 wait
        s.complete(1, true)
        assert.are.same({ true }, s.results.r1)
        assert.are.equal(2, #s.calls)
        assert.are.same({ "2\nbb3\n4\n\0\n", 3 }, { s.calls[2].body, s.calls[2].count })
        assert.is_nil(s.results.r2)
        s.complete(2, true)
        assert.are.same({ true }, s.results.r2)
        assert.are.same({ true }, s.results.r3)
        assert.are.same({ true }, s.results.r4)
        assert.are.same({ 2, 4 }, { b:stats() })
    end)

    it("fails every request of a failed batch alike", function()
        s.request(b, "r1", "q", "1\n")
        s.request(b, "r2", "q", "2\n")
        s.request(b, "r3", "q", "3\n")
        s.complete(1, nil, "connection refused")
        assert.are.same({ nil, "connection refused" }, s.results.r1)
        s.complete(2, false, "access refused")
        assert.are.same({ false, "access refused" }, s.results.r2)
        assert.are.same({ false, "access refused" }, s.results.r3)
    end)

    it("keeps queues apart", function()
        s.request(b, "r1", "q1", "1\n")
        s.request(b, "r2", "q2", "2\n")
        assert.are.equal(2, #s.calls)
        assert.are.same({ "q1", "q2" }, { s.calls[1].queue, s.calls[2].queue })
    end)

    it("bounds a batch by max_batch records: a full batch leaves first, the next one after it", function()
        b = new(s, 2)
        for i = 1, 5 do
            s.request(b, "r" .. i, "q", i .. "\n")
        end
        s.complete(1, true)
        assert.are.same({ "2\n3\n", 2 }, { s.calls[2].body, s.calls[2].count })
        assert.are.equal(2, #s.calls) -- one publish in flight per queue
        s.complete(2, true)
        assert.are.same({ "4\n5\n", 2 }, { s.calls[3].body, s.calls[3].count })
        s.complete(3, true)
        for i = 1, 5 do
            assert.are.same({ true }, s.results["r" .. i], "r" .. i)
        end
        s.request(b, "r6", "q", "6\n")
        assert.are.equal(1, s.calls[4].count)
    end)

    it("bounds a batch by max_bytes; a bigger request travels alone at once", function()
        b = new(s, 32, 10)
        s.request(b, "r1", "q", "1\n")
        s.request(b, "r2", "q", "2\n", "abcd")  -- 6 bytes
        s.request(b, "r3", "q", "3\n", "efgh")  -- 6 more: over 10, a new batch
        s.request(b, "big", "q", "4\n", "0123456789")
        assert.are.equal(2, #s.calls)
        assert.are.same({ "4\n0123456789", 1 }, { s.calls[2].body, s.calls[2].count })
        s.complete(2, true)
        assert.are.same({ true }, s.results.big)
        s.complete(1, true)
        assert.are.same({ "2\nabcd", 1 }, { s.calls[3].body, s.calls[3].count })
        s.complete(3, true)
        assert.are.same({ "3\nefgh", 1 }, { s.calls[4].body, s.calls[4].count })
    end)

    it("never batches with max_batch 1", function()
        b = new(s, 1)
        s.request(b, "r1", "q", "1\n")
        s.request(b, "r2", "q", "2\n")
        assert.are.equal(2, #s.calls)
    end)

    it("gives a batch its earliest request's remaining time as expiration", function()
        s.request(b, "r1", "q", "1\n", nil, 130)
        s.request(b, "r2", "q", "2\n", nil, 130)
        s.request(b, "r3", "q", "3\n", nil, 110.5)
        s.clock = 101
        s.complete(1, true)
        assert.are.equal(9500, s.calls[2].ms)
        assert.are.equal(29000 + 1000, s.calls[1].ms)
    end)

    it("fails a batch whose turn did not come before its earliest deadline, and goes on", function()
        s.request(b, "r1", "q", "1\n", nil, 105)
        s.request(b, "r2", "q", "2\n", nil, 105)
        s.request(b, "r3", "q", "3\n", nil, 105)
        s.clock = 106
        s.expire()
        assert.are.same({ nil, batcher.TURN_MISSED }, s.results.r2)
        assert.are.same({ nil, batcher.TURN_MISSED }, s.results.r3)
        s.complete(1, true)
        assert.are.equal(1, #s.calls) -- the dropped batch is not sent
        s.request(b, "r4", "q", "4\n")
        assert.are.equal(2, #s.calls)
        assert.are.equal("4\n", s.calls[2].body)
    end)

    it("turns a crashing publish into an error and hands the queue on", function()
        local n = 0
        b = batcher.new({ new_sema = s.new_sema, now = s.now, max_batch = 32, max_bytes = 1024,
            publish = function(...)
                n = n + 1
                if n == 1 then
                    s.publish(...)
                    error("boom")
                end
                return s.publish(...)
            end })
        s.request(b, "r1", "q", "1\n")
        s.request(b, "r2", "q", "2\n")
        s.complete(1, true)
        assert.are.equal(nil, s.results.r1[1])
        assert.matches("publishing crashed: .*boom", s.results.r1[2])
        assert.are.equal(2, #s.calls)
        s.complete(2, true)
        assert.are.same({ true }, s.results.r2)
    end)
end)
