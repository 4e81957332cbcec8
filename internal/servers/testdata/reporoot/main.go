// Command reporoot prints servers.RepoRoot(), for the test that builds it with -trimpath.
package main

import (
	"fmt"

	"github.com/funcatron/funcatron/internal/servers"
)

func main() { fmt.Print(servers.RepoRoot()) }
