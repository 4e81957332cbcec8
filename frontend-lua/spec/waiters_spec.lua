-- Specs for funcatron.waiters with a fake semaphore (ngx.semaphore needs a request).
local waiters = require "funcatron.waiters"


-- fake semaphore: wait() succeeds when posted, else times out (no real waiting).
local function new_sema(n)
    local s = { n = n }
    function s.post(self, k)
        self.n = self.n + (k or 1)
        return true
    end
    function s.wait(self)
        if self.n > 0 then
            self.n = self.n - 1
            return true
        end
        return nil, "timeout"
    end
    return s
end


describe("waiters", function()
    local w

    before_each(function()
        w = waiters.new(new_sema)
    end)

    it("hands the answer to the waiting request and forgets it", function()
        assert.is_true(w:register("r1"))
        assert.are.equal(1, w:count())
        assert.is_true(w:deliver("r1", { status = 200 }))
        assert.are.same({ status = 200 }, w:wait("r1", 1))
        assert.are.equal(0, w:count())
    end)

    it("keeps the first answer and drops later ones", function()
        w:register("r1")
        assert.is_true(w:deliver("r1", "first"))
        local ok, why = w:deliver("r1", "second")
        assert.is_false(ok)
        assert.matches("already", why)
        assert.are.equal("first", w:wait("r1", 1))
    end)

    it("drops answers nobody waits for (late or unknown)", function()
        local ok = w:deliver("nobody", "x")
        assert.is_false(ok)
        w:register("r2")
        assert.is_nil(w:wait("r2", 0.01))
        ok = w:deliver("r2", "late")
        assert.is_false(ok)
        assert.are.equal(0, w:count())
    end)

    it("reports a timeout and removes the entry", function()
        w:register("r3")
        local a, err = w:wait("r3", 0.01)
        assert.is_nil(a)
        assert.are.equal("timeout", err)
        assert.are.equal(0, w:count())
    end)

    it("hands over a records answer's raw body with the answer", function()
        w:register("r6")
        w:deliver("r6", { status = 200 }, "raw\0bytes")
        local a, raw = w:wait("r6", 1)
        assert.are.same({ { status = 200 }, "raw\0bytes" }, { a, raw })
    end)

    it("passes on a delivered false (a malformed answer) as a value", function()
        w:register("r4")
        w:deliver("r4", false)
        assert.is_false(w:wait("r4", 1))
    end)

    it("refuses a second waiter for one id, and remove clears", function()
        assert.is_true(w:register("r5"))
        assert.is_nil((w:register("r5")))
        w:remove("r5")
        w:remove("r5")
        assert.are.equal(0, w:count())
        assert.is_true(w:register("r5"))
    end)
end)
