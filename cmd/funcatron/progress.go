// This file draws the upload progress bar: plain ANSI-free text and a carriage return
// (the standard library is enough for one line that redraws itself).

package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

const (
	// progressMinBytes: smaller uploads take a moment, and a bar would only flicker.
	progressMinBytes = 4 << 20
	progressWidth    = 30
	progressEvery    = 100 * time.Millisecond
)

// progressReader counts what is read through it and redraws the bar on out.
type progressReader struct {
	r           io.Reader
	out         io.Writer
	label       string
	total, done int64
	drawn       time.Time
}

// withProgress wraps r in a progress bar on out when out is a terminal and the upload is
// big enough; else it returns r. The returned finish clears the bar's line.
func withProgress(r io.Reader, out io.Writer, label string, total int64) (io.Reader, func()) {
	if total < progressMinBytes || !isTerminal(out) {
		return r, func() {}
	}
	p := &progressReader{r: r, out: out, label: label, total: total}
	return p, p.clear
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if now := time.Now(); now.Sub(p.drawn) >= progressEvery || p.done == p.total {
		p.drawn = now
		fmt.Fprint(p.out, "\r"+p.bar())
	}
	return n, err
}

// bar is the progress line: "uploading f.zip [=====>    ]  45%  12.0 MiB / 27.0 MiB".
func (p *progressReader) bar() string {
	frac := float64(p.done) / float64(max(p.total, 1))
	filled := int(frac * progressWidth)
	bar := strings.Repeat("=", filled) + strings.Repeat(" ", progressWidth-filled)
	if filled < progressWidth {
		bar = bar[:filled] + ">" + bar[filled+1:]
	}
	return fmt.Sprintf("uploading %s [%s] %3.0f%%  %s / %s", p.label, bar, frac*100,
		formatBytes(p.done), formatBytes(p.total))
}

func (p *progressReader) clear() {
	fmt.Fprint(p.out, "\r"+strings.Repeat(" ", len(p.bar()))+"\r")
}

// isTerminal tells whether w is a terminal (a character device), not a file or a pipe.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
