// Limits that keep a hostile bundle from exhausting disk, memory or CPU.

package bundles

// Defaults of Limits, from spec/bundles.md §2.
const (
	DefaultMaxEntries       = 10000
	DefaultMaxUnpackedBytes = 1 << 30 // 1 GiB
	DefaultMaxRatio         = 200     // 200:1
	// DefaultMaxManifestBytes: a Swagger document of real size is well under a megabyte.
	DefaultMaxManifestBytes = 1 << 20 // 1 MiB
)

// DefaultMaxBundleBytes bounds a bundle file itself, packed (spec/tron-api.md, add_func):
// the default of both daemons' --max-bundle-bytes, the largest upload the Tron takes and
// the largest download a runner makes. The daemons keep it outside Limits, before Open.
const DefaultMaxBundleBytes = 256 << 20 // 256 MiB

// Limits bound what Open accepts and what Unpack writes. A zero (or negative)
// field takes its default, so Limits{} is the spec's limits.
type Limits struct {
	// MaxEntries is the most entries (files, directories, links) an archive may
	// hold. Default 10 000.
	MaxEntries int
	// MaxUnpackedBytes is the most bytes all entries may unpack to, counted
	// as they are decompressed, not as the headers claim. Default 1 GiB; the
	// daemons set it from --max-unpacked-bytes.
	MaxUnpackedBytes int64
	// MaxRatio is the highest compression ratio (unpacked:packed) an entry may
	// have; higher is treated as a zip bomb. Default 200. An entry stored
	// without compression always passes.
	MaxRatio int
	// MaxManifestBytes is the most bytes the manifest may be, both as stored and decoded,
	// with every YAML alias counted as the bytes it expands to (see manifestSize): a few
	// hundred KB of aliases otherwise expand to gigabytes. Default 1 MiB; the Tron sets it
	// from --max-manifest-bytes.
	MaxManifestBytes int64
}

// withDefaults returns l with every zero field set to its default.
func (l Limits) withDefaults() Limits {
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultMaxEntries
	}
	if l.MaxUnpackedBytes <= 0 {
		l.MaxUnpackedBytes = DefaultMaxUnpackedBytes
	}
	if l.MaxRatio <= 0 {
		l.MaxRatio = DefaultMaxRatio
	}
	if l.MaxManifestBytes <= 0 {
		l.MaxManifestBytes = DefaultMaxManifestBytes
	}
	return l
}

// ratioCap is the most bytes an entry of packed size n may unpack to.
func (l Limits) ratioCap(n uint64) uint64 {
	r := uint64(l.MaxRatio)
	if n > ^uint64(0)/r {
		return ^uint64(0)
	}
	return n * r
}
