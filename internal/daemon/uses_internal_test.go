package daemon

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"omsecrets/internal/reconcile"
)

// TestUsesKeepsChangesOnlyForRunningBatches: a change reported while a
// batch runs is seen by that batch (and not by one started after it), and
// nothing is kept once no batch that could ask runs.
func TestUsesKeepsChangesOnlyForRunningBatches(t *testing.T) {
	t.Parallel()
	u := newUses()
	x := reconcile.SecretID{Store: "env", ID: "x"}
	y := reconcile.SecretID{Store: "env", ID: "y"}

	assert.Empty(t, u.changed("env", []string{"x"}), "no batch, no index: nothing")
	_, _, recent := u.sizes()
	assert.Zero(t, recent, "nothing kept while no batch runs")

	first := u.begin()
	u.changed("env", []string{"x"})
	second := u.begin()
	assert.True(t, u.since(first, []reconcile.SecretID{x}))
	assert.False(t, u.since(first, []reconcile.SecretID{y}))
	assert.False(t, u.since(second, []reconcile.SecretID{x}), "reported before the second batch started")
	u.changed("env", []string{"y"})
	assert.True(t, u.since(second, []reconcile.SecretID{y}))

	u.end(first)
	_, _, recent = u.sizes()
	assert.Equal(t, 1, recent, "x is of no interest to the second batch any more")
	u.end(second)
	_, _, recent = u.sizes()
	assert.Zero(t, recent)

	u.set("a.json", []reconcile.SecretID{x, y})
	assert.Equal(t, []string{"a.json"}, u.changed("env", []string{"y"}))
	u.set("a.json", nil)
	defs, secrets, _ := u.sizes()
	assert.Zero(t, defs+secrets, "a forgotten definition leaves nothing indexed")
}
