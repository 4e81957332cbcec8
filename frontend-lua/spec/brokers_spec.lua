-- Specs for funcatron.brokers: parsing RABBIT_HOSTS, the shuffle, failover with backoff.
local brokers = require "funcatron.brokers"
local config  = require "funcatron.config"


local function env(t)
    return function(name) return t[name] end
end


local function hosts(n)
    local out = {}
    for i = 1, n do
        out[i] = { host = "10.0.0." .. i, port = 61613 }
    end
    return out
end


describe("brokers.parse", function()
    it("reads host:port lists", function()
        assert.are.same({ { host = "a", port = 1 }, { host = "127.0.0.1", port = 61614 } },
            brokers.parse(" a:1 ,, localhost:61614,"))
    end)

    it("refuses what is not host:port", function()
        for _, bad in ipairs({ "", ",", "a", "a:", "a:0", "a:70000", "a:1,b", "[::1]:5" }) do
            local l, err = brokers.parse(bad)
            assert.is_nil(l, bad)
            assert.is_string(err)
        end
    end)
end)


describe("config RABBIT_HOSTS", function()
    it("defaults to RABBIT_HOST:RABBIT_PORT", function()
        local c = assert(config.parse(env({ RABBIT_HOST = "r", RABBIT_PORT = "1" })))
        assert.are.same({ { host = "r", port = 1 } }, c.rabbit_hosts)
    end)

    it("takes the list, the first item as rabbit_host", function()
        local c = assert(config.parse(env({ RABBIT_HOSTS = "a:1,b:2" })))
        assert.are.same({ { host = "a", port = 1 }, { host = "b", port = 2 } }, c.rabbit_hosts)
        assert.are.same({ "a", 1 }, { c.rabbit_host, c.rabbit_port })
    end)

    it("refuses a bad list", function()
        local c, err = config.parse(env({ RABBIT_HOSTS = "a:1,b" }))
        assert.is_nil(c)
        assert.matches("RABBIT_HOSTS", err)
    end)
end)


describe("brokers failover", function()
    it("shuffles once with the given randomness", function()
        brokers.init(hosts(3), function(n) return 1 end)
        local order = {}
        for i, b in ipairs(brokers.all()) do
            order[i] = b.host
        end
        assert.are.same({ "10.0.0.2", "10.0.0.3", "10.0.0.1" }, order)
    end)

    it("moves to the next broker on failure and comes back after the backoff", function()
        brokers.init(hosts(3), function(n) return n end) -- no shuffle
        local a = brokers.current(0)
        assert.are.equal("10.0.0.1", a.host)
        assert.is_true(brokers.failed(a, 0))
        local b = brokers.current(0)
        assert.are.equal("10.0.0.2", b.host)
        assert.are.equal(b, brokers.current(0.05)) -- stays where it is
        assert.is_true(brokers.failed(b, 1))
        assert.are.equal("10.0.0.3", brokers.current(1).host)
        brokers.failed(brokers.current(1), 1)
        -- every broker in its backoff: the one it is at; a's backoff (0.1 s) is over at 1
        assert.are.equal(a, brokers.current(1))
    end)

    it("doubles the backoff per failure in a row, up to 2 s, reset by ok", function()
        brokers.init(hosts(2), function(n) return n end)
        local a = brokers.current(0)
        for _ = 1, 10 do
            brokers.failed(a, 0)
        end
        assert.are.equal(2, a.down_until)
        brokers.ok(a)
        brokers.failed(a, 0)
        assert.are.equal(0.1, a.down_until)
    end)

    it("with a single broker stays on it", function()
        brokers.init(hosts(1), function(n) return n end)
        local a = brokers.current(0)
        assert.is_false(brokers.failed(a, 0))
        assert.are.equal(a, brokers.current(0))
    end)
end)
