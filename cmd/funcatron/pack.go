package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/funcatron/funcatron/bundles"
)

// packCmd zips a bundle directory reproducibly and checks the result with the same rules
// the Tron applies at upload, so a broken bundle is caught on the author's machine.
func packCmd(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("pack", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	output := fs.String("o", "", "")
	if len(args) == 0 {
		return fmt.Errorf("want a bundle directory: funcatron pack DIR [-o FILE]")
	}
	dir := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *output == "" {
		*output = filepath.Base(filepath.Clean(dir)) + ".zip"
	}
	var buf bytes.Buffer
	if err := bundles.Pack(&buf, dir); err != nil {
		return fmt.Errorf("packing %s: %w", dir, err)
	}
	b, err := bundles.Open(buf.Bytes(), bundles.Limits{})
	if err != nil {
		return fmt.Errorf("%s is not a valid bundle: %w", dir, err)
	}
	if err := os.WriteFile(*output, buf.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(out, "packed %s: sha %s, kind %s, route %s%s, %d operations\n",
		*output, b.SHA, b.Kind, b.Host, b.BasePath, len(b.Operations))
	return nil
}
