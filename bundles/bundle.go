// A Func Bundle: opening and checking one, and filling its props.

package bundles

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"maps"
)

// Bundle is a checked Func Bundle. Open returns it; its fields and
// everything they point to are read-only and shared with the bundles
// WithProps returns.
type Bundle struct {
	// SHA is the bundle's id: the lowercase hex SHA-256 of the whole file.
	SHA string
	// Size is the file's size in bytes.
	Size int64
	// ManifestFile is the manifest's name: funcatron.yaml, .yml or .json.
	ManifestFile string
	// Manifest is the whole manifest as generic values (maps with string
	// keys, lists, strings, numbers, booleans, nil) that encoding/json can
	// encode: what the Tron reports as "swagger". Placeholders are unfilled.
	Manifest map[string]any
	// Kind selects the runtime; exec when x-funcatron does not say.
	Kind Kind
	// Host is the host the bundle serves, lower case; "" means any host.
	Host string
	// BasePath is where the bundle's paths start: "/" or e.g. "/hello",
	// without a trailing slash.
	BasePath string
	// Operations are the manifest's paths × methods, sorted by path, then
	// method.
	Operations []Operation
	// Section is x-funcatron.<Kind> (nil when absent), with props filled in
	// a bundle from WithProps.
	Section map[string]any
	// Exec is the exec settings when Kind is exec, else nil. In a bundle
	// straight from Open, a setting that holds a ${props.NAME} placeholder
	// and needs props to check keeps its default (strings keep the
	// placeholder); call WithProps, even with no props, before running it.
	Exec *ExecConfig
	// Gilmour is the gilmour settings when Kind is gilmour, else nil (placeholders as
	// for Exec).
	Gilmour *GilmourConfig
	// Zbus is the zbus settings when Kind is zbus, else nil (placeholders as
	// for Exec).
	Zbus *ZbusConfig

	arch   *archive
	man    *manifest
	router *Router
}

// Open reads and checks a bundle file against every rule of
// spec/bundles.md §2, with lim (zero fields take defaults). Every entry is
// decompressed once to check it. Any problem is an *InvalidError naming it.
// The Bundle keeps data to unpack from it: do not change data afterwards.
func Open(data []byte, lim Limits) (*Bundle, error) {
	a, err := readArchive(data, lim.withDefaults())
	if err != nil {
		return nil, err
	}
	m, err := a.readManifest()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	b := &Bundle{
		SHA: hex.EncodeToString(sum[:]), Size: int64(len(data)),
		ManifestFile: m.file, Manifest: m.doc, arch: a, man: m,
	}
	if b.Host, b.BasePath, err = m.route(); err != nil {
		return nil, err
	}
	if err := b.setOperations(); err != nil {
		return nil, err
	}
	if err := b.setKind(m.doc["x-funcatron"], true); err != nil {
		return nil, err
	}
	if err := b.addZbusEndpoints(); err != nil {
		return nil, err
	}
	if err := a.verify(); err != nil {
		return nil, err
	}
	return b, nil
}

// setOperations reads the operations and builds the router over them.
func (b *Bundle) setOperations() error {
	ops, err := b.man.operations()
	if err != nil {
		return err
	}
	b.Operations = make([]Operation, len(ops))
	for i, op := range ops {
		b.Operations[i] = op.Operation
	}
	b.router, err = newRouter(b.BasePath, b.Operations)
	var te *templateError
	if errors.As(err, &te) {
		return b.man.errorf([]string{"paths", te.path}, "%v", te)
	}
	return err
}

// setKind reads x-funcatron (raw, or with props filled) into b.
func (b *Bundle) setKind(raw any, lenient bool) error {
	r := &sectionReader{m: b.man, a: b.arch, lenient: lenient}
	kc, err := r.read(raw)
	if err != nil {
		return err
	}
	b.Kind, b.Section, b.Exec, b.Gilmour, b.Zbus = kc.kind, kc.section, kc.exec, kc.gilmour, kc.zbus
	return nil
}

// WithProps returns a copy of b with ${props.NAME} placeholders in its
// kind's section of x-funcatron filled from props (the "props" of an
// enable, decoded from JSON), and that section checked again in full. A
// missing prop or a filled value that does not check is an *InvalidError.
// Sections of other kinds are left alone, so their placeholders need no
// props. Props that fill no placeholder are fine: exec bundles get all
// props as FUNCATRON_PROPS anyway.
func (b *Bundle) WithProps(props map[string]any) (*Bundle, error) {
	raw, _ := b.man.doc["x-funcatron"].(map[string]any) // Open checked it is one, or absent
	xf := maps.Clone(raw)
	if sec, ok := xf[string(b.Kind)]; ok {
		s := &substituter{m: b.man, props: props}
		filled, err := s.value(sec, []string{"x-funcatron", string(b.Kind)})
		if err != nil {
			return nil, err
		}
		xf[string(b.Kind)] = filled
	}
	c := *b
	if err := c.setKind(xf, false); err != nil {
		return nil, err
	}
	return &c, nil
}

// Router returns the bundle's router, built once by Open.
func (b *Bundle) Router() *Router { return b.router }
