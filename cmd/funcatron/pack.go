package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/funcatron/funcatron/bundles"
)

// packDir zips a bundle directory reproducibly and checks the result with the same rules
// the Tron applies at upload, so a broken bundle is caught on the author's machine.
func packDir(dir, output string, out io.Writer) error {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("%s is not a directory: want the bundle's directory, the one holding funcatron.yaml", dir)
	}
	if output == "" {
		output = filepath.Base(filepath.Clean(dir)) + ".zip"
	}
	var buf bytes.Buffer
	if err := bundles.Pack(&buf, dir); err != nil {
		return fmt.Errorf("packing %s: %w", dir, err)
	}
	b, err := bundles.Open(buf.Bytes(), bundles.Limits{})
	if err != nil {
		return fmt.Errorf("%s is not a valid bundle: %w", dir, err)
	}
	if err := os.WriteFile(output, buf.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(out, "packed %s: sha %s, kind %s, route %s, %d operations\n",
		output, b.SHA, b.Kind, routeName(b.Host, b.BasePath), len(b.Operations))
	return nil
}
