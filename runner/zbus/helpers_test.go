package zbus

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/funcatron/funcatron/bundles"
	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/servers"
	"github.com/funcatron/funcatron/internal/testenv"
	"github.com/funcatron/funcatron/runner/kind"
	"github.com/redis/go-redis/v9"
)

// nodeProg is the bundle's bin/node: a script running testdata/node, built by TestMain.
var nodeProg []byte

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "zbus-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out := filepath.Join(dir, "node")
	cmd := exec.Command("go", "build", "-ldflags=-s -w", "-o", out, "./testdata/node")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building testdata/node: %v\n%s", err, b)
		os.Exit(1)
	}
	nodeProg = []byte("#!/bin/sh\nexec " + out + "\n")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// fast is a Kind with short times, so tests of retries, leases and expiry run quickly.
var fast = Kind{RetryInterval: 200 * time.Millisecond, LeaseTTL: 600 * time.Millisecond, ScrubInterval: 100 * time.Millisecond}

// config is a zbus section for twin on r, serving serve (cmd -> node path) when given.
func config(r *servers.Redis, twin int, serve map[string]string) *bundles.ZbusConfig {
	c := &bundles.ZbusConfig{Redis: r.URL(), Twin: twin, Concurrency: 8, Routes: map[string]bundles.ZbusRoute{}}
	if len(serve) > 0 {
		c.Node = &bundles.ExecConfig{Command: []string{"bin/node"}, Mode: bundles.ModeHTTP, Workers: 1,
			Concurrency: 8, Timeout: 2 * time.Second, StartTimeout: 10 * time.Second}
		for cmd, path := range serve {
			c.Serve = append(c.Serve, bundles.ZbusServe{Cmd: cmd, Path: path})
		}
	}
	return c
}

// start starts an instance of cfg on route and stops it in t.Cleanup.
func start(t *testing.T, k Kind, cfg *bundles.ZbusConfig, route string) *instance {
	t.Helper()
	in, err := startErr(t, k, cfg, route)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { in.Stop(context.Background()) })
	return in
}

func startErr(t *testing.T, k Kind, cfg *bundles.ZbusConfig, route string) (*instance, error) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
	os.WriteFile(filepath.Join(dir, "bin", "node"), nodeProg, 0o755)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	inst, err := k.Start(ctx, &kind.Spec{SHA: "test", Queue: route, Bundle: &bundles.Bundle{Kind: bundles.KindZbus, Zbus: cfg},
		Dir: dir, PropsJSON: []byte("{}"), Log: testenv.Logger(t), Grace: time.Second})
	if err != nil {
		return nil, err
	}
	return inst.(*instance), nil
}

// client is a plain Redis client for the test's side of the bus.
func client(t *testing.T, r *servers.Redis) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.Addr(), Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { c.Close() })
	return c
}

// waitHolder waits until in holds the msgbusd role.
func waitHolder(t *testing.T, in *instance) {
	t.Helper()
	testenv.WaitFor(t, 10*time.Second, "the msgbusd role", in.holder.Load)
}

// seedRequest is a request as the seed's client writes it (twelve fields, src 0, uid "").
func seedRequest(cmd string, dst []int, exp int, dat, ret string) string {
	b, _ := json.Marshal(map[string]any{"ver": 1, "uid": "", "cmd": cmd, "exp": exp, "try": 2,
		"dat": base64.StdEncoding.EncodeToString([]byte(dat)), "src": 0, "dst": dst, "ret": ret,
		"shm": "", "now": time.Now().Unix(), "err": ""})
	return string(b)
}

// blpop waits for one value on queue (as the seed's client waits on ret), decoded as a
// generic object; it fails the test after within.
func blpop(t *testing.T, c *redis.Client, queue string, within time.Duration) map[string]any {
	t.Helper()
	res, err := c.BLPop(context.Background(), within, queue).Result()
	if err != nil {
		t.Fatalf("BLPOP %s: %v", queue, err)
	}
	return decodeMap(t, res[1])
}

func decodeMap(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, s)
	}
	return m
}

// datOf decodes a message's dat.
func datOf(t *testing.T, m map[string]any) string {
	t.Helper()
	s, _ := m["dat"].(string)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("dat %q is not base64", s)
	}
	return string(b)
}

// peer is an application written from the seed: BRPOP msgbus.<cmd> (BLPOP when left),
// answer with handle(dat) (err when it returns an error), src/dst swapped, now updated,
// LPUSH to msgbus.system.reply. It runs until the test ends; it counts what it served.
type peer struct {
	served chan map[string]any
}

func startPeer(t *testing.T, r *servers.Redis, cmd string, left bool, handle func(string) (string, error)) *peer {
	c := client(t, r)
	p := &peer{served: make(chan map[string]any, 100)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			var res []string
			var err error
			if left {
				res, err = c.BLPop(ctx, time.Second, "msgbus."+cmd).Result()
			} else {
				res, err = c.BRPop(ctx, time.Second, "msgbus."+cmd).Result()
			}
			if err != nil {
				continue
			}
			var m map[string]any
			if json.Unmarshal([]byte(res[1]), &m) != nil {
				continue
			}
			p.served <- m
			dat, _ := base64.StdEncoding.DecodeString(fmt.Sprint(m["dat"]))
			out, herr := handle(string(dat))
			src := m["src"]
			if dst, _ := m["dst"].([]any); len(dst) > 0 {
				m["src"] = dst[0]
			}
			m["dst"] = []any{src}
			m["dat"], m["err"] = base64.StdEncoding.EncodeToString([]byte(out)), ""
			if herr != nil {
				m["dat"], m["err"] = "", herr.Error()
			}
			m["now"] = time.Now().Unix()
			b, _ := json.Marshal(m)
			c.LPush(ctx, "msgbus.system.reply", b)
		}
	}()
	return p
}

// add is the peer handler of calc.add: {"a","b"} -> {"sum"}.
func add(dat string) (string, error) {
	var in struct{ A, B float64 }
	if err := json.Unmarshal([]byte(dat), &in); err != nil {
		return "", fmt.Errorf("bad input")
	}
	return `{"sum":` + strconv.FormatFloat(in.A+in.B, 'f', -1, 64) + `}`, nil
}

// call is an HTTP request for operation op with body, served by in.
func call(in *instance, op string, body string) *protocol.AnswerBody {
	out := &protocol.AnswerBody{}
	svc := &protocol.Service{Method: "POST", URI: "/" + op, Body: []byte(body)}
	in.Serve(context.Background(), &kind.Call{Svc: svc, Op: op, Path: "/" + op, BasePath: "/"}, out)
	return out
}

// captured reads a captured message of testdata/captured (copied from the research
// captures: npm ts-rmb-redis-client and the stand-in msgbusd).
func captured(t *testing.T, name string) (command []string, message string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "captured", name))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		RedisCommand struct {
			Command []string `json:"command"`
		} `json:"redis_command"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	c := f.RedisCommand.Command
	return c, c[len(c)-1]
}

var nowField = regexp.MustCompile(`"now":\d+`)

// withNow replaces a raw message's now by the current time (captures are old: their exp
// has passed).
func withNow(raw string) string {
	return nowField.ReplaceAllString(raw, `"now":`+strconv.FormatInt(time.Now().Unix(), 10))
}

// noLeaks fails the test when goroutines started during it are still running after its
// cleanups (polling: some end a moment after Stop returns). fasthttp's idle-connection
// cleaner of the node's client is not counted: it ends on its own one idle period
// (30 s) after the node's connections closed.
func noLeaks(t *testing.T) {
	before := goroutines()
	t.Cleanup(func() {
		if !testenv.Poll(5*time.Second, func() bool { return goroutines() <= before }) {
			buf := make([]byte, 1<<20)
			t.Errorf("goroutines leaked: %d before, %d after\n%s", before, goroutines(), buf[:runtime.Stack(buf, true)])
		}
	})
}

// goroutines counts the running goroutines but fasthttp's connsCleaner.
func goroutines() int {
	buf := make([]byte, 4<<20)
	n := 0
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if !strings.Contains(g, "fasthttp.(*HostClient).connsCleaner") {
			n++
		}
	}
	return n
}
