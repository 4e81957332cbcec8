// This file validates uploaded bundles with the bundles package.

package tron

import "github.com/funcatron/funcatron/bundles"

// inspector is the default Inspector: bundles.Open with the given limits. Its errors are
// *bundles.InvalidError, whose text names the problem without internals.
func inspector(lim bundles.Limits) Inspector {
	return func(data []byte) (*BundleInfo, error) {
		b, err := bundles.Open(data, lim)
		if err != nil {
			return nil, err
		}
		return &BundleInfo{
			Kind: string(b.Kind), Host: b.Host, BasePath: b.BasePath, Operations: b.Operations, Manifest: b.Manifest,
		}, nil
	}
}
