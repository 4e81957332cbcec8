// Package execfile writes files that a process of this runner may execute soon after.
//
// A file open for writing cannot be executed (ETXTBSY). Go opens files close-on-exec, but a
// child forked by another goroutine while the file is open holds a copy of the descriptor
// until its own exec, so the runner's exec of a freshly unpacked bundle program failed now and
// then with "text file busy" while several bundles were enabled at once (make bench saw it
// with four enables in parallel). Write holds syscall.ForkLock for reading from the open to
// the close, which is what ForkLock is for: no fork happens while the descriptor exists, so no
// child inherits it. Forks wait for the write of one file, never longer.
package execfile
