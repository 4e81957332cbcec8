// This file keeps the runners of `make run` up: a runner whose process dies is started
// again, and the user is told.

package stack

import (
	"fmt"
	"sync"
	"time"
)

// restartBackoff bounds how fast a runner that keeps dying is started again: the first
// restart waits restartMin, each one after it twice as long, at most restartMax.
const (
	restartMin = 500 * time.Millisecond
	restartMax = 30 * time.Second
)

// SuperviseRunners starts again each runner whose process ends, until stop is closed, and
// reports each exit and restart through say. Call the returned wait after closing stop and
// before Close (whose clean stops must not be restarted). Tests that kill runners on purpose
// do not supervise.
func (s *Stack) SuperviseRunners(stop <-chan struct{}, say func(string)) (wait func()) {
	var wg sync.WaitGroup
	for _, p := range s.Runners {
		wg.Go(func() { supervise(p, stop, say) })
	}
	return wg.Wait
}

func supervise(p *Proc, stop <-chan struct{}, say func(string)) {
	backoff := restartMin
	for {
		pid, started := p.PID(), time.Now()
		select {
		case <-stop:
			return
		case <-p.Exited():
		}
		if time.Since(started) > restartMax {
			backoff = restartMin // it ran a good while: not a crash loop
		}
		say(fmt.Sprintf("%s (pid %d) exited; starting it again in %s (log: %s)", p.Name, pid, backoff, p.LogPath))
		select {
		case <-stop:
			return
		case <-time.After(backoff):
		}
		p.reap()
		if err := p.Start(); err != nil {
			say(fmt.Sprintf("%s: %v", p.Name, err))
			return
		}
		say(fmt.Sprintf("%s started again (pid %d)", p.Name, p.PID()))
		backoff = min(2*backoff, restartMax)
	}
}
