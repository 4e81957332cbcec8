package execfile

import (
	"os"
	"syscall"
)

// Write opens a file with open, fills it with fill and closes it, with no fork in between
// (see the package doc). The file is closed whatever fill returns; the first error wins.
func Write(open func() (*os.File, error), fill func(*os.File) error) error {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	f, err := open()
	if err != nil {
		return err
	}
	err = fill(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
