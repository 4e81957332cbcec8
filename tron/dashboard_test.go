package tron

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/testenv"
)

func TestDashboardPageIsOpenAndHoldsNoData(t *testing.T) {
	tr := startMemTron(t, nil)
	sha := tr.upload(t, makeBundle(t, "", "/secret-route", "d"))
	for _, path := range []string{"/", "/ui/app.js", "/ui/style.css"} {
		status, body := tr.apiRaw(t, "GET", path, nil, "")
		if status != 200 || strings.Contains(string(body), sha) || strings.Contains(string(body), "secret-route") {
			t.Errorf("GET %s without a token = %d (%d bytes), want 200 and no data", path, status, len(body))
		}
	}
	for _, path := range []string{"/ui/", "/ui/nope.js", "/ui/index.html", "/ui/../api.go"} {
		if status, _ := tr.apiRaw(t, "GET", path, nil, ""); status != 404 {
			t.Errorf("GET %s = %d, want 404", path, status)
		}
	}
}

// artifactDir is where tests leave files for people to look at: $FUNCATRON_ARTIFACTS, or
// build/artifacts at the repository's root.
func artifactDir(t *testing.T) string {
	dir := os.Getenv("FUNCATRON_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "build", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser starts headless Chromium (Debian's chromium package, scripts/deps.sh) with a
// fresh profile, kept off the network: only 127.0.0.1 resolves.
func browser(t *testing.T) context.Context {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("headless Chromium is needed (scripts/deps.sh installs Debian's chromium): %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 1000),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return ctx
}

// The dashboard in a real browser against a real Tron on RabbitMQ with a runner: sign in,
// upload a bundle, enable it, see it enabled, its route, the node and the live event.
func TestDashboardInChromium(t *testing.T) {
	tr := startAMQPTron(t, nil)
	runner := amqpNode(t, tr.opts.TronQueue, protocol.TypeRunner, "runner-dash", protocol.JSON)
	runner.awake(t)
	runner.expect(t, protocol.ActionAllBundles)
	data := makeBundle(t, "", "/dash", "dashboard")
	bundle := filepath.Join(t.TempDir(), "dash.zip")
	if err := os.WriteFile(bundle, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sha := shaOf(data)
	ctx := browser(t)
	url := "http://" + tr.Addr().String() + "/"

	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// text reads sel's visible text in one step inside the page (a table drawn anew between
	// finding a node and reading it would give "", see click).
	text := func(sel string) string {
		t.Helper()
		js := `(() => { const e = document.querySelector(` + strconv.Quote(sel) + `); return e ? e.innerText : ""; })()`
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("reading %s: %v", sel, err)
		}
		return strings.TrimSpace(s)
	}
	eval := func(js string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("evaluating %s: %v", js, err)
		}
		return s
	}
	// click clicks sel's element as it is at that moment, in one step inside the page: the
	// tables are drawn anew on every event and stats poll, so a node chromedp.Click finds
	// may be gone by its next call ("Could not find node with given id").
	click := func(what, sel string) {
		t.Helper()
		js := `(() => { const e = document.querySelector(` + strconv.Quote(sel) + `); if (e) e.click(); return !!e; })()`
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	row := `#bundles tr[data-sha="` + sha + `"]`
	do("open the page", chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#token")))
	screenshot(t, ctx, "dashboard-sign-in.png")
	do("sign in with a wrong token", chromedp.SendKeys(chromedp.CSS("#token"), "wrong"),
		chromedp.Click(chromedp.CSS("#login-btn")))
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector("#login-error").textContent.includes("401")`)); err != nil {
		t.Errorf("a wrong token: no 401 explained on the page (%v): %q", err, text("#login-error"))
	}
	do("sign in", chromedp.SendKeys(chromedp.CSS("#token"), testToken),
		chromedp.Click(chromedp.CSS("#login-btn")), chromedp.WaitVisible(chromedp.CSS("#app")))
	do("see the runner", chromedp.WaitVisible(chromedp.CSS(`#nodes tr[data-inbox="`+runner.Inbox()+`"]`)))
	do("upload", chromedp.SetUploadFiles(chromedp.CSS("#upload-file"), []string{bundle}),
		chromedp.Click(chromedp.CSS("#upload-btn")), chromedp.WaitVisible(chromedp.CSS(row+` button[data-action="enable"]`)))

	acked := runner.ackNext(t, protocol.ActionEnable, protocol.AckOK, "")
	click("enable", row+` button[data-action="enable"]`)
	<-acked
	do("see it enabled", chromedp.WaitVisible(chromedp.CSS(row+` button[data-action="disable"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#routes tbody tr`)),
		chromedp.WaitVisible(chromedp.CSS(`#events li[data-event="bundle.enabled"]`)))
	if state, route := text(row+" td.state"), text("#routes tbody tr td"); state != "enabled" || route != "*/dash" {
		t.Errorf("the page shows state %q and route %q, want enabled and */dash", state, route)
	}
	if events := text("#events"); !strings.Contains(events, "bundle.enabled") || !strings.Contains(events, "bundle "+sha[:12]) {
		t.Errorf("the event list = %q, want the bundle.enabled event", events)
	}
	href, stored, errText := eval("location.href"), eval(`sessionStorage.getItem("funcatron-token")`), text("#error")
	if strings.Contains(href, testToken) || stored != testToken || errText != "" {
		t.Errorf("href %q, stored token %q, error %q: want the token in sessionStorage only, no error", href, stored, errText)
	}
	if tr.countEnabled() != 1 {
		t.Errorf("%d bundles enabled after enabling from the page, want 1", tr.countEnabled())
	}

	// The rates: the runner reports 40 requests of 2 ms; the next stats poll of the page
	// shows a non-zero REQ/S for the route (for one poll: the next sees no new requests).
	q := protocol.RouteQueue("", "/dash")
	runner.tell(t, &protocol.Heartbeat{Type: protocol.TypeRunner,
		Routes: []protocol.RouteEntry{{Queue: q, Path: "/dash", SHA: sha}},
		Stats:  protocol.Stats{q: {Count: 40, TotalMS: 80}}})
	cells, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => {
		const tds = [...document.querySelectorAll('#routes tr[data-queue="`+q+`"] td')];
		return tds.length > 6 && parseFloat(tds[2].textContent) > 0 && tds.map((td) => td.textContent).join("|");
	})()`, chromedp.WithPollingMutation()))
	if err != nil {
		t.Fatalf("no non-zero REQ/S for */dash on the page after a heartbeat counting 40 requests: %v", err)
	}
	// ROUTE | BUNDLE | REQ/S | ERR/S | AVG MS | INFLIGHT | TOTAL | ERRORS | QUEUE
	if c := strings.Split(cells, "|"); len(c) < 8 || c[3] != "0.0" || c[4] != "2.0" || c[6] != "40" || c[7] != "0" {
		t.Errorf("the route's row = %q, want REQ/S > 0, ERR/S 0.0, AVG MS 2.0, TOTAL 40, ERRORS 0", cells)
	}

	screenshot(t, ctx, "dashboard.png")

	click("disable", row+` button[data-action="disable"]`)
	do("see it disabled", chromedp.WaitVisible(chromedp.CSS(row+` button[data-action="enable"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#events li[data-event="bundle.disabled"]`)))
	if state := text(row + " td.state"); state != "disabled" || tr.countEnabled() != 0 {
		t.Errorf("after disable from the page: state %q, %d enabled", state, tr.countEnabled())
	}
	testenv.WaitFor(t, 10*time.Second, "the page's event stream counted", func() bool {
		return metricValue(t, tr, "funcatron_tron_event_streams") >= 1
	})
}

// screenshot saves the whole page as name under artifactDir, for people to look at.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG, else JPEG
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	file := filepath.Join(artifactDir(t), name)
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", file)
}
