// Package awslist holds what the two AWS stores' change listings share:
// the choice of the name prefixes a listing is filtered by.
package awslist

import "slices"

// NamePrefixes returns at most limit name prefixes that together cover
// names (a name matches if it begins with any), as long as the names
// allow, or nil if one of them would be empty (list everything). It cuts
// the sorted names where neighbours share the least, so that "/team-a/..."
// and "/team-b/..." ids list two subtrees, not the account. safe cuts a
// prefix to what the service's filter accepts.
func NamePrefixes(names []string, limit int, safe func(string) string) []string {
	if len(names) == 0 || limit < 1 {
		return nil
	}
	names = slices.Clone(names)
	slices.Sort(names)
	// A cut before names[at] splits names that share shared bytes.
	type cut struct{ at, shared int }
	cuts := make([]cut, 0, len(names))
	for i := range len(names) - 1 {
		cuts = append(cuts, cut{at: i + 1, shared: commonPrefixLen(names[i], names[i+1])})
	}
	slices.SortStableFunc(cuts, func(a, b cut) int { return a.shared - b.shared })
	cuts = cuts[:min(len(cuts), limit-1)]
	slices.SortFunc(cuts, func(a, b cut) int { return a.at - b.at })
	var out []string
	start := 0
	for _, c := range append(cuts, cut{at: len(names)}) {
		group := names[start:c.at]
		start = c.at
		prefix := safe(group[0][:commonPrefixLen(group[0], group[len(group)-1])])
		if prefix == "" {
			return nil
		}
		out = append(out, prefix)
	}
	return out
}

// commonPrefixLen returns the length of the longest common prefix of a
// and b (of sorted names, the first and last share what all share).
func commonPrefixLen(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
