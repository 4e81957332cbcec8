-- Specs for funcatron.routes: host rules, segment boundaries, ordering, cost.
local routes = require "funcatron.routes"

local NULL = setmetatable({}, { __tostring = function() return "null" end }) -- like cjson.null


local function queue_for(tbl, host, uri, dev)
    local r = tbl:match(host, uri, dev)
    return r and r.queue
end


describe("strip_port", function()
    it("drops the port and lower-cases", function()
        assert.are.equal("example.com", routes.strip_port("Example.COM:8080"))
        assert.are.equal("example.com", routes.strip_port("example.com"))
        assert.are.equal("[::1]", routes.strip_port("[::1]:80"))
        assert.are.equal("::1", routes.strip_port("::1"))
    end)
end)


describe("normalize_path", function()
    it("makes absent, empty and slash-ended paths canonical", function()
        assert.are.equal("/", routes.normalize_path(nil))
        assert.are.equal("/", routes.normalize_path(NULL))
        assert.are.equal("/", routes.normalize_path(""))
        assert.are.equal("/", routes.normalize_path("/"))
        assert.are.equal("/api", routes.normalize_path("/api/"))
        assert.are.equal("/api", routes.normalize_path("api"))
    end)
end)


describe("match", function()
    it("matches a base path on segment boundaries only", function()
        local t = routes.new({ { path = "/api", queue = "api" } })
        assert.are.equal("api", queue_for(t, "h", "/api"))
        assert.are.equal("api", queue_for(t, "h", "/api/"))
        assert.are.equal("api", queue_for(t, "h", "/api/x/y"))
        assert.is_nil(queue_for(t, "h", "/apix"))
        assert.is_nil(queue_for(t, "h", "/ap"))
        assert.is_nil(queue_for(t, "h", "/"))
    end)

    it("lets / serve everything", function()
        local t = routes.new({ { path = "/", queue = "root" } })
        for _, uri in ipairs({ "/", "/a", "/a/b/c", "/apix" }) do
            assert.are.equal("root", queue_for(t, "h", uri))
        end
    end)

    it("treats an absent, null or empty path as /", function()
        for _, p in ipairs({ NULL, "" }) do
            local t = routes.new({ { path = p, queue = "q" } })
            assert.are.equal("q", queue_for(t, "h", "/x"))
        end
        assert.are.equal("q", queue_for(routes.new({ { queue = "q" } }), "h", "/x"))
    end)

    it("ignores a trailing slash on a route path", function()
        local t = routes.new({ { path = "/api/", queue = "api" } })
        assert.are.equal("api", queue_for(t, "h", "/api"))
        assert.are.equal("api", queue_for(t, "h", "/api/v"))
    end)

    it("takes absent, null, empty and * hosts as any host", function()
        for _, h in ipairs({ NULL, "", "*" }) do
            local t = routes.new({ { host = h, path = "/", queue = "q" } })
            assert.are.equal("q", queue_for(t, "anything.org", "/x"))
            assert.are.equal("q", queue_for(t, nil, "/x"))
        end
    end)

    it("compares hosts case-insensitively without ports", function()
        local t = routes.new({ { host = "Example.com:8080", path = "/", queue = "q" } })
        assert.are.equal("q", queue_for(t, "example.COM", "/"))
        assert.are.equal("q", queue_for(t, "example.com:443", "/"))
        assert.is_nil(queue_for(t, "example.org", "/"))
        assert.is_nil(queue_for(t, "sub.example.com", "/"))
        assert.is_nil(queue_for(t, nil, "/"))
    end)

    it("prefers the longest path whatever the table order", function()
        local t = routes.new({
            { path = "/", queue = "root" },
            { path = "/a", queue = "a" },
            { host = "h.com", path = "/a/b", queue = "ab-h" },
            { path = "/a/b/c", queue = "abc" },
        })
        assert.are.equal("abc", queue_for(t, "h.com", "/a/b/c/d"))
        assert.are.equal("ab-h", queue_for(t, "h.com", "/a/b/cd"))
        assert.are.equal("a", queue_for(t, "other.com", "/a/b/cd"))
        assert.are.equal("root", queue_for(t, "h.com", "/b"))
    end)

    it("on equal paths follows the table order (most recently enabled first)", function()
        local t = routes.new({
            { host = "*", path = "/x", queue = "any-first" },
            { host = "h.com", path = "/x", queue = "host-second" },
            { host = "h.com", path = "/y", queue = "host-first" },
            { path = "/y", queue = "any-second" },
            { path = "/y", queue = "any-third" },
        })
        assert.are.equal("any-first", queue_for(t, "h.com", "/x"))
        assert.are.equal("host-first", queue_for(t, "h.com", "/y"))
        assert.are.equal("any-second", queue_for(t, "o.com", "/y"))
    end)

    it("in dev mode any route host matches", function()
        local t = routes.new({ { host = "prod.example", path = "/", queue = "q" } })
        assert.is_nil(queue_for(t, "localhost", "/x"))
        assert.are.equal("q", queue_for(t, "localhost", "/x", true))
    end)

    it("skips entries without a queue and counts them", function()
        local t, skipped = routes.new({ { path = "/a" }, "junk", { path = "/b", queue = "" }, { path = "/c", queue = "c" } })
        assert.are.equal(3, skipped)
        assert.are.equal(1, t:count())
        assert.are.equal("c", queue_for(t, "h", "/c"))
    end)

    it("takes a missing or broken list as an empty table", function()
        assert.are.equal(0, routes.new(nil):count())
        assert.are.equal(0, routes.new(NULL):count())
        assert.is_nil(queue_for(routes.new({}), "h", "/"))
    end)

    it("lists routes for display without extra fields", function()
        local t = routes.new({ { host = "h", path = "/p/", queue = "q", sha = "s", props = { secret = 1 } } })
        assert.are.same({ { host = "h", path = "/p", queue = "q", sha = "s" } }, t:list())
    end)

    it("keeps the Tron's runner count, a number only (0: nobody serves the route)", function()
        local t = routes.new({
            { path = "/a", queue = "qa", runners = 0 }, { path = "/b", queue = "qb", runners = 2 },
            { path = "/c", queue = "qc" }, { path = "/d", queue = "qd", runners = "0" },
        })
        assert.are.equal(0, t:match("h", "/a/x").runners)
        assert.are.equal(2, t:match("h", "/b").runners)
        assert.is_nil(t:match("h", "/c").runners)
        assert.is_nil(t:match("h", "/d").runners)
    end)
end)


describe("lookup cost", function()
    it("does not grow with the number of routes", function()
        local list = {}
        for i = 1, 20000 do
            list[i] = { host = (i % 2 == 0) and ("h" .. i .. ".com") or nil, path = "/svc" .. i .. "/api", queue = "q" .. i }
        end
        list[#list + 1] = { path = "/", queue = "root" }
        local t = routes.new(list)
        local real, probes = t.by_path, 0
        t.by_path = setmetatable({}, { __index = function(_, k)
            probes = probes + 1
            return real[k]
        end })
        assert.are.equal("q19999", queue_for(t, "x.com", "/svc19999/api/deep/er/path"))
        assert.are.equal(4, probes) -- /svc19999/api/deep/er/path, …/deep/er, …/deep, /svc19999/api
        probes = 0
        assert.are.equal("root", queue_for(t, "x.com", "/nothing/here"))
        assert.are.equal(3, probes) -- /nothing/here, /nothing, /
    end)
end)
