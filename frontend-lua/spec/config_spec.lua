-- Specs for funcatron.config: defaults, overrides and bad values.
local config = require "funcatron.config"


local function env(t)
    return function(name) return t[name] end
end


describe("config.parse", function()
    it("has the documented defaults", function()
        local c = assert(config.parse(env({})))
        assert.are.equal("127.0.0.1", c.rabbit_host)
        assert.are.equal(61613, c.rabbit_port)
        assert.are.equal("guest", c.rabbit_user)
        assert.are.equal("guest", c.rabbit_pwd)
        assert.are.equal("/", c.rabbit_vhost)
        assert.are.equal("for_tron", c.tron_queue)
        assert.are.equal(30, c.timeout)
        assert.are.equal(10, c.heartbeat)
        assert.are.equal(16 * 1024 * 1024, c.max_message_bytes)
        assert.is_false(c.dev_mode)
        assert.is_nil(c.instance_id)
        assert.is_nil(c.key_file)
        assert.are.equal(300, c.max_skew)
        assert.are.equal("records", c.framing)
        assert.are.equal(32, c.max_batch)
        assert.are.equal(1048576, c.max_batch_bytes)
    end)

    it("reads the framing and the batch bounds", function()
        local c = assert(config.parse(env({ FUNCATRON_FRAMING = "Catalogue", FUNCATRON_MAX_BATCH = "1",
            FUNCATRON_MAX_BATCH_BYTES = "4096" })))
        assert.are.same({ "catalogue", 1, 4096 }, { c.framing, c.max_batch, c.max_batch_bytes })
    end)

    it("reads every variable", function()
        local c = assert(config.parse(env({
            RABBIT_HOST = "rabbit.internal", RABBIT_PORT = "12345", RABBIT_USER = "u",
            RABBIT_PWD = "p", RABBIT_VHOST = "/v", TRON_QUEUE = "tq", INSTANCEID = "R-1",
            HOST = "fe.example", PORT_80 = "8080", FUNCATRON_TIMEOUT = "2.5",
            FUNCATRON_HEARTBEAT = "0.5", DEV_MODE = "TRUE", FUNCATRON_FRONTEND_KEY_FILE = "/etc/fc/key",
        })))
        assert.are.same({ "rabbit.internal", 12345, "u", "p", "/v", "tq", "R-1", "fe.example", "8080", 2.5, 0.5, true, "/etc/fc/key" },
            { c.rabbit_host, c.rabbit_port, c.rabbit_user, c.rabbit_pwd, c.rabbit_vhost, c.tron_queue,
                c.instance_id, c.host, c.port_80, c.timeout, c.heartbeat, c.dev_mode, c.key_file })
    end)

    it("maps localhost to 127.0.0.1 (nginx's resolver does not read /etc/hosts)", function()
        assert.are.equal("127.0.0.1", config.parse(env({ RABBIT_HOST = "localhost" })).rabbit_host)
    end)

    it("treats empty values as unset", function()
        local c = assert(config.parse(env({ RABBIT_PORT = "", TRON_QUEUE = "" })))
        assert.are.equal(61613, c.rabbit_port)
        assert.are.equal("for_tron", c.tron_queue)
    end)

    it("reads DEV_MODE as a flag", function()
        for v, want in pairs({ ["1"] = true, yes = true, ["0"] = false, ["false"] = false, off = false, No = false }) do
            assert.are.equal(want, config.parse(env({ DEV_MODE = v })).dev_mode, v)
        end
    end)

    it("refuses bad values with a message naming the variable", function()
        for name, v in pairs({ RABBIT_PORT = "x", FUNCATRON_TIMEOUT = "0", FUNCATRON_HEARTBEAT = "-1",
            FUNCATRON_MAX_CLOCK_SKEW = "0", FUNCATRON_MAX_MESSAGE_BYTES = "12.5",
            FUNCATRON_FRAMING = "base64", FUNCATRON_MAX_BATCH = "0", FUNCATRON_MAX_BATCH_BYTES = "100" }) do
            local c, err = config.parse(env({ [name] = v }))
            assert.is_nil(c)
            assert.matches(name, err)
        end
        for name, v in pairs({ FUNCATRON_MAX_BATCH = "65537" }) do
            local c, err = config.parse(env({ [name] = v }))
            assert.is_nil(c)
            assert.matches(name, err)
        end
        local c, err = config.parse(env({ RABBIT_PORT = "70000" }))
        assert.is_nil(c)
        assert.matches("RABBIT_PORT", err)
        assert.is_nil((config.parse(env({ RABBIT_PORT = "1.5" }))))
    end)
end)
