// Kind exec, cgi mode: one process per request as an RFC 3875 CGI/1.1 script.
//
// net/http/cgi.Handler is not used: it passes parts of the runner's environment on
// (LD_LIBRARY_PATH), cannot put the script in its own process group, and does not kill a
// script when the request's time runs out. The meta-variables and the response parsing
// follow RFC 3875 §4.1 and §6.

package exec

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/funcatron/funcatron/internal/protocol"
	"github.com/funcatron/funcatron/internal/version"
	"github.com/funcatron/funcatron/runner/kind"
)

// cgiInstance runs cfg.Command once per call, at most cfg.Concurrency at a time.
type cgiInstance struct {
	cfg    *execConfig
	log    *slog.Logger
	sem    chan struct{}
	sb     *sandbox
	env    []string // baseEnv, shared by every call
	maxOut int      // the most output a script may give (maxBodyBytes; less in tests)
}

func startCGI(cfg *execConfig, env execEnv) (*cgiInstance, error) {
	c := &cgiInstance{cfg: cfg, log: env.log, sem: make(chan struct{}, cfg.Concurrency), sb: env.sb, maxOut: maxBodyBytes}
	c.env = baseEnv(cfg, env.sb)
	return c, nil
}

func (c *cgiInstance) Concurrency() int       { return c.cfg.Concurrency }
func (c *cgiInstance) Timeout() time.Duration { return c.cfg.Timeout }

// Health is always ok: a script is started per call, so there is nothing to be down.
func (c *cgiInstance) Health() kind.Health { return kind.HealthOK }

// Stop kills whatever the scripts left (by uid) and removes the sandbox. Calls in flight
// have finished (the core waits for them).
func (c *cgiInstance) Stop(context.Context) error { return c.sb.close() }

// serve runs the script for one call: 504 and the process group killed when it runs past
// the timeout, 502 when its output is not a CGI response or is over the limit (never a
// truncated 200).
func (c *cgiInstance) Serve(ctx context.Context, cl *kind.Call, out *protocol.AnswerBody) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		kind.GatewayTimeout(out)
		return
	}
	defer func() { <-c.sem }()

	cmd := c.sb.command(c.cfg, append(cgiVars(cl), c.env...))
	var stdout bytes.Buffer
	stderr := c.sb.out.writer("stderr", nil)
	defer stderr.Close()
	limited := &limitedBuffer{buf: &stdout, max: c.maxOut, over: func() { killGroup(cmd) }}
	cmd.Stdin = bytes.NewReader(cl.Svc.Body)
	cmd.Stdout = limited
	cmd.Stderr = stderr
	if err := spawn(cmd); err != nil {
		c.log.Warn("starting CGI script", "err", err)
		kind.BadGateway(out, "the function could not be started")
		return
	}
	waited := make(chan error, 1)
	go func() { waited <- await(cmd) }()
	var err error
	select {
	case err = <-waited:
	case <-ctx.Done():
		killGroup(cmd)
		<-waited
		c.log.Warn("CGI script timed out", "op", cl.Op, "timeout", c.cfg.Timeout)
		kind.GatewayTimeout(out)
		return
	}
	killGroup(cmd) // children it left in its group; those that left it die as orphans
	if limited.exceeded {
		c.log.Warn("CGI script output over the limit", "op", cl.Op, "limit", c.maxOut)
		kind.BadGateway(out, "the function's output is over the limit")
		return
	}
	if perr := parseCGIResponse(stdout.Bytes(), out); perr != nil {
		c.log.Warn("CGI script gave no valid response", "op", cl.Op, "exit", err, "err", perr)
		kind.BadGateway(out, "the function gave no valid response")
	}
}

// cgiVars are the RFC 3875 §4.1 meta-variables of a call, plus one HTTP_* variable per
// request header and the X-Request-Id, X-Funcatron-Operation and X-Forwarded-* headers
// an http-mode bundle gets.
func cgiVars(cl *kind.Call) []string {
	svc := cl.Svc
	script := cl.BasePath
	if script == "/" {
		script = ""
	}
	f := forwardedOf(cl)
	proto := svc.ServerProtocol
	if proto == "" {
		proto = "HTTP/1.1"
	}
	env := []string{
		"GATEWAY_INTERFACE=CGI/1.1",
		"SERVER_SOFTWARE=funcatron-runner/" + version.Version,
		"REQUEST_METHOD=" + cl.Method(),
		"SCRIPT_NAME=" + script,
		"PATH_INFO=" + cl.Path,
		"QUERY_STRING=" + svc.Args,
		"REQUEST_URI=" + cl.Target(),
		"SERVER_NAME=" + hostOnly(f.Host),
		"SERVER_PORT=" + svc.ServerPort,
		"SERVER_PROTOCOL=" + proto,
		"REMOTE_ADDR=" + svc.RemoteAddr,
		"REMOTE_HOST=" + svc.RemoteAddr,
		"REMOTE_PORT=" + svc.RemotePort,
		"HTTP_HOST=" + f.Host,
		"HTTP_X_FUNCATRON_OPERATION=" + f.Operation,
		"HTTP_X_REQUEST_ID=" + f.RequestID,
		"HTTP_X_FORWARDED_HOST=" + f.Host,
	}
	if svc.RemoteUser != "" {
		env = append(env, "REMOTE_USER="+svc.RemoteUser)
	}
	if f.Proto != "" {
		env = append(env, "HTTP_X_FORWARDED_PROTO="+f.Proto)
		if f.Proto == "https" {
			env = append(env, "HTTPS=on")
		}
	}
	if len(svc.Body) > 0 || svc.Method == "POST" || svc.Method == "PUT" || svc.Method == "PATCH" {
		env = append(env, "CONTENT_LENGTH="+strconv.Itoa(len(svc.Body)))
	}
	if ct := svc.ContentType; ct != "" {
		env = append(env, "CONTENT_TYPE="+ct)
	} else if ct := svc.Headers.Get("content-type"); ct != "" {
		env = append(env, "CONTENT_TYPE="+ct)
	}
	if f.For != "" {
		env = append(env, "HTTP_X_FORWARDED_FOR="+f.For)
	}
	eachClientHeader(cl, cgiSkip, func(name string, values []string) {
		env = append(env, "HTTP_"+cgiName(name)+"="+joinValues(name, values))
	})
	return env
}

// cgiSkip are client headers a CGI script does not get as HTTP_* variables: the content
// ones are CONTENT_TYPE and CONTENT_LENGTH, and Proxy would become HTTP_PROXY, which
// many HTTP clients read as their proxy (httpoxy).
var cgiSkip = map[string]bool{"content-type": true, "content-length": true, "proxy": true}

// cgiName turns a header name into its meta-variable suffix: upper case, - becomes _.
func cgiName(h string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '-':
			return '_'
		case 'a' <= r && r <= 'z':
			return r - 'a' + 'A'
		}
		return r
	}, h)
}

func hostOnly(host string) string {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		return host[:i]
	}
	return host
}

// parseCGIResponse reads a CGI response (RFC 3875 §6): header lines, a blank line, the
// body. Status gives the status (default 200, or 302 with a Location); at least one of
// Content-Type, Location or Status must be present.
func parseCGIResponse(b []byte, out *protocol.AnswerBody) error {
	if len(b) == 0 {
		return errors.New("empty output")
	}
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(b)))
	out.Status = 200
	out.Headers = out.Headers[:0]
	seen := false
	for {
		line, err := r.ReadLine()
		if err != nil {
			return errors.New("output ends inside the headers")
		}
		if line == "" {
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return fmt.Errorf("bad header line %.40q", line)
		}
		value = strings.TrimSpace(value)
		canon := textproto.CanonicalMIMEHeaderKey(name)
		switch canon {
		case "Status":
			code, err := strconv.Atoi(strings.SplitN(value, " ", 2)[0])
			if err != nil || code < 100 || code > 999 {
				return fmt.Errorf("bad status %.40q", value)
			}
			out.Status = code
			seen = true
			continue
		case "Location":
			if out.Status == 200 {
				out.Status = 302
			}
			seen = true
		case "Content-Type":
			seen = true
		}
		if isHopByHop(canon) {
			continue
		}
		out.Headers = append(out.Headers, [2]string{canon, value})
	}
	if !seen {
		return errors.New("no Content-Type, Location or Status header")
	}
	body, _ := io.ReadAll(r.R)
	out.Body = body
	return nil
}

// limitedBuffer is a buffer that refuses to grow past max (a runaway script): the first
// write over it sets exceeded and calls over (which kills the script).
type limitedBuffer struct {
	buf      *bytes.Buffer
	max      int
	over     func()
	exceeded bool // read after the writes ended (Wait returned)
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if l.buf.Len()+len(p) > l.max {
		if !l.exceeded && l.over != nil {
			l.over()
		}
		l.exceeded = true
		return 0, errors.New("output too large")
	}
	return l.buf.Write(p)
}
