package awsssm

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestListable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		id     string
		name   string
		pinned int64
		ok     bool
	}{
		{id: "/a/b", name: "/a/b", ok: true},
		{id: " /a/b ", name: "/a/b", ok: true},
		{id: "/a/b:3", name: "/a/b", pinned: 3, ok: true},
		{id: "/a/b:prod", ok: false},
		{id: "/a/b:0", ok: false},
		{id: "/aws/reference/secretsmanager/x", ok: false},
		{id: "arn:aws:ssm:eu-west-1:123456789012:parameter/a", ok: false},
	} {
		name, pinned, ok := listable(tc.id)
		assert.Equal(t, tc.ok, ok, tc.id)
		if tc.ok {
			assert.Equal(t, tc.name, name, tc.id)
			assert.Equal(t, tc.pinned, pinned, tc.id)
		}
	}
}

func TestReadVersionCurrent(t *testing.T) {
	t.Parallel()
	assert.True(t, current(2, false, 2))
	assert.False(t, current(2, false, 3))
	assert.True(t, current(2, true, 3))
	assert.True(t, current(2, true, 101))
	assert.False(t, current(2, true, 102), "the 102nd version pushed out the 2nd")
	assert.False(t, current(5, true, 4), "a recreated parameter")
}

// FuzzNamePrefixes checks that the prefixes always cover every name and
// stay within the filter's limits.
func FuzzNamePrefixes(f *testing.F) {
	f.Add("/a/b\n/a/c\n/b", 2)
	f.Add("x", 1)
	f.Fuzz(func(t *testing.T, joined string, limit int) {
		if limit < 1 || limit > 60 || joined == "" {
			return
		}
		names := strings.Split(joined, "\n")
		got := namePrefixes(names, limit)
		if got == nil {
			return
		}
		if len(got) > limit {
			t.Fatalf("%d prefixes, limit %d", len(got), limit)
		}
		for _, n := range names {
			covered := false
			for _, p := range got {
				if p == "" || len(p) > maxFilterValueLen || filterSafe(p) != p {
					t.Fatalf("bad prefix %q", p)
				}
				covered = covered || strings.HasPrefix(n, p)
			}
			if !covered {
				t.Fatalf("%q not covered by %q", n, got)
			}
		}
	})
}
