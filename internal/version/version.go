// Package version holds the build's version string, sent as `version` in every message.
// The Makefile sets it with -ldflags "-X github.com/funcatron/funcatron/internal/version.Version=...".
package version

// Version is the running build's version.
var Version = "0.1.0-dev"
