package kdl

// Prop returns the node's last property with the given key (the one that
// wins under the KDL rules), and whether there is one.
func (n *Node) Prop(key string) (Prop, bool) {
	if n == nil {
		return Prop{}, false
	}
	for i := len(n.Props) - 1; i >= 0; i-- {
		if n.Props[i].Key == key {
			return n.Props[i], true
		}
	}
	return Prop{}, false
}

// Int64 returns an integer value as an int64, and false if the value is not
// an integer or does not fit in an int64.
func (v Value) Int64() (int64, bool) {
	if v.Kind != KindInt || v.Int == nil || !v.Int.IsInt64() {
		return 0, false
	}
	return v.Int.Int64(), true
}
