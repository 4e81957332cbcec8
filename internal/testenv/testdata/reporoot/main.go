// Command reporoot prints testenv.RepoRoot(), for the test that builds it with -trimpath.
package main

import (
	"fmt"

	"github.com/funcatron/funcatron/internal/testenv"
)

func main() { fmt.Print(testenv.RepoRoot()) }
