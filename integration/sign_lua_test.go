package integration

// The Lua side of spec/protocol.md §7 (frontend-lua/lib/funcatron/sign.lua) against the golden
// vectors the Go side is tested with (internal/protocol/testdata/sign-vectors.json). sign.lua
// needs LuaJIT's FFI and OpenSSL, which busted (PUC Lua 5.2 here) has not: it runs in a
// real nginx, the one the frontend runs in, with a configuration of the test's own.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/funcatron/funcatron/internal/servers"
	"github.com/funcatron/funcatron/internal/testenv"
)

// luaVectorsConf runs sign.lua on every vector and answers what it computed, as JSON.
const luaVectorsConf = `
%s
daemon off;
master_process off;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log info;
events { worker_connections 16; }
http {
    lua_package_path "%[3]s/?.lua;;";
    access_log off;
    client_body_temp_path %[2]s/tmp;
    server {
        listen 127.0.0.1:%[4]d;
        location / {
            content_by_lua_block {
                local cjson = require "cjson.safe"
                local sign = require "funcatron.sign"
                local f = assert(io.open("%[5]s", "rb"))
                local doc = cjson.decode(f:read("*a"))
                f:close()
                local out = { sigs = {} }
                for i, v in ipairs(doc.vectors) do
                    out.sigs[i] = sign.signature(v.key, v.destination, v.action, v["msg-id"], v.at, v.body)
                end
                -- verify: the first vector as received, then the same with one byte changed
                local v = doc.vectors[1]
                local hdr = { ["fc-action"] = v.action, ["fc-msg-id"] = v["msg-id"], ["fc-at"] = v.at, ["fc-sig"] = v.sig }
                local now = tonumber(v.at)
                local ok = sign.verify(v.key, v.destination, hdr, v.body, now, 1000, sign.seen())
                local _, bad = sign.verify(v.key, v.destination, hdr, v.body .. " ", now, 1000, sign.seen())
                local _, stale = sign.verify(v.key, v.destination, hdr, v.body, now + 2000, 1000, sign.seen())
                local _, other = sign.verify(v.key, "RU-elsewhere", hdr, v.body, now, 1000, sign.seen())
                out.verified = ok ~= nil
                out.tampered, out.stale, out.misdirected = bad, stale, other
                local _, loose = sign.read_key("%[6]s")
                out.loose = loose
                ngx.say(cjson.encode(out))
            }
        }
    }
}
`

func TestLuaSignatureGoldenVectors(t *testing.T) {
	root := servers.RepoRoot()
	vectors := filepath.Join(root, "internal", "protocol", "testdata", "sign-vectors.json")
	var doc struct {
		Vectors []struct{ Note, Sig string }
	}
	raw, err := os.ReadFile(vectors)
	if err != nil || json.Unmarshal(raw, &doc) != nil || len(doc.Vectors) == 0 {
		t.Fatalf("reading %s: %v", vectors, err)
	}
	prefix := t.TempDir()
	os.MkdirAll(filepath.Join(prefix, "tmp"), 0o755)
	loose := filepath.Join(prefix, "loose-key")
	os.WriteFile(loose, []byte("0123456789abcdef0123456789abcdef\n"), 0o644)
	os.Chmod(loose, 0o644)
	ports, err := servers.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(prefix, "nginx.conf")
	text := fmt.Sprintf(luaVectorsConf, luaModules(), prefix, filepath.Join(root, "frontend-lua", "lib"), ports[0], vectors, loose)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	startPlainNginx(t, prefix, conf)

	var got struct {
		Sigs                                []string
		Verified                            bool
		Tampered, Stale, Misdirected, Loose string
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", ports[0])
	testenv.WaitFor(t, 15*time.Second, "nginx running sign.lua", func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("sign.lua in nginx: %d %s\n%s", resp.StatusCode, b, readFile(filepath.Join(prefix, "error.log")))
		}
		return json.Unmarshal(b, &got) == nil
	})
	if len(got.Sigs) != len(doc.Vectors) {
		t.Fatalf("Lua computed %d signatures for %d vectors", len(got.Sigs), len(doc.Vectors))
	}
	for i, v := range doc.Vectors {
		if got.Sigs[i] != v.Sig {
			t.Errorf("%s: Lua signature %s, Go's (golden) %s", v.Note, got.Sigs[i], v.Sig)
		}
	}
	if !got.Verified || got.Tampered != "bad-signature" || got.Stale != "stale" || got.Misdirected != "bad-signature" {
		t.Errorf("sign.verify: verified %v, tampered %q, stale %q, other queue %q; want true, bad-signature, stale, bad-signature",
			got.Verified, got.Tampered, got.Stale, got.Misdirected)
	}
	if !strings.Contains(got.Loose, "mode 0644") {
		t.Errorf("sign.read_key of a 0644 file: %q, want a refusal naming the mode", got.Loose)
	}
}

// luaModules is the load_module lines Debian's nginx needs (OpenResty has the module built in).
func luaModules() string {
	const dir = "/usr/lib/nginx/modules"
	if _, err := os.Stat(filepath.Join(dir, "ngx_http_lua_module.so")); err != nil {
		return ""
	}
	return "load_module " + dir + "/ndk_http_module.so;\nload_module " + dir + "/ngx_http_lua_module.so;"
}

// startPlainNginx runs nginx with conf in the foreground until the test ends.
func startPlainNginx(t *testing.T, prefix, conf string) {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin = "/usr/sbin/nginx"
	}
	cmd := exec.Command(bin, "-p", prefix, "-c", conf, "-e", filepath.Join(prefix, "error.log"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if out, err := cmd.StdoutPipe(); err == nil {
		go io.Copy(io.Discard, out)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting nginx (apt-get install nginx libnginx-mod-http-lua): %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGQUIT)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("--- error log ---\n%s", readFile(filepath.Join(prefix, "error.log")))
		}
	})
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
