-- Specs for funcatron.metrics: the Prometheus text exposition format 0.0.4 (HELP, TYPE,
-- escapes, values) and the families read from a fake shared dict with ngx.shared.DICT's
-- incr, set, delete, get and get_keys (expiry by a clock the spec moves).
local metrics = require "funcatron.metrics"


local function fake_dict()
    local d = { clock = 0, items = {} }
    local function live(item)
        return item and (not item.expires or item.expires > d.clock)
    end
    function d.incr(_, key, by, init)
        local item = d.items[key]
        local v = (live(item) and item.value or init) + by
        d.items[key] = { value = v }
        return v
    end
    function d.set(_, key, value, ttl)
        d.items[key] = { value = value, expires = ttl and ttl > 0 and d.clock + ttl or nil }
        return true
    end
    function d.delete(_, key)
        d.items[key] = nil
    end
    function d.get(_, key)
        local item = d.items[key]
        return live(item) and item.value or nil
    end
    function d.get_keys(_)
        local keys = {}
        for k, item in pairs(d.items) do
            if live(item) then
                keys[#keys + 1] = k
            end
        end
        table.sort(keys)
        return keys
    end
    return d
end


-- sample finds the value of the line "name value" or "name{labels} value" in text.
local function sample(text, series)
    for line in text:gmatch("[^\n]+") do
        local s, v = line:match("^(%S+) (%S+)$")
        if s == series then
            return v
        end
    end
end


describe("metrics.render", function()
    it("writes HELP and TYPE before each family's samples, one per line, ending in a line feed", function()
        local text = metrics.render({
            { name = "a_total", help = "As.", type = "counter", samples = {
                { labels = { { "reason", "x" } }, value = 3 },
                { labels = { { "reason", "y" }, { "other", "z" } }, value = 0 },
            } },
            { name = "b", help = "Bs.", type = "gauge", samples = { { value = 2 } } },
        })
        assert.equal(table.concat({
            "# HELP a_total As.",
            "# TYPE a_total counter",
            'a_total{reason="x"} 3',
            'a_total{reason="y",other="z"} 0',
            "# HELP b Bs.",
            "# TYPE b gauge",
            "b 2",
            "",
        }, "\n"), text)
    end)

    it("escapes backslash, double quote and line feed in label values", function()
        local text = metrics.render({ { name = "m", help = "h", type = "gauge", samples = {
            { labels = { { "l", 'a\\b"c\nd' } }, value = 1 },
        } } })
        assert.equal('m{l="a\\\\b\\"c\\nd"} 1', text:match("\n(m{.-} 1)\n"))
    end)

    it("escapes backslash and line feed in HELP, and leaves double quotes", function()
        assert.equal('say "hi"\\nback\\\\slash', metrics.escape_help('say "hi"\nback\\slash'))
        local text = metrics.render({ { name = "m", help = "one\ntwo", type = "gauge", samples = {} } })
        assert.equal("# HELP m one\\ntwo\n# TYPE m gauge\n", text)
    end)

    it("writes integers without a fraction and the special values by name", function()
        assert.equal("0", metrics.format_value(0))
        assert.equal("12345678901", metrics.format_value(12345678901))
        assert.equal("-3", metrics.format_value(-3))
        assert.equal("0.25", metrics.format_value(0.25))
        assert.equal("+Inf", metrics.format_value(math.huge))
        assert.equal("-Inf", metrics.format_value(-math.huge))
        assert.equal("NaN", metrics.format_value(0 / 0))
        assert.equal(0.1, tonumber(metrics.format_value(0.1)))
    end)
end)


describe("metrics.families", function()
    it("lists every reason from 0, in the Go daemons' order, and counts refusals", function()
        local d = fake_dict()
        metrics.refused(d, "stale")
        metrics.refused(d, "stale")
        metrics.refused(d, "unsigned")
        local text = metrics.render(metrics.families(d, 2))
        local reasons = {}
        for r in text:gmatch('funcatron_frontend_refused_messages_total{reason="([^"]+)"}') do
            reasons[#reasons + 1] = r
        end
        assert.same({ "unsigned", "bad-signature", "misdirected", "stale", "replayed", "mismatch", "role" }, reasons)
        assert.equal("2", sample(text, 'funcatron_frontend_refused_messages_total{reason="stale"}'))
        assert.equal("1", sample(text, 'funcatron_frontend_refused_messages_total{reason="unsigned"}'))
        assert.equal("0", sample(text, 'funcatron_frontend_refused_messages_total{reason="role"}'))
        assert.truthy(text:find("# TYPE funcatron_frontend_refused_messages_total counter\n", 1, true))
        assert.equal("2", sample(text, "funcatron_frontend_workers"))
    end)

    it("counts connected listeners until they disconnect or their key expires", function()
        local d = fake_dict()
        local function connected()
            return sample(metrics.render(metrics.families(d, 2)), "funcatron_frontend_listeners_connected")
        end
        assert.equal("0", connected())
        metrics.listener_up(d, 101)
        metrics.listener_up(d, 102)
        metrics.refused(d, "unsigned") -- not a listener
        assert.equal("2", connected())
        metrics.listener_down(d, 101)
        assert.equal("1", connected())
        d.clock = metrics.LISTENER_TTL - 1
        metrics.listener_up(d, 101) -- refreshed; 102 was not
        d.clock = metrics.LISTENER_TTL
        assert.equal("1", connected())
    end)
end)
