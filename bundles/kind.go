// Bundle kinds and the x-funcatron section that selects them.

package bundles

import "fmt"

// Kind is how a runner serves a bundle (spec/bundles.md §4-6).
type Kind string

const (
	KindExec    Kind = "exec"    // any program, over HTTP on a unix socket or as CGI
	KindGilmour Kind = "gilmour" // the runner is the bundle's Gilmour proxy
	KindZbus    Kind = "zbus"    // msgbusd commands over Redis
)

// funcatronKeys are the keys x-funcatron may hold.
var funcatronKeys = map[string]bool{"kind": true, "exec": true, "gilmour": true, "zbus": true}

// kindConfig is what x-funcatron says.
type kindConfig struct {
	kind    Kind
	section map[string]any // x-funcatron.<kind>, nil when absent
	exec    *ExecConfig    // for KindExec
	gilmour *GilmourConfig // for KindGilmour
	zbus    *ZbusConfig    // for KindZbus
}

// sectionReader reads x-funcatron. Before props are known (at Open) it is
// lenient: a value holding a ${props.NAME} placeholder that does not check
// yet is left at its default, to be checked again by WithProps.
type sectionReader struct {
	m       *manifest
	a       *archive
	lenient bool
}

// deferred reports whether the check of v waits for props.
func (r *sectionReader) deferred(v any) bool {
	return r.lenient && hasPlaceholder(v)
}

// read reads the x-funcatron section; nil means kind exec with defaults.
// Only the chosen kind's section is read.
func (r *sectionReader) read(raw any) (kindConfig, error) {
	kc := kindConfig{kind: KindExec}
	xf, ok := raw.(map[string]any)
	if raw != nil && !ok {
		return kc, r.m.errorf([]string{"x-funcatron"}, "x-funcatron is not a mapping")
	}
	for _, k := range sortedKeys(xf) {
		if !funcatronKeys[k] {
			return kc, r.m.errorf([]string{"x-funcatron", k}, "unknown key %q in x-funcatron (want kind, exec, gilmour or zbus)", k)
		}
	}
	if v := xf["kind"]; v != nil {
		s, _ := v.(string)
		if kc.kind = Kind(s); kc.kind != KindExec && kc.kind != KindGilmour && kc.kind != KindZbus {
			return kc, r.m.errorf([]string{"x-funcatron", "kind"}, "unknown kind %v (want exec, gilmour or zbus)", fmtValue(v))
		}
	}
	sec := xf[string(kc.kind)]
	if kc.section, ok = sec.(map[string]any); sec != nil && !ok {
		return kc, r.m.errorf([]string{"x-funcatron", string(kc.kind)}, "x-funcatron.%s is not a mapping", kc.kind)
	}
	var err error
	switch kc.kind {
	case KindExec:
		kc.exec, err = r.readExec(kc.section)
	case KindGilmour:
		kc.gilmour, err = r.readGilmour(kc.section)
	case KindZbus:
		kc.zbus, err = r.readZbus(kc.section)
	}
	return kc, err
}

// fmtValue quotes strings and prints other values plainly, for messages.
func fmtValue(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v)
}
