// Command packdir packs a directory into a Func Bundle zip with bundles.Pack
// (reproducibly) and checks the result with bundles.Open. It is the zip step
// of scripts/build-samples.sh:
//
//	packdir DIR OUT.zip
package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/funcatron/funcatron/bundles"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: packdir DIR OUT.zip")
		os.Exit(2)
	}
	if err := pack(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "packdir:", err)
		os.Exit(1)
	}
}

// pack writes dir to out, through a temporary file so out is never half written.
func pack(dir, out string) error {
	var buf bytes.Buffer
	if err := bundles.Pack(&buf, dir); err != nil {
		return err
	}
	b, err := bundles.Open(buf.Bytes(), bundles.Limits{})
	if err != nil {
		return fmt.Errorf("%s does not make a valid bundle: %w", dir, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".packdir-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", out, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return err
	}
	fmt.Printf("%s %s\n", b.SHA, out)
	return nil
}
