// Bundle output: what a bundle's processes write to stdout and stderr, cut into lines,
// bounded, and handed to the instance's kind.Output.

package exec

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/funcatron/funcatron/runner/kind"
)

// Bounds of one instance's output (all its processes and both streams together): lines
// longer than maxLineBytes are cut (Truncated); beyond lineRate lines a second (bursts of
// lineBurst) lines are dropped and counted (Dropped on the next line that passes, or at
// stop). Dropped output is still read, so a chatty bundle never blocks on a full pipe.
const (
	maxLineBytes = 4096
	lineRate     = 100
	lineBurst    = 500
)

// capture is the output of one instance.
type capture struct {
	sink       kind.Output
	sha, queue string

	mu      sync.Mutex
	tokens  float64
	last    time.Time
	dropped map[string]int // by stream, not yet reported
	now     func() time.Time
}

func newCapture(sink kind.Output, sha, queue string) *capture {
	return &capture{sink: sink, sha: sha, queue: queue, tokens: lineBurst, dropped: map[string]int{}, now: time.Now}
}

// line passes one line on, or counts it as dropped when over the rate.
func (c *capture) line(stream, text string, truncated bool) {
	c.mu.Lock()
	now := c.now()
	if !c.last.IsZero() {
		c.tokens = min(lineBurst, c.tokens+now.Sub(c.last).Seconds()*lineRate)
	}
	c.last = now
	if c.tokens < 1 {
		c.dropped[stream]++
		c.mu.Unlock()
		return
	}
	c.tokens--
	dropped := c.dropped[stream]
	delete(c.dropped, stream)
	c.mu.Unlock()
	c.sink.Line(kind.OutputLine{SHA: c.sha, Queue: c.queue, Stream: stream, Text: text, Truncated: truncated, Dropped: dropped})
}

// flush reports the drops not reported yet (the instance stops).
func (c *capture) flush() {
	c.mu.Lock()
	dropped := c.dropped
	c.dropped = map[string]int{}
	c.mu.Unlock()
	for stream, n := range dropped {
		c.sink.Line(kind.OutputLine{SHA: c.sha, Queue: c.queue, Stream: stream, Dropped: n})
	}
}

// lineWriter is the stdout or stderr of one process. The tail of the lines (stderr) is
// kept so that a process that dies during start-up can be described in the enable's ack.
type lineWriter struct {
	pw   *io.PipeWriter
	done chan struct{}
}

func (c *capture) writer(stream string, tail *tailBuffer) *lineWriter {
	pr, pw := io.Pipe()
	w := &lineWriter{pw: pw, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		readLines(pr, func(text string, truncated bool) {
			if tail != nil {
				tail.add(text)
			}
			c.line(stream, text, truncated)
		})
		_, _ = io.Copy(io.Discard, pr)
	}()
	return w
}

func (w *lineWriter) Write(p []byte) (int, error) { return w.pw.Write(p) }

// Close ends the stream and waits until every line is passed on.
func (w *lineWriter) Close() error {
	w.pw.Close()
	<-w.done
	return nil
}

// readLines calls fn with each line of r, without its newline; a line longer than
// maxLineBytes gives its first maxLineBytes (truncated) and the rest is skipped.
func readLines(r io.Reader, fn func(text string, truncated bool)) {
	br := bufio.NewReaderSize(r, maxLineBytes)
	skipping := false
	for {
		b, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			if !skipping {
				fn(string(b), true)
			}
			skipping = true
			continue
		case skipping:
			skipping = false
		case len(b) > 0:
			fn(strings.TrimRight(string(b), "\r\n"), false)
		}
		if err != nil {
			return
		}
	}
}
