package execfile

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// copyTrue writes a copy of /bin/true to path, through Write or, for the control, not.
func copyTrue(path string, guarded bool) error {
	open := func() (*os.File, error) { return os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755) }
	fill := func(f *os.File) error {
		in, err := os.Open("/bin/true")
		if err != nil {
			return err
		}
		defer in.Close()
		_, err = io.Copy(f, in)
		return err
	}
	if guarded {
		return Write(open, fill)
	}
	f, err := open()
	if err != nil {
		return err
	}
	err = fill(f)
	f.Close()
	return err
}

// busyExecs writes and runs n fresh programs while other goroutines fork all the time, and
// counts the runs that failed with ETXTBSY.
func busyExecs(t *testing.T, n int, guarded bool) int {
	dir := t.TempDir()
	stop := make(chan struct{})
	var forks sync.WaitGroup
	for range 4 {
		forks.Add(1)
		go func() {
			defer forks.Done()
			for {
				select {
				case <-stop:
					return
				default:
					exec.Command("/bin/true").Run()
				}
			}
		}()
	}
	busy := 0
	for i := range n {
		p := filepath.Join(dir, "prog"+string(rune('a'+i%26))+string(rune('a'+i/26%26))+string(rune('a'+i/676)))
		if err := copyTrue(p, guarded); err != nil {
			t.Fatal(err)
		}
		if err := exec.Command(p).Run(); errors.Is(err, syscall.ETXTBSY) {
			busy++
		} else if err != nil {
			t.Fatalf("running %s: %v", p, err)
		}
	}
	close(stop)
	forks.Wait()
	return busy
}

// TestWriteLeavesNoDescriptorToAFork: programs written through Write always run, while the
// same writes without it fail with "text file busy" under the same forking (the control
// shows the test can fail).
func TestWriteLeavesNoDescriptorToAFork(t *testing.T) {
	if busy := busyExecs(t, 300, true); busy != 0 {
		t.Fatalf("%d of 300 programs written through Write were busy", busy)
	}
	t.Logf("control: %d of 300 programs written without Write were busy", busyExecs(t, 300, false))
}
