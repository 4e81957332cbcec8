// The decoded size of a YAML manifest, aliases expanded, computed without expanding them.

package bundles

import "gopkg.in/yaml.v3"

// nodeOverhead is what manifestSize counts for each node besides its text: about
// the punctuation of its JSON form (quotes, a colon or comma), and what makes an
// empty value (`[]`, `~`) cost something, so that a million aliases of an empty
// node are not free.
const nodeOverhead = 4

// manifestSize is the decoded size of the document under n: the bytes of every
// scalar plus nodeOverhead per node, an alias counted as the size of what it
// names each time it appears. That is about the document's size as JSON, which
// is how the Tron keeps it. Each node is measured once (memoized), so a bomb of
// nested aliases costs its own size to measure, not its expansion. The count
// stops growing past limit; an alias that contains itself counts as over it.
func manifestSize(n *yaml.Node, limit int64) int64 {
	m := sizer{limit: limit, done: map[*yaml.Node]int64{}, open: map[*yaml.Node]bool{}}
	return m.size(n)
}

type sizer struct {
	limit int64
	done  map[*yaml.Node]int64
	open  map[*yaml.Node]bool // nodes being measured: met again, an alias cycle
}

func (m *sizer) size(n *yaml.Node) int64 {
	if n == nil {
		return 0
	}
	if s, ok := m.done[n]; ok {
		return s
	}
	if m.open[n] {
		return m.limit + 1
	}
	m.open[n] = true
	s := int64(nodeOverhead)
	if n.Kind == yaml.AliasNode {
		s += m.size(n.Alias)
	} else {
		s += int64(len(n.Value))
		for _, c := range n.Content {
			if s += m.size(c); s > m.limit {
				break
			}
		}
	}
	s = min(s, m.limit+1)
	delete(m.open, n)
	m.done[n] = s
	return s
}
